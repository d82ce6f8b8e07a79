// Random-access byte sources for checkpoint files: the interface the safetensors reader uses,
// an in-memory source, and an HTTP range-request source for the browser (Node files: node-files.ts).

export interface ByteSource {
  /** Total size in bytes. */
  size(): Promise<number>;
  /** Exactly `length` bytes starting at `offset` (throws when the range is outside the source). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: release OS resources. */
  close?(): Promise<void>;
  /** Human-readable origin used in error messages (path or URL). */
  readonly name: string;
}

export class MemoryByteSource implements ByteSource {
  constructor(private readonly bytes: Uint8Array, readonly name = '<memory>') {}
  async size(): Promise<number> {
    return this.bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.bytes.byteLength) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${this.bytes.byteLength} bytes)`);
    }
    return this.bytes.slice(offset, offset + length);
  }
}

/** Reads a URL with HTTP Range requests (the server must support `Range` and report the size). */
export class HttpByteSource implements ByteSource {
  private cachedSize: number | null = null;
  constructor(readonly name: string, private readonly fetchFn: typeof fetch = globalThis.fetch.bind(globalThis)) {}

  async size(): Promise<number> {
    if (this.cachedSize !== null) return this.cachedSize;
    const res = await this.fetchFn(this.name, { method: 'HEAD' });
    const len = res.headers.get('content-length');
    if (!res.ok || len === null) {
      throw new Error(`${this.name}: HEAD failed (${res.status}) or no Content-Length; the server must report file sizes`);
    }
    this.cachedSize = Number(len);
    return this.cachedSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    const res = await this.fetchFn(this.name, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
    if (res.status !== 206 && res.status !== 200) {
      throw new Error(`${this.name}: range read ${offset}+${length} failed with HTTP ${res.status}`);
    }
    const buf = new Uint8Array(await res.arrayBuffer());
    // A server that ignores Range answers 200 with the whole file.
    const out = res.status === 200 ? buf.subarray(offset, offset + length) : buf;
    if (out.byteLength !== length) {
      throw new Error(`${this.name}: range read ${offset}+${length} returned ${out.byteLength} bytes (file truncated?)`);
    }
    return out;
  }
}
