// Node.js file access for checkpoints: a ByteSource over a FileHandle (positioned reads only)
// and a FileStore over a local folder.
import { open, readFile, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSource } from './byte-source.js';
import type { FileStore } from './file-store.js';

export class NodeFileSource implements ByteSource {
  private handle: FileHandle | null = null;
  private fileSize = -1;
  constructor(readonly name: string) {}

  private async fh(): Promise<FileHandle> {
    if (!this.handle) {
      this.handle = await open(this.name, 'r');
      this.fileSize = (await this.handle.stat()).size;
    }
    return this.handle;
  }
  async size(): Promise<number> {
    await this.fh();
    return this.fileSize;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const fh = await this.fh();
    if (offset < 0 || length < 0 || offset + length > this.fileSize) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${this.fileSize} bytes): file truncated?`);
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
    const h = this.handle;
    this.handle = null;
    await h?.close();
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
