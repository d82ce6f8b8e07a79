// Token resolution order (option, env, file, generated 0600) and constant-time bearer checks.
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bearerMatches, resolveToken } from '../../server/token.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'token-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveToken', () => {
  it('generates a 0600 file once and reads it back', async () => {
    const a = await resolveToken(dir, undefined, {});
    expect(a.source).toBe('generated');
    expect(a.token.length).toBeGreaterThanOrEqual(40);
    expect((await stat(join(dir, 'token'))).mode & 0o777).toBe(0o600);
    const b = await resolveToken(dir, undefined, {});
    expect(b).toEqual({ token: a.token, source: 'file', file: join(dir, 'token') });
  });
  it('prefers the option, then PARALLAX_TOKEN', async () => {
    expect((await resolveToken(dir, 'option-token-123456', { PARALLAX_TOKEN: 'env-token-1234567890' })).source).toBe('option');
    const e = await resolveToken(dir, undefined, { PARALLAX_TOKEN: 'env-token-1234567890' });
    expect(e).toEqual({ token: 'env-token-1234567890', source: 'env', file: null });
  });
  it('rejects short tokens and tightens a loose token file', async () => {
    await expect(resolveToken(dir, 'short', {})).rejects.toThrow(/at least 16/);
    await writeFile(join(dir, 'token'), 'file-token-abcdefghijkl\n');
    await chmod(join(dir, 'token'), 0o644);
    const r = await resolveToken(dir, undefined, {});
    expect(r.token).toBe('file-token-abcdefghijkl');
    expect((await stat(join(dir, 'token'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'token'), 'utf8')).toContain(r.token);
  });
});

describe('bearerMatches', () => {
  it.each([
    ['Bearer abcdefghijklmnop', true],
    ['bearer abcdefghijklmnop', true],
    ['Bearer abcdefghijklmnoq', false],
    ['Bearer abcdefghijklmno', false],
    ['abcdefghijklmnop', false],
    ['Basic abcdefghijklmnop', false],
    ['Bearer abcdefghijklmnop extra', false],
    [undefined, false],
  ])('%s -> %s', (h, ok) => {
    expect(bearerMatches(h, 'abcdefghijklmnop')).toBe(ok);
  });
});
