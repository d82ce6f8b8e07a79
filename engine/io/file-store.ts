// Read-only view of a checkpoint folder (relative paths with '/'), so checkpoint code runs on a local
// directory in Node (node-files.ts) or on a URL prefix in the browser (HttpFileStore).
import { HttpByteSource, type ByteSource } from './byte-source.js';

export interface FileStore {
  /** Folder path or base URL, used in messages. */
  readonly root: string;
  exists(rel: string): Promise<boolean>;
  readText(rel: string): Promise<string>;
  open(rel: string): Promise<ByteSource>;
  /** File names directly inside a sub-folder, when the store can list (HTTP cannot). */
  list?(relDir: string): Promise<string[]>;
}

export function joinRel(...parts: string[]): string {
  return parts.filter((p) => p !== '' && p !== '.').join('/');
}

/** A checkpoint folder served over HTTP (static server with Range support). */
export class HttpFileStore implements FileStore {
  readonly root: string;
  constructor(baseUrl: string, private readonly fetchFn: typeof fetch = globalThis.fetch.bind(globalThis)) {
    this.root = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  }
  private url(rel: string): string {
    return this.root + rel;
  }
  async exists(rel: string): Promise<boolean> {
    const res = await this.fetchFn(this.url(rel), { method: 'HEAD' });
    return res.ok;
  }
  async readText(rel: string): Promise<string> {
    const res = await this.fetchFn(this.url(rel));
    if (!res.ok) throw new Error(`${this.url(rel)}: HTTP ${res.status}`);
    return res.text();
  }
  async open(rel: string): Promise<ByteSource> {
    return new HttpByteSource(this.url(rel), this.fetchFn);
  }
}
