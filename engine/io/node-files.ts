// Node.js file access for checkpoints: a ByteSource over a FileHandle (positioned reads only)
// and a FileStore over a local folder.
import { open, readFile, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSource } from './byte-source.js';
import type { FileStore } from './file-store.js';

/**
 * A file opened on first use. Concurrent first reads share one open (no second handle left behind), and close()
 * closes the handle even when it is called while the open is still in flight; a later read opens the file again.
 */
export class NodeFileSource implements ByteSource {
  private opening: Promise<{ fh: FileHandle; size: number }> | null = null;
  constructor(readonly name: string) {}

  private file(): Promise<{ fh: FileHandle; size: number }> {
    if (!this.opening) {
      const p = (async () => {
        const fh = await open(this.name, 'r');
        try {
          return { fh, size: (await fh.stat()).size };
        } catch (e) {
          await fh.close();
          throw e;
        }
      })();
      this.opening = p;
      p.catch(() => {
        if (this.opening === p) this.opening = null;
      });
    }
    return this.opening;
  }
  async size(): Promise<number> {
    return (await this.file()).size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const { fh, size } = await this.file();
    if (offset < 0 || length < 0 || offset + length > size) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${size} bytes): file truncated?`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`${this.name}: unexpected end of file at byte ${offset + done}`);
      done += bytesRead;
    }
    return out;
  }
  async close(): Promise<void> {
    const p = this.opening;
    this.opening = null;
    const f = await p?.catch(() => null);
    await f?.fh.close();
  }
}

export class NodeFileStore implements FileStore {
  constructor(readonly root: string) {}
  async exists(rel: string): Promise<boolean> {
    try {
      await stat(join(this.root, rel));
      return true;
    } catch {
      return false;
    }
  }
  async readText(rel: string): Promise<string> {
    return readFile(join(this.root, rel), 'utf8');
  }
  async open(rel: string): Promise<ByteSource> {
    return new NodeFileSource(join(this.root, rel));
  }
  async list(relDir: string): Promise<string[]> {
    try {
      return (await readdir(join(this.root, relDir))).sort();
    } catch {
      return [];
    }
  }
}
