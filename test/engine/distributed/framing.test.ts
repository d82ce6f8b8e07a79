import { describe, expect, it } from 'vitest';
import { crc32, encodeFrame, FrameDecoder, FrameKind, HEADER_BYTES, readHeader, type FrameHeader } from '../../../engine/distributed/framing.js';

describe('framing', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips headers with 53-bit tags through a byte stream split at awkward points', () => {
    const frames = [
      { kind: FrameKind.Data, source: 3, tag: 2 ** 52 + 12345, payload: Uint8Array.from({ length: 1001 }, (_, i) => (i * 31) & 255) },
      { kind: FrameKind.Data, source: 3, tag: 0, payload: new Uint8Array(0) },
      { kind: FrameKind.Abort, source: 3, tag: 7, payload: new TextEncoder().encode('boom') },
    ];
    const stream = new Uint8Array(frames.reduce((a, f) => a + HEADER_BYTES + f.payload.length, 0));
    let off = 0;
    for (const f of frames) {
      const e = encodeFrame(f.kind, f.source, f.tag, f.payload, true);
      stream.set(e, off);
      off += e.length;
    }
    const got: { h: FrameHeader; p: number[] }[] = [];
    const dec = new FrameDecoder(1 << 20, (h, p) => got.push({ h, p: Array.from(p) }));
    for (let i = 0; i < stream.length; ) {
      const n = 1 + ((i * 7) % 13);
      dec.push(stream.subarray(i, i + n));
      i += n;
    }
    expect(dec.pendingBytes).toBe(0);
    expect(got.map((g) => [g.h.kind, g.h.source, g.h.tag, g.h.length])).toEqual(frames.map((f) => [f.kind, f.source, f.tag, f.payload.length]));
    expect(got[0]!.p).toEqual(Array.from(frames[0]!.payload));
  });

  it('rejects bad magic, version, checksum, kind and length', () => {
    const good = encodeFrame(FrameKind.Data, 1, 5, new Uint8Array(8), true);
    const mutate = (i: number, v: number) => {
      const f = good.slice();
      f[i] = v;
      return f;
    };
    expect(() => readHeader(mutate(0, 0), 0, 100)).toThrow(/bad magic/);
    expect(() => readHeader(mutate(4, 9), 0, 100)).toThrow(/unsupported frame version 9/);
    expect(() => readHeader(mutate(9, 1), 0, 100)).toThrow(/header checksum/);
    expect(() => readHeader(good, 0, 4)).toThrow(/frame length 8 exceeds the limit of 4 bytes for Data frames/);
    const badPayload = good.slice();
    badPayload[HEADER_BYTES + 3] = 1;
    expect(() => new FrameDecoder(100, () => {}).push(badPayload)).toThrow(/payload checksum/);
  });
});
