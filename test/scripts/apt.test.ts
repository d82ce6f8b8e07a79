// scripts/apt.mjs against a fake apt-get: every call carries DPkg::Lock::Timeout, a call that fails on apt's lock is
// retried (and the wait is announced) until the deadline, other failures return at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type AptGet = (argv: string[], opts: Record<string, unknown>) => Promise<number>;
let aptGet: AptGet;
let aptGetArgs: (argv: string[], t: number) => string[];
let dir: string;

const LOCK_LINE = 'E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)';

/** A fake apt-get that logs its arguments, fails on the lock for its first `lockedCalls` calls, then does `then`. */
function fakeAptGet(name: string, lockedCalls: number, then: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh
echo "$*" >> "${p}.calls"
n=$(wc -l < "${p}.calls")
if [ "$n" -le ${lockedCalls} ]; then echo "${LOCK_LINE}" >&2; echo "E: Unable to lock directory /var/lib/apt/lists/" >&2; exit 100; fi
${then}
`);
  chmodSync(p, 0o755);
  return p;
}
/** Swallows apt-get's stderr (the tests read the calls log instead). */
const sink = { write: () => true };
const calls = (p: string) => readFileSync(`${p}.calls`, 'utf8').trim().split('\n');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-apt-'));
  const mod = await import(pathToFileURL(resolve(__dirname, '../../scripts/apt.mjs')).href);
  aptGet = mod.aptGet;
  aptGetArgs = mod.aptGetArgs;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('apt-get lock handling', () => {
  it('puts DPkg::Lock::Timeout in front of the arguments', () => {
    expect(aptGetArgs(['install', '-y', 'ffmpeg'], 120)).toEqual(['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', 'ffmpeg']);
  });

  it('waits while the lock is held, says so once, then succeeds', async () => {
    const fake = fakeAptGet('locked-twice', 2, 'exit 0');
    const logs: string[] = [];
    const status = await aptGet(['update', '-q'], { command: fake, timeoutS: 30, retryMs: 10, quiet: true, stderr: sink, log: (m: string) => logs.push(m) });
    expect(status).toBe(0);
    expect(calls(fake)).toEqual(Array(3).fill('-o DPkg::Lock::Timeout=30 update -q'));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/holds apt's lock \(Could not get lock \/var\/lib\/apt\/lists\/lock.*\); waiting up to 30 s/);
  });

  it("announces apt's own wait (Waiting for cache lock on stdout) even in quiet mode", async () => {
    const fake = fakeAptGet('apt-waits', 0, 'echo "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt)"; exit 0');
    const logs: string[] = [];
    expect(await aptGet(['install', '-y', 'x'], { command: fake, timeoutS: 5, retryMs: 10, quiet: true, stderr: sink, log: (m: string) => logs.push(m) })).toBe(0);
    expect(calls(fake)).toHaveLength(1);
    expect(logs.join('\n')).toMatch(/lock-frontend.*waiting up to 5 s/);
  });

  it('gives up at the deadline with the lock error status and a hint', async () => {
    const fake = fakeAptGet('always-locked', 1_000_000, 'exit 0');
    const logs: string[] = [];
    expect(await aptGet(['update'], { command: fake, timeoutS: 0, retryMs: 10, quiet: true, stderr: sink, log: (m: string) => logs.push(m) })).toBe(100);
    expect(logs.at(-1)).toMatch(/still held after 0 s/);
  });

  it('returns other failures at once, without retrying or talking about locks', async () => {
    const fake = fakeAptGet('broken', 0, 'echo "E: Unable to locate package nope" >&2; exit 100');
    const logs: string[] = [];
    expect(await aptGet(['install', 'nope'], { command: fake, timeoutS: 30, retryMs: 10, quiet: true, stderr: sink, log: (m: string) => logs.push(m) })).toBe(100);
    expect(calls(fake)).toHaveLength(1);
    expect(logs).toEqual([]);
  });

  it('setup.mjs runs apt-get only through aptGet', () => {
    const src = readFileSync(resolve(__dirname, '../../scripts/setup.mjs'), 'utf8');
    expect(src).toMatch(/import \{ aptGet \} from '\.\/apt\.mjs'/);
    expect(src).not.toMatch(/spawnSync\(\s*['"]apt-get/);
    expect(src).not.toMatch(/run\(\s*['"]apt-get/);
  });
});
