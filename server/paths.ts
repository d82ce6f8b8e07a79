// Path safety helpers: job-id validation and resolution of stored relative paths strictly under a root.
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

const JOB_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Job ids are lowercase v4 UUIDs; anything else is rejected before touching the DB or the disk. */
export function isJobId(s: string): boolean {
  return JOB_ID_RE.test(s);
}

/** True when `child` (absolute, normalised) is `root` itself or inside it. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/** Resolves `p` (relative to `root`, or absolute) and returns it only if it stays under `root`. */
export function resolveUnder(root: string, p: string): string | null {
  if (p.includes('\0')) return null;
  const abs = resolve(root, p);
  return isInside(resolve(root), abs) ? abs : null;
}

/** Like resolveUnder, but also follows symlinks on disk; null if missing or escaping. */
export async function realpathUnder(root: string, p: string): Promise<string | null> {
  const abs = resolveUnder(root, p);
  if (!abs) return null;
  try {
    const [realRoot, real] = await Promise.all([realpath(root), realpath(abs)]);
    return isInside(realRoot, real) ? real : null;
  } catch {
    return null;
  }
}

/**
 * Resolves `p` under a checkpoint folder, following symlinks. Besides the folder itself, a Hugging Face cache
 * snapshot (`…/models--org--name/snapshots/<revision>/`, every file a link to `../../blobs/<hash>`) may resolve into
 * that repository's `blobs/` folder, and nowhere else. Null if missing or escaping.
 */
export async function realpathUnderModel(modelDir: string, p: string): Promise<string | null> {
  const abs = resolveUnder(modelDir, p);
  if (!abs) return null;
  try {
    const [realRoot, real] = await Promise.all([realpath(modelDir), realpath(abs)]);
    if (isInside(realRoot, real)) return real;
    const repo = dirname(dirname(realRoot));
    const isSnapshot = basename(dirname(realRoot)) === 'snapshots' && basename(repo).startsWith('models--');
    return isSnapshot && isInside(join(repo, 'blobs'), real) ? real : null;
  } catch {
    return null;
  }
}
