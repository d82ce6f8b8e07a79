// SHA-256 fingerprints of files and folders for the training caches and --resume checks (Node only). Files up to
// 256 MiB are hashed whole; larger ones by size, the first and the last 4 MiB (a multi-GB text encoder is
// identified, not verified). A folder's fingerprint covers every file under it (sorted relative paths).

import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

const WHOLE = 256 * 2 ** 20;
const SAMPLE = 4 * 2 ** 20;

async function feed(h: ReturnType<typeof createHash>, path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    h.update(`${size}\n`);
    const ranges: [number, number][] = size <= WHOLE ? [[0, size]] : [[0, SAMPLE], [size - SAMPLE, SAMPLE]];
    const buf = Buffer.alloc(Math.min(size, 8 * 2 ** 20) || 1);
    for (const [start, len] of ranges) {
      let done = 0;
      while (done < len) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, len - done), start + done);
        if (!bytesRead) break;
        h.update(buf.subarray(0, bytesRead));
        done += bytesRead;
      }
    }
  } finally {
    await fh.close();
  }
}

/** Hex SHA-256 of one file (see the header for large files). */
export async function fileFingerprint(path: string): Promise<string> {
  const h = createHash('sha256');
  await feed(h, path);
  return h.digest('hex');
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Hex SHA-256 over every file of the given folders (or files) under `root`: relative path, then contents. */
export async function treeFingerprint(root: string, entries: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const e of entries) {
    const p = join(root, e);
    const st = await stat(p).catch(() => null);
    if (!st) {
      h.update(`${e}: absent\n`);
      continue;
    }
    const files = st.isDirectory() ? (await listFiles(p)).sort() : [p];
    for (const f of files) {
      h.update(`${relative(root, f)}\n`);
      await feed(h, f);
    }
  }
  return h.digest('hex');
}

/** Hex SHA-256 of a string. */
export function textFingerprint(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
