// serve(): the start banner prints the URL and token source, and recovery counts when there are any.
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FakeGenerator } from '../../server/fake-generator.js';
import { serve } from '../../server/serve.js';
import { makeDataDir } from './helpers.js';

describe('serve', () => {
  it('prints URL and token, answers health', async () => {
    const dataDir = await makeDataDir();
    const lines: string[] = [];
    const s = await serve({ dataDir, port: 0, generators: [new FakeGenerator(), new FakeGenerator()], logLevel: 'silent', print: (l) => lines.push(l), handleSignals: false });
    try {
      expect(lines[0]).toBe(`Parallax server listening on ${s.url} (2 GPU groups)`);
      expect(lines[1]).toContain(s.token);
      expect(lines[1]).toContain(`${dataDir}/token`);
      const h = await (await fetch(`${s.url}/api/health`)).json();
      expect(h.groups).toBe(2);
    } finally {
      await s.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
