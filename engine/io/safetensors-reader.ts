// Safetensors format without file-system access: strict header parsing/validation, header encoding,
// and a reader that fetches single tensors from any ByteSource (Node file, memory, HTTP range).
import type { ByteSource } from './byte-source.js';
import { DTYPE_SIZE, isDType, bytesToFloat32, type DType } from './dtype.js';

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte offsets relative to the start of the data region (after the header). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Length N of the JSON header (bytes 8..8+N). */
  headerLength: number;
  /** Absolute file offset of the data region (8 + N). */
  dataOffset: number;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

export interface TensorData {
  name: string;
  dtype: DType;
  shape: number[];
  /** Raw little-endian element bytes (own buffer, byteOffset 0). */
  bytes: Uint8Array;
}

/** Header size cap used by the reference implementation (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fail(file: string, msg: string): never {
  throw new Error(`${file}: invalid safetensors file: ${msg}`);
}

/** Validate the 8-byte prefix and return the JSON header length N. */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) fail(file, `file has ${fileSize} bytes, fewer than the 8-byte header length prefix (truncated or not safetensors)`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    fail(file, `header length ${n} is larger than the file (${fileSize} bytes): truncated file or not safetensors`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2n) fail(file, `header length ${n} is too small for a JSON object`);
  return Number(n);
}

/** Parse and strictly validate the JSON header (bytes 8..8+N) against the file size. */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerLength = json.byteLength;
  const dataOffset = 8 + headerLength;
  const dataSize = fileSize - dataOffset;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    fail(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(file, `header does not start with '{' (got ${JSON.stringify(text.slice(0, 16))})`);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    fail(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) fail(file, 'header JSON is not an object');

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, raw] of Object.entries(obj as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `__metadata__.${k} must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) fail(file, `entry ${name} is not an object`);
    const e = raw as Record<string, unknown>;
    if (!isDType(e.dtype)) {
      fail(file, `tensor ${name} has unknown dtype ${JSON.stringify(e.dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(file, `tensor ${name} has invalid shape ${JSON.stringify(shape)} (need an array of non-negative integers)`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(file, `tensor ${name} has invalid data_offsets ${JSON.stringify(off)} (need [begin, end])`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) fail(file, `tensor ${name} has data_offsets [${begin}, ${end}] with end before begin`);
    const expected = numel(shape as number[]) * DTYPE_SIZE[e.dtype];
    if (end - begin !== expected) {
      fail(file, `tensor ${name}: shape ${JSON.stringify(shape)} x ${e.dtype} (${DTYPE_SIZE[e.dtype]} bytes) = ${expected} bytes, but data_offsets span ${end - begin} bytes`);
    }
    if (end > dataSize) {
      fail(file, `tensor ${name} ends at data byte ${end} but the data region has only ${dataSize} bytes: the file is truncated`);
    }
    tensors.set(name, { name, dtype: e.dtype, shape: shape as number[], begin, end });
  }

  // The data region must be exactly covered: sorted spans contiguous, no overlap, no holes.
  const spans = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorInfo | null = null;
  for (const t of spans) {
    if (t.begin < pos) {
      fail(file, `tensor ${t.name} [${t.begin}, ${t.end}) overlaps tensor ${prev?.name} [${prev?.begin}, ${prev?.end})`);
    }
    if (t.begin > pos) fail(file, `data bytes [${pos}, ${t.begin}) before tensor ${t.name} belong to no tensor (hole in data region)`);
    pos = t.end;
    prev = t;
  }
  if (pos !== dataSize) {
    fail(file, `data region has ${dataSize} bytes but tensors cover only ${pos}: trailing bytes belong to no tensor`);
  }
  return { headerLength, dataOffset, tensors, metadata };
}

/** Reads individual tensors by name through positioned reads; never loads the whole file. */
export class SafetensorsReader {
  private constructor(
    readonly source: ByteSource,
    readonly header: SafetensorsHeader,
    readonly fileSize: number,
  ) {}

  /** Takes ownership of `source`: the reader's close() closes it, and a header that fails to parse closes it at once. */
  static async open(source: ByteSource): Promise<SafetensorsReader> {
    try {
      const size = await source.size();
      if (size < 8) parseHeaderLength(new Uint8Array(8), size, source.name);
      const n = parseHeaderLength(await source.read(0, 8), size, source.name);
      const header = parseSafetensorsHeader(await source.read(8, n), size, source.name);
      return new SafetensorsReader(source, header, size);
    } catch (e) {
      await source.close?.();
      throw e;
    }
  }

  get name(): string {
    return this.source.name;
  }
  get metadata(): Record<string, string> {
    return this.header.metadata;
  }
  keys(): string[] {
    return [...this.header.tensors.keys()];
  }
  has(key: string): boolean {
    return this.header.tensors.has(key);
  }
  info(key: string): TensorInfo {
    const t = this.header.tensors.get(key);
    if (!t) throw new Error(`${this.source.name}: no tensor named ${key}`);
    return t;
  }
  async read(key: string): Promise<TensorData> {
    const t = this.info(key);
    const bytes = await this.source.read(this.header.dataOffset + t.begin, t.end - t.begin);
    return { name: key, dtype: t.dtype, shape: [...t.shape], bytes };
  }
  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.read(key));
  }
  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/** Decode a tensor's bytes to f32 (F32: zero-copy view of t.bytes when aligned; F16/BF16 widened exactly; ints by value). */
export function toFloat32(t: TensorData): Float32Array {
  return bytesToFloat32(t.dtype, t.bytes);
}

export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
}

/**
 * Encode a header for tensors laid out back to back in the given order. The JSON is padded with
 * spaces so the data region starts 8-byte aligned. Returns the full prefix (8-byte length + JSON).
 */
export function encodeSafetensorsHeader(entries: readonly HeaderEntry[], metadata?: Record<string, string>): Uint8Array {
  const obj = new Map<string, unknown>();
  if (metadata && Object.keys(metadata).length > 0) obj.set('__metadata__', metadata);
  let pos = 0;
  for (const e of entries) {
    if (e.name === '__metadata__') throw new Error('tensor name __metadata__ is reserved');
    if (obj.has(e.name)) throw new Error(`duplicate tensor name ${e.name}`);
    const len = numel(e.shape) * DTYPE_SIZE[e.dtype];
    obj.set(e.name, { dtype: e.dtype, shape: e.shape, data_offsets: [pos, pos + len] });
    pos += len;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(obj)));
  const padded = Math.ceil((8 + json.byteLength) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength);
  return out;
}
