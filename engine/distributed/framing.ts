// Wire framing shared by every byte-stream transport: a fixed 32-byte little-endian header (magic, version,
// kind, source rank, 53-bit tag, payload length, optional payload CRC32, header CRC32) followed by the payload.
import { DistError } from './errors.js';

export const FRAME_MAGIC = 0x44584c50; // bytes 'PLXD' read little-endian
export const FRAME_VERSION = 1;
export const HEADER_BYTES = 32;
/** Largest payload a frame may carry (u32 length field). Transports may set a lower cap. */
export const MAX_FRAME_PAYLOAD = 0xffffffff;

export enum FrameKind {
  /** Point-to-point payload addressed by tag. */
  Data = 1,
  /** The sender failed; payload is the UTF-8 error text. Receivers fail all pending operations. */
  Abort = 2,
  /** The sender closed its transport cleanly; no more frames follow. */
  Close = 3,
  /** Connection handshake (socket mesh): payload is UTF-8 JSON. */
  Hello = 4,
}

const FLAG_PAYLOAD_CRC = 1;
/** Cap on control frames (Abort/Close/Hello payloads); abort texts are truncated to fit. */
export const MAX_CONTROL_PAYLOAD = 65536;

/** UTF-8 payload of an Abort frame, truncated to MAX_CONTROL_PAYLOAD bytes. */
export function abortPayload(message: string): Uint8Array {
  return new TextEncoder().encode(message).subarray(0, MAX_CONTROL_PAYLOAD);
}

export interface FrameHeader {
  kind: FrameKind;
  source: number;
  tag: number;
  length: number;
  /** CRC32 of the payload when the sender computed one, else null. */
  payloadCrc: number | null;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Standard CRC-32 (IEEE 802.3, as zlib) of bytes. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function checkTag(tag: number): void {
  if (!Number.isSafeInteger(tag) || tag < 0) {
    throw new DistError(`frame tag must be a non-negative safe integer, got ${tag}`);
  }
}

/** Writes the 32-byte header for a payload into `out` at `offset`. */
export function writeHeader(
  out: Uint8Array,
  offset: number,
  kind: FrameKind,
  source: number,
  tag: number,
  payload: Uint8Array,
  withPayloadCrc: boolean,
): void {
  checkTag(tag);
  if (payload.length > MAX_FRAME_PAYLOAD) {
    throw new DistError(`frame payload of ${payload.length} bytes exceeds the u32 length field; split the message`);
  }
  const dv = new DataView(out.buffer, out.byteOffset + offset, HEADER_BYTES);
  dv.setUint32(0, FRAME_MAGIC, true);
  dv.setUint8(4, FRAME_VERSION);
  dv.setUint8(5, kind);
  dv.setUint16(6, withPayloadCrc ? FLAG_PAYLOAD_CRC : 0, true);
  dv.setUint32(8, source, true);
  dv.setUint32(12, tag % 0x100000000, true);
  dv.setUint32(16, Math.floor(tag / 0x100000000), true);
  dv.setUint32(20, payload.length, true);
  dv.setUint32(24, withPayloadCrc ? crc32(payload) : 0, true);
  dv.setUint32(28, crc32(out, offset, offset + 28), true);
}

/** Header + payload in one new buffer. */
export function encodeFrame(
  kind: FrameKind,
  source: number,
  tag: number,
  payload: Uint8Array,
  withPayloadCrc = false,
): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  writeHeader(out, 0, kind, source, tag, payload, withPayloadCrc);
  out.set(payload, HEADER_BYTES);
  return out;
}

const hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/**
 * Parses and validates a header (bytes at `offset`, at least HEADER_BYTES available).
 * Throws a DistError describing the first problem: bad magic, version, header checksum, unknown kind,
 * length above `maxPayload`.
 */
export function readHeader(bytes: Uint8Array, offset: number, maxPayload: number): FrameHeader {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_BYTES);
  const magic = dv.getUint32(0, true);
  if (magic !== FRAME_MAGIC) throw new DistError(`bad magic ${hex(magic)}, expected ${hex(FRAME_MAGIC)}`);
  const version = dv.getUint8(4);
  if (version !== FRAME_VERSION) {
    throw new DistError(`unsupported frame version ${version}, expected ${FRAME_VERSION} (mixed Parallax versions?)`);
  }
  const headerCrc = dv.getUint32(28, true);
  const computed = crc32(bytes, offset, offset + 28);
  if (headerCrc !== computed) throw new DistError(`header checksum ${hex(headerCrc)} != computed ${hex(computed)}`);
  const kind = dv.getUint8(5);
  if (!(kind in FrameKind) || typeof FrameKind[kind] !== 'string') throw new DistError(`unknown frame kind ${kind}`);
  const flags = dv.getUint16(6, true);
  const length = dv.getUint32(20, true);
  const limit = kind === FrameKind.Data ? maxPayload : MAX_CONTROL_PAYLOAD;
  if (length > limit) {
    throw new DistError(`frame length ${length} exceeds the limit of ${limit} bytes for ${FrameKind[kind]} frames`);
  }
  return {
    kind: kind as FrameKind,
    source: dv.getUint32(8, true),
    tag: dv.getUint32(12, true) + dv.getUint32(16, true) * 0x100000000,
    length,
    payloadCrc: flags & FLAG_PAYLOAD_CRC ? dv.getUint32(24, true) : null,
  };
}

/** Verifies the optional payload checksum of a decoded frame. */
export function checkPayload(header: FrameHeader, payload: Uint8Array): void {
  if (header.payloadCrc === null) return;
  const c = crc32(payload);
  if (c !== header.payloadCrc) {
    throw new DistError(`payload checksum ${hex(c)} != header ${hex(header.payloadCrc)} (${payload.length} bytes, tag ${header.tag})`);
  }
}

/**
 * Incremental decoder for a byte stream of frames (socket data, ring-buffer reads). Feed chunks in order;
 * `onFrame` fires for each complete frame; a malformed header or payload throws from push().
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private header: FrameHeader | null = null;

  constructor(
    private readonly maxPayload: number,
    private readonly onFrame: (header: FrameHeader, payload: Uint8Array) => void,
  ) {}

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.header === null) {
        if (this.buffered < HEADER_BYTES) return;
        const head = this.take(HEADER_BYTES);
        this.header = readHeader(head, 0, this.maxPayload);
      }
      if (this.buffered < this.header.length) return;
      const header = this.header;
      const payload = this.take(header.length);
      this.header = null;
      checkPayload(header, payload);
      this.onFrame(header, payload);
    }
  }

  /** Removes n bytes from the front (zero-copy when they lie in one chunk). */
  private take(n: number): Uint8Array {
    this.buffered -= n;
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
