// GrowingLoader appends a file that grows (as the server's /stream of a DualParal job does) to a sink: every byte once
// and in order, whatever the timing of the block events against the range reads, the rest after the job finished
// and the sink ended once; a failing read stops it with the error. avcCodecString reads the codec from an avcC box;
// growingMode picks Media Source Extensions only where the browser takes fragmented H.264.
import { describe, expect, it } from 'vitest';
import { avcCodecString, GrowingLoader, growingMode, type AppendSink, type RangeFetch } from '../../client/growing-video.js';

/** A file that grows on demand, read like the server's stream: the bytes there now, [] (416) past its end. */
function growingFile(total: number) {
  const bytes = Uint8Array.from({ length: total }, (_, i) => (i * 7 + 3) % 251);
  let size = 0;
  const reads: [number, number | undefined][] = [];
  let gate: Promise<void> = Promise.resolve();
  const fetchRange: RangeFetch = async (start, end) => {
    reads.push([start, end]);
    await gate;
    if (start >= size) return new Uint8Array(0);
    return bytes.slice(start, Math.min(end === undefined ? size : end + 1, size));
  };
  return {
    bytes,
    reads,
    fetchRange,
    grow: (to: number) => (size = to),
    hold() {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => open();
    },
  };
}

function collect(): AppendSink & { got: number[]; ends: number } {
  const got: number[] = [];
  const sink = { got, ends: 0, async append(b: Uint8Array) {
    got.push(...b);
  }, end() {
    sink.ends++;
  } };
  return sink;
}

describe('GrowingLoader', () => {
  it('appends each block\'s new bytes once, in order, then the rest when the job finished', async () => {
    const f = growingFile(1000);
    const sink = collect();
    const l = new GrowingLoader(f.fetchRange, sink);
    f.grow(300);
    await l.onBlock(300);
    expect(sink.got).toEqual([...f.bytes.slice(0, 300)]);
    f.grow(650);
    await l.onBlock(650);
    expect(f.reads.at(-1)).toEqual([300, 649]);
    f.grow(1000); // the last block's last frame and the end of the stream came after the last event
    await l.onBlock(800);
    await l.onFinished();
    expect(sink.got).toEqual([...f.bytes]);
    expect(sink.ends).toBe(1);
    expect(l.have).toBe(1000);
    await l.onFinished();
    expect(sink.ends).toBe(1);
  });

  it('events that arrive while a read is in flight: no byte twice, none lost', async () => {
    const f = growingFile(500);
    const sink = collect();
    const l = new GrowingLoader(f.fetchRange, sink);
    f.grow(100);
    const open = f.hold();
    const first = l.onBlock(100);
    f.grow(250);
    const second = l.onBlock(250);
    f.grow(500);
    const done = l.onFinished();
    open();
    await Promise.all([first, second, done]);
    await l.idle();
    expect(sink.got).toEqual([...f.bytes]);
    expect(sink.ends).toBe(1);
  });

  it('a block whose bytes are not readable yet is fetched at the next event', async () => {
    const f = growingFile(200);
    const sink = collect();
    const l = new GrowingLoader(f.fetchRange, sink);
    await l.onBlock(120); // the file is still empty (416)
    expect(sink.got).toEqual([]);
    f.grow(150);
    await l.onBlock(150);
    expect(sink.got).toEqual([...f.bytes.slice(0, 150)]);
  });

  it('a failing read stops the loader with its error', async () => {
    const sink = collect();
    const l = new GrowingLoader(async () => {
      throw new Error('stream /api/jobs/x/stream: HTTP 500');
    }, sink);
    await l.onBlock(10);
    expect(l.error?.message).toBe('stream /api/jobs/x/stream: HTTP 500');
    await l.onFinished();
    expect(sink.ends).toBe(0);
  });
});

describe('avcCodecString and growingMode', () => {
  it('reads profile, constraints and level from the avcC box', () => {
    // ... size | 'avcC' | version 1 | profile 0x64 (High) | constraints 0x00 | level 0x0d (1.3) | ...
    const box = [0, 0, 0, 20, 0x61, 0x76, 0x63, 0x43, 1, 0x64, 0x00, 0x0d, 0xff, 0xe1];
    expect(avcCodecString(Uint8Array.from([9, 9, 9, 9, 9, ...box]))).toBe('avc1.64000d');
    expect(avcCodecString(Uint8Array.from([0, 0, 0, 20, 0x61, 0x76, 0x63, 0x43, 1, 0x42, 0xc0, 0x1e]))).toBe('avc1.42c01e');
    expect(avcCodecString(Uint8Array.from(box.slice(0, 9)))).toBeNull(); // cut before the level
    expect(avcCodecString(new Uint8Array(64))).toBeNull();
  });

  it('MSE only where the browser takes fragmented H.264 MP4, else reload per block', () => {
    expect(growingMode(undefined)).toBe('reload');
    expect(growingMode({ isTypeSupported: () => false })).toBe('reload');
    expect(growingMode({ isTypeSupported: (t) => t.startsWith('video/mp4; codecs="avc1.') })).toBe('mse');
  });
});
