// The CRAFT TextDetector (engine/data/craft-detector.ts): test.py's resize geometry; the bilinear resize against
// cv2.resize(INTER_LINEAR) (opencv-js, within OpenCV's fixed-point rounding); the normalised, zero-padded input; and
// detect() through the GPU model on tiny checkpoints whose head is fixed (zero weights, given biases) so the score
// maps are known constants: all text gives one box over the whole heatmap scaled by 2 / ratio and clamped to the
// frame, no text gives none; on a random tiny model detect() equals the float64 reference network followed by the
// box extraction and the scaling (with no score near a threshold, so f32 rounding cannot flip a pixel).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craftGeometry, craftInput, loadCraftDetector } from '../../../engine/data/craft-detector.js';
import { resizeLinear } from '../../../engine/data/resize-linear.js';
import { textRatio } from '../../../engine/data/scores.js';
import { craftBoxes } from '../../../engine/data/craft-boxes.js';
import { makeTinyCraft } from '../../../engine/io/make-tiny-craft.js';
import { openSafetensors } from '../../../engine/io/safetensors.js';
import { craftForward64 } from '../../../engine/reference/craft.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDevice } from '../../helpers/gpu.js';
import { loadOpenCv, matFrom, withMats, type OpenCv } from '../../helpers/opencv.js';
import { rng } from '../../helpers/random.js';

const device = await testDevice();
const dir = await mkdtemp(join(tmpdir(), 'parallax-craft-det-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
let cv: OpenCv;
beforeAll(async () => {
  ({ cv } = await loadOpenCv());
}, 60_000);

const noise = (n: number, seed: number) => {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
};

describe('CRAFT detector', () => {
  it('resize geometry as resize_aspect_ratio', () => {
    expect(craftGeometry(64, 48)).toEqual({ ratio: 1.5, width: 96, height: 72, padWidth: 96, padHeight: 96 });
    expect(craftGeometry(1920, 1080)).toEqual({ ratio: 2 / 3, width: 1280, height: 720, padWidth: 1280, padHeight: 736 });
    expect(craftGeometry(1920, 1080, 2560, 1)).toEqual({ ratio: 1, width: 1920, height: 1080, padWidth: 1920, padHeight: 1088 });
    expect(craftGeometry(100, 33, 1280, 1.5).height).toBe(49); // int(33 * 1.5) = 49
    expect(() => craftGeometry(4000, 1, 64, 1)).toThrow(/resizes to 64x0/);
  });

  it('resizeLinear (resize-linear.ts) equals cv2.resize INTER_LINEAR (up, down, exact 2x down, one axis each way)', () => {
    const c = cv as unknown as { resize(s: unknown, d: unknown, size: unknown, fx: number, fy: number, interp: number): void; Size: new (w: number, h: number) => unknown; INTER_LINEAR: number };
    for (const [w, h, tw, th] of [[37, 23, 55, 34], [64, 48, 96, 72], [50, 31, 25, 15], [17, 40, 9, 61], [40, 30, 20, 15], [3, 2, 7, 5]] as const) {
      const src = noise(w * h * 3, w + h);
      const mine = resizeLinear(src, w, h, tw, th);
      const want = withMats((keep) => {
        const dst = keep(new cv.Mat());
        c.resize(keep(matFrom(cv, src, h, w, 3)), dst, new c.Size(tw, th), 0, 0, c.INTER_LINEAR);
        return Uint8Array.from(dst.data);
      });
      expect(want.length).toBe(mine.length);
      let off = 0, worst = 0;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== want[i]) (off++, (worst = Math.max(worst, Math.abs(mine[i]! - want[i]!))));
      expect({ off, worst }, `${w}x${h} -> ${tw}x${th}`).toEqual({ off: 0, worst: 0 });
    }
  });

  it('input: planar, normalised with ImageNet mean/std x 255, zero (black) padding to multiples of 32', () => {
    const w = 40, h = 20;
    const frame = noise(w * h * 3, 5);
    const inp = craftInput(frame, w, h, { magRatio: 1 });
    expect([inp.padWidth, inp.padHeight, inp.ratio]).toEqual([64, 32, 1]);
    const n = 64 * 32;
    const at = (c: number, y: number, x: number) => inp.data[c * n + y * 64 + x]!;
    expect(at(1, 7, 9)).toBeCloseTo((frame[(7 * w + 9) * 3 + 1]! - 0.456 * 255) / (0.224 * 255), 5);
    expect(at(2, 19, 39)).toBeCloseTo((frame[(19 * w + 39) * 3 + 2]! - 0.406 * 255) / (0.225 * 255), 5);
    expect(at(0, 25, 3)).toBeCloseTo(-0.485 / 0.229, 5);
    expect(at(0, 3, 50)).toBeCloseTo(-0.485 / 0.229, 5);
    expect(() => craftInput(frame, w, h + 1)).toThrow(/40x21 RGB frame has 2520 bytes, got 2400/);
  });

  it('detect: constant "all text" maps give one box over the frame, "no text" none; a random model runs', async () => {
    const all = join(dir, 'all.safetensors'), none = join(dir, 'none.safetensors'), rand = join(dir, 'rand.safetensors');
    await makeTinyCraft(all, { head: [5, 5] });
    await makeTinyCraft(none, { head: [-5, -5] });
    await makeTinyCraft(rand, { seed: 9 });
    const frame = noise(64 * 48 * 3, 1);
    const size = { width: 64, height: 48 };
    const det = await loadCraftDetector(device, all);
    expect(det.frameSize(64, 48)).toEqual(size);
    expect(det.name).toBe('craft(all.safetensors, canvas 1280, mag 1.5)');
    // 64x48 -> 96x72 (ratio 1.5), padded to 96x96, heatmap 48x48: the box is (0, 0)..(47, 47) (pixel centres) x 2 / 1.5,
    // clamped to the 64x48 frame.
    const boxes = await det.detect(frame, size);
    det.model.dispose();
    expect(boxes).toHaveLength(1);
    const k = 47 * (2 / 1.5);
    const q = boxes[0]!.quad;
    for (const [i, [x, y]] of [[0, 0], [k, 0], [k, 48], [0, 48]].entries()) {
      expect(q[i]![0]).toBeCloseTo(x!, 4);
      expect(q[i]![1]).toBeCloseTo(y!, 4);
    }
    expect(boxes[0]!.confidence).toBeCloseTo(5, 5);
    expect(boxes[0]!.text).toBeUndefined();
    expect(textRatio(boxes, 64, 48)).toBeCloseTo(k / 64, 4);
    const det0 = await loadCraftDetector(device, none);
    expect(await det0.detect(frame, size)).toEqual([]);
    det0.model.dispose();
    const detR = await loadCraftDetector(device, rand, { canvasSize: 64, lowText: 0.3 });
    expect(detR.name).toBe('craft(rand.safetensors, canvas 64, mag 1.5, thresholds 0.7/0.4/0.3)');
    const rb = await detR.detect(frame, size);
    expect(rb.length).toBeGreaterThan(0);
    for (const b of rb) {
      expect(b.quad).toHaveLength(4);
      for (const [x, y] of b.quad) expect(x >= 0 && x <= 64 && y >= 0 && y <= 48).toBe(true);
      expect(b.confidence).toBeGreaterThanOrEqual(0.7);
    }
    detR.model.dispose();
  });

  it('detect on a random tiny model equals the float64 reference network + box extraction + scaling', async () => {
    const file = join(dir, 'rand2.safetensors');
    await makeTinyCraft(file, { seed: 9, prefix: '' });
    const w = 50, h = 38; // -> 75 x 57, padded 96 x 64, maps 48 x 32
    const frame = noise(w * h * 3, 4);
    const det = await loadCraftDetector(device, file);
    const got = await det.detect(frame, { width: w, height: h });
    const inp = craftInput(frame, w, h);
    const x = Tensor.from(device, inp.data, [1, 3, inp.padHeight, inp.padWidth]);
    const maps = await det.model.scores(x);
    x.dispose();
    det.model.dispose();
    const r = await openSafetensors(file);
    const m = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const k of r.keys()) if (!k.endsWith('num_batches_tracked')) m.set(k, { data: await r.readFloat32(k), shape: r.info(k).shape });
    await r.close();
    const y = craftForward64({ c: 3, h: inp.padHeight, w: inp.padWidth, data: Float64Array.from(inp.data) }, { get: (k) => m.get(k)! });
    const n = y.h * y.w;
    const region = y.data.subarray(0, n), link = y.data.subarray(n);
    // The GPU maps are within 5e-5 of the reference and no score is within 1e-4 of a threshold, so f32 rounding cannot
    // flip a pixel (else pick another seed).
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(maps.region[i]! - region[i]!), Math.abs(maps.affinity[i]! - link[i]!));
    expect(err).toBeLessThan(5e-5);
    for (const v of region) expect(Math.abs(v - 0.4) > 1e-4 && Math.abs(v - 0.7) > 1e-4).toBe(true);
    for (const v of link) expect(Math.abs(v - 0.4)).toBeGreaterThan(1e-4);
    const k = 2 / inp.ratio;
    const want = craftBoxes(region, link, y.w, y.h).map((b) => b.quad.map(([px, py]) => [Math.min(w, px * k), Math.min(h, py * k)]));
    expect(want.length).toBeGreaterThan(0);
    expect(got.map((b) => b.quad)).toEqual(want.map((q) => q.map(([a, b]) => [expect.closeTo(a!, 4), expect.closeTo(b!, 4)])));
  });
});
