// Dev entry: `node --import tsx server/main.ts --data-dir DIR [--port N] [--fake-ms-per-step N]` starts the
// server with FakeGenerator and prints URL and token. `parallax serve` will do the same with the real engine.
import { parseArgs } from 'node:util';
import { FakeGenerator } from './fake-generator.js';
import { startServer } from './index.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    groups: { type: 'string', default: '1' },
    'fake-ms-per-step': { type: 'string', default: '50' },
    static: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
if (!values['data-dir']) {
  console.error('usage: server/main.ts --data-dir DIR [--port 8080] [--groups 1] [--fake-ms-per-step 50] [--static client/dist]');
  process.exit(2);
}
const groups = Number(values.groups);
const server = await startServer({
  dataDir: values['data-dir'],
  port: Number(values.port),
  host: values.host,
  staticDir: values.static,
  generators: Array.from({ length: groups }, () => new FakeGenerator({ msPerStep: Number(values['fake-ms-per-step']) })),
  logLevel: values.quiet ? 'silent' : 'info',
});
console.log(JSON.stringify({ url: server.url, token: server.token, tokenSource: server.tokenSource, tokenFile: server.tokenFile }));
const stop = () => void server.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
