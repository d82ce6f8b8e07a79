// Safetensors write/read round trips for every dtype, header layout, positioned reads, and strict
// rejection of corrupt files with messages that name the problem, and file handles closed explicitly (never left
// to the garbage collector).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSafetensors, writeSafetensors, toFloat32, SafetensorsReader } from '../../../engine/io/safetensors.js';
import { MemoryByteSource, type ByteSource } from '../../../engine/io/byte-source.js';
import { NodeFileSource } from '../../../engine/io/node-files.js';

let dir = '';
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'st-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

describe('round trip', () => {
  it('writes and reads back every dtype, including scalar and empty tensors', async () => {
    const f32 = Float32Array.from({ length: 3 * 5 * 7 }, () => (rnd() - 0.5) * 1e3);
    // values exactly representable in f16 / bf16, so the float path must be exact
    const f16vals = Float32Array.from({ length: 2 * 9 }, () => Math.round((rnd() - 0.5) * 4096) / 64);
    const bf16vals = Float32Array.from({ length: 11 }, () => Math.round((rnd() - 0.5) * 256) * 2 ** Math.round(rnd() * 40 - 20));
    const f64 = Float64Array.from({ length: 6 }, () => rnd() * 1e-300);
    const i64 = BigInt64Array.from({ length: 5 }, () => BigInt(Math.floor((rnd() - 0.5) * 2 ** 52)) * 1000n);
    const i32 = Int32Array.from({ length: 13 }, () => Math.floor((rnd() - 0.5) * 2 ** 32));
    const rawF16 = Uint8Array.from({ length: 2 * 7 }, () => Math.floor(rnd() * 256));
    const path = join(dir, 'all.safetensors');
    await writeSafetensors(path, {
      'a.f32': { dtype: 'F32', shape: [3, 5, 7], data: f32 },
      'b.f16': { dtype: 'F16', shape: [2, 9], data: f16vals },
      'c.bf16': { dtype: 'BF16', shape: [11], data: bf16vals },
      'd.f64': { dtype: 'F64', shape: [2, 3], data: f64 },
      'e.i64': { dtype: 'I64', shape: [5], data: i64 },
      'f.i32': { dtype: 'I32', shape: [13, 1], data: i32 },
      'g.raw': { dtype: 'F16', shape: [7], data: rawF16 },
      'h.scalar': { dtype: 'F32', shape: [], data: Float32Array.of(2.5) },
      'i.empty': { dtype: 'BF16', shape: [3, 0], data: new Float32Array(0) },
    }, { format: 'pt', note: 'x' });

    const r = await openSafetensors(path);
    expect(r.keys().sort()).toEqual(['a.f32', 'b.f16', 'c.bf16', 'd.f64', 'e.i64', 'f.i32', 'g.raw', 'h.scalar', 'i.empty']);
    expect(r.metadata).toEqual({ format: 'pt', note: 'x' });
    expect(await r.readFloat32('a.f32')).toEqual(f32);
    expect(Array.from(await r.readFloat32('b.f16'))).toEqual(Array.from(f16vals));
    expect(Array.from(await r.readFloat32('c.bf16'))).toEqual(Array.from(bf16vals));
    const d = await r.read('d.f64');
    expect(new Float64Array(d.bytes.buffer)).toEqual(f64);
    const e = await r.read('e.i64');
    expect(new BigInt64Array(e.bytes.buffer)).toEqual(i64);
    const f = await r.read('f.i32');
    expect(f.shape).toEqual([13, 1]);
    expect(new Int32Array(f.bytes.buffer)).toEqual(i32);
    expect(Array.from(toFloat32(f))).toEqual(Array.from(i32, (v) => Math.fround(v)));
    const g = await r.read('g.raw');
    expect(g.dtype).toBe('F16');
    expect(g.bytes).toEqual(rawF16);
    expect(Array.from(await r.readFloat32('h.scalar'))).toEqual([2.5]);
    expect((await r.read('i.empty')).bytes.byteLength).toBe(0);
    await r.close();

    // independent parse of the layout: 8-byte LE length, space padding, 8-aligned data start
    const file = new Uint8Array(await readFile(path));
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const headerText = new TextDecoder().decode(file.subarray(8, 8 + n));
    expect(headerText.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(headerText.slice(headerText.trimEnd().length))).toBe(true);
    const hdr = JSON.parse(headerText);
    expect(hdr['a.f32']).toEqual({ dtype: 'F32', shape: [3, 5, 7], data_offsets: [0, 420] });
    const a = new Float32Array(file.slice(8 + n, 8 + n + 420).buffer);
    expect(a).toEqual(f32);
  });

  it('keeps odd tensor names and rejects duplicates', async () => {
    const path = join(dir, 'names.safetensors');
    const one = { dtype: 'F32' as const, shape: [1], data: Float32Array.of(1) };
    await writeSafetensors(path, [['constructor', one], ['__proto__', { ...one, data: Float32Array.of(2) }], ['a.b.0', one]]);
    const r = await openSafetensors(path);
    expect(r.keys().sort()).toEqual(['__proto__', 'a.b.0', 'constructor']);
    expect(Array.from(await r.readFloat32('__proto__'))).toEqual([2]);
    await r.close();
    await expect(writeSafetensors(path, [['x', one], ['x', one]])).rejects.toThrow(/duplicate tensor name x/);
  });

  it('rejects data whose length disagrees with the shape', async () => {
    await expect(writeSafetensors(join(dir, 'bad.safetensors'), { x: { dtype: 'F32', shape: [4], data: new Float32Array(3) } }))
      .rejects.toThrow(/x: shape \[4\] x F32 needs 16 bytes, data has 12/);
  });

  it('reads only the bytes of the requested tensor', async () => {
    const path = join(dir, 'big.safetensors');
    const tensors: [string, { dtype: 'F32'; shape: number[]; data: Float32Array }][] = [];
    for (let i = 0; i < 20; i++) tensors.push([`t${i}`, { dtype: 'F32', shape: [1000 + i], data: Float32Array.from({ length: 1000 + i }, () => rnd()) }]);
    await writeSafetensors(path, tensors);
    const bytes = new Uint8Array(await readFile(path));
    const reads: [number, number][] = [];
    const inner = new MemoryByteSource(bytes, 'big');
    const counting: ByteSource = {
      name: 'big',
      size: () => inner.size(),
      read: (o, l) => { reads.push([o, l]); return inner.read(o, l); },
    };
    const r = await SafetensorsReader.open(counting);
    reads.length = 0;
    expect(await r.readFloat32('t13')).toEqual(tensors[13][1].data);
    expect(reads).toEqual([[r.header.dataOffset + r.info('t13').begin, 1013 * 4]]);
  });
});

/** Build a safetensors file by hand: 8-byte length + header text + data bytes. */
function build(header: string, dataLen: number, lengthOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.byteLength + dataLen);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  return out;
}

async function openBytes(bytes: Uint8Array, name = 'corrupt.safetensors') {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return openSafetensors(p);
}

describe('corrupt files', () => {
  const two = (a: [number, number], b: [number, number], dt = 'F32') =>
    JSON.stringify({ a: { dtype: dt, shape: [4], data_offsets: a }, b: { dtype: 'F32', shape: [4], data_offsets: b } });

  it('file shorter than the length prefix', async () => {
    await expect(openBytes(new Uint8Array(5))).rejects.toThrow(/fewer than the 8-byte header length prefix/);
  });
  it('header length larger than the file', async () => {
    await expect(openBytes(build('{}', 0, 1000n))).rejects.toThrow(/header length 1000 is larger than the file \(10 bytes\)/);
  });
  it('bad JSON', async () => {
    await expect(openBytes(build('{"a": {"dtype": "F32",', 0))).rejects.toThrow(/header is not valid JSON/);
  });
  it('unknown dtype', async () => {
    await expect(openBytes(build(JSON.stringify({ w: { dtype: 'F7', shape: [2], data_offsets: [0, 2] } }), 2)))
      .rejects.toThrow(/tensor w has unknown dtype "F7"/);
  });
  it('shape x dtype size differs from the byte span', async () => {
    await expect(openBytes(build(two([0, 16], [16, 32], 'F16'), 32))).rejects.toThrow(/tensor a: shape \[4\] x F16 \(2 bytes\) = 8 bytes, but data_offsets span 16 bytes/);
  });
  it('overlapping offsets', async () => {
    await expect(openBytes(build(two([0, 16], [8, 24]), 24))).rejects.toThrow(/tensor b \[8, 24\) overlaps tensor a \[0, 16\)/);
  });
  it('hole in the data region', async () => {
    await expect(openBytes(build(two([0, 16], [20, 36]), 36))).rejects.toThrow(/data bytes \[16, 20\) before tensor b belong to no tensor/);
  });
  it('trailing bytes after the last tensor', async () => {
    await expect(openBytes(build(two([0, 16], [16, 32]), 40))).rejects.toThrow(/data region has 40 bytes but tensors cover only 32/);
  });
  it('truncated file', async () => {
    const path = join(dir, 'good.safetensors');
    await writeSafetensors(path, { a: { dtype: 'F32', shape: [8], data: new Float32Array(8) }, b: { dtype: 'BF16', shape: [8], data: new Float32Array(8) } });
    const full = new Uint8Array(await readFile(path));
    await expect(openBytes(full.subarray(0, full.byteLength - 3))).rejects.toThrow(/tensor b ends at data byte 48 but the data region has only 45 bytes: the file is truncated/);
  });
  it('negative or non-integer shape', async () => {
    await expect(openBytes(build(JSON.stringify({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), 0)))
      .rejects.toThrow(/tensor w has invalid shape \[-1\]/);
  });
  it('missing tensor name', async () => {
    const r = await SafetensorsReader.open(new MemoryByteSource(build(two([0, 16], [16, 32]), 32), 'm.safetensors'));
    await expect(r.read('nope')).rejects.toThrow(/m.safetensors: no tensor named nope/);
  });
});

describe('file handles are closed explicitly', () => {
  const openFds = () => readdirSync('/proc/self/fd').length;
  const onLinux = process.platform === 'linux';

  it.runIf(onLinux)('a header that fails to parse closes its file at once', async () => {
    const p = join(dir, 'bad-header.safetensors');
    await writeFile(p, Uint8Array.from([...new Uint8Array(new BigUint64Array([4n]).buffer), ...new TextEncoder().encode('nope')]));
    const before = openFds();
    await expect(openSafetensors(p)).rejects.toThrow(/not valid JSON|does not start/);
    expect(openFds()).toBe(before);
  });

  it('SafetensorsReader.open closes the source it was given when the header is bad', async () => {
    let closed = 0;
    const src: ByteSource = { name: 'm', size: async () => 3, read: async () => new Uint8Array(3), close: async () => void closed++ };
    await expect(SafetensorsReader.open(src)).rejects.toThrow(/fewer than the 8-byte/);
    expect(closed).toBe(1);
  });

  it.runIf(onLinux)('concurrent first reads share one handle, and close() releases it', async () => {
    const p = join(dir, 'conc.safetensors');
    await writeSafetensors(p, { a: { dtype: 'F32', shape: [8], data: new Float32Array(8).fill(1) }, b: { dtype: 'F32', shape: [4], data: new Float32Array(4).fill(2) } });
    const before = openFds();
    const src = new NodeFileSource(p);
    const [x, y, n] = await Promise.all([src.read(0, 8), src.read(8, 4), src.size()]);
    expect([x.length, y.length, n]).toEqual([8, 4, (await readFile(p)).length]);
    expect(openFds()).toBe(before + 1);
    await src.close();
    expect(openFds()).toBe(before);
  });

  it.runIf(onLinux)('close() while the first open is in flight still closes the handle', async () => {
    const p = join(dir, 'inflight.safetensors');
    await writeFile(p, new Uint8Array(16));
    const before = openFds();
    const src = new NodeFileSource(p);
    const sizeP = src.size();
    await src.close();
    expect(await sizeP).toBe(16);
    expect(openFds()).toBe(before);
    expect((await src.read(0, 4)).length).toBe(4); // reopens on demand
    await src.close();
    expect(openFds()).toBe(before);
  });
});
