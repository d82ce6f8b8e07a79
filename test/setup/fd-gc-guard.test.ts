// The fd-gc-guard setup file must fail a run that leaks a file handle (and only then): runs vitest with the suite's
// config on a fixture that leaks or closes its handle.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

function runFixture(leak: boolean) {
  const r = spawnSync(process.execPath, [resolve(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/fixtures/fd-leak.vitest.config.ts'], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, FD_LEAK: leak ? '1' : '0', NO_COLOR: '1' }, timeout: 120_000,
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('fd-gc-guard', () => {
  it('fails the run when a file handle is left to the garbage collector', () => {
    const r = runFixture(true);
    expect(r.out).toMatch(/a file handle was left to the garbage collector/);
    expect(r.out).toMatch(/Closing file descriptor \d+ on garbage collection/);
    expect(r.status).not.toBe(0);
  });

  it('passes the same run when the handle is closed', () => {
    const r = runFixture(false);
    expect(r.out).not.toMatch(/garbage collect/);
    expect(r.status).toBe(0);
  });
});
