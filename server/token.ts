// Bearer token for state-changing calls: from the option, else $PARALLAX_TOKEN, else <dataDir>/token
// (created on first start with 32 random bytes, mode 0600). Also the constant-time check.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type TokenSource = 'option' | 'env' | 'file' | 'generated';

export interface ResolvedToken {
  token: string;
  source: TokenSource;
  /** The token file, when the token lives in one. */
  file: string | null;
}

const MIN_TOKEN_CHARS = 16;

function checkToken(token: string, where: string): string {
  const t = token.trim();
  if (t.length < MIN_TOKEN_CHARS || /\s/.test(t)) {
    throw new Error(`${where}: token must be at least ${MIN_TOKEN_CHARS} characters without whitespace (got ${t.length} characters)`);
  }
  return t;
}

export async function resolveToken(dataDir: string, option?: string, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedToken> {
  if (option !== undefined) return { token: checkToken(option, 'token option'), source: 'option', file: null };
  if (env.PARALLAX_TOKEN) return { token: checkToken(env.PARALLAX_TOKEN, 'PARALLAX_TOKEN'), source: 'env', file: null };
  const file = join(dataDir, 'token');
  try {
    const text = await readFile(file, 'utf8');
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) await chmod(file, 0o600); // tighten a file someone loosened
    return { token: checkToken(text, file), source: 'file', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return { token, source: 'generated', file };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Checks an Authorization header value against the token in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]), digest(token));
}
