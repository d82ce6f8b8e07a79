import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../../engine/distributed/launch.ts', import.meta.url));
const script = fileURLToPath(new URL('./launch-exit.mjs', import.meta.url));

describe('launch.ts CLI', () => {
  it('starts N ranks with torchrun env and exits 0 when all succeed', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, '--nproc-per-node', '3', '--transport', 'tcp', script, 'ok'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(3);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^rank ${i} of 3 at 127\\.0\\.0\\.1:\\d+ local ${i} ok$`)));
  });

  it("propagates the first failing rank's exit code and stops the others", () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, '--nproc-per-node', '3', '--grace-ms', '300', script, 'fail'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/rank 1 failed \(exit code 5\)/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
