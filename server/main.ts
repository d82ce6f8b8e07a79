// Dev entry: `node --import tsx server/main.ts --data-dir DIR [--port N] [--fake-ms-per-step N]` serves the
// API with FakeGenerator (no GPU) and prints URL and token. `parallax serve` does the same with the engine.
import { parseArgs } from 'node:util';
import { FakeGenerator } from './fake-generator.js';
import { serve } from './serve.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    groups: { type: 'string', default: '1' },
    'fake-ms-per-step': { type: 'string', default: '50' },
    static: { type: 'string' },
    cors: { type: 'string', multiple: true },
    'allowed-hosts': { type: 'string', multiple: true },
    quiet: { type: 'boolean', default: false },
  },
});
if (!values['data-dir']) {
  console.error('usage: server/main.ts --data-dir DIR [--port 8080] [--groups 1] [--fake-ms-per-step 50] [--static client/dist] [--cors ORIGIN]... [--allowed-hosts NAME]...');
  process.exit(2);
}
const server = await serve({
  dataDir: values['data-dir'],
  port: Number(values.port),
  host: values.host,
  staticDir: values.static,
  corsOrigins: values.cors,
  allowedHosts: values['allowed-hosts'],
  generators: Array.from({ length: Number(values.groups) }, () => new FakeGenerator({ msPerStep: Number(values['fake-ms-per-step']) })),
  logLevel: values.quiet ? 'silent' : 'info',
  print: values.quiet ? () => {} : undefined,
});
// Machine-readable line for scripts and tests.
console.log(JSON.stringify({ url: server.url, token: server.token, tokenSource: server.tokenSource, tokenFile: server.tokenFile }));
