// Shot-detection statistics on the GPU (shaders/scene.wgsl): rgb24 frames -> packed HSV + gray per pixel
// (sceneConvert) -> per-frame sums of |dH|, |dS|, |dV|, |dGray| against the previous frame plus R+G+B and gray sums
// (sceneDiff, tiles added on the host). Integer math: equal to engine/ops/scene.ref.ts exactly.

import type { Device } from '../gpu/device.js';
import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';
import { emptySums, type SceneSums } from './scene.ref.js';

registerVariant({ op: 'scene_stats', name: 'scene_stats_u32', spec: { kernel: 'scene' } });

/** Pixels per DIFF workgroup (default 4096; must be a multiple of 256). */
const DEFAULT_TILE = 4096;
const CHANNELS = 6;

/** Packs rgb24 bytes into u32 words (little-endian, zero padded) and uploads them. */
export function uploadRgb(device: Device, rgb: Uint8Array, frames: number, pixels: number): Tensor {
  const bytes = frames * pixels * 3;
  if (rgb.length < bytes) throw new ShapeError(`scene: ${rgb.length} bytes for ${frames} frames of ${pixels} pixels (need ${bytes})`);
  const words = new Uint32Array(ceilDiv(bytes, 4));
  new Uint8Array(words.buffer).set(rgb.subarray(0, bytes));
  return Tensor.from(device, words, [words.length], 'u32', 'scene rgb');
}

function checkRgb(rgb: Tensor, frames: number, pixels: number): void {
  if (!Number.isInteger(frames) || !Number.isInteger(pixels) || frames < 1 || pixels < 1) throw new ShapeError(`scene: frames and pixels must be positive integers, got ${frames} x ${pixels}`);
  if (rgb.dtype !== 'u32' || rgb.numel !== ceilDiv(frames * pixels * 3, 4)) throw new ShapeError(`scene: rgb must be u32[${ceilDiv(frames * pixels * 3, 4)}] (packed bytes), got ${rgb.dtype}[${rgb.shape.join(', ')}]`);
}

/** rgb (packed u32 words of N*P*3 bytes) -> u32 [N*P]: H | S << 8 | V << 16 | GRAY << 24. */
export function sceneConvert(rgb: Tensor, frames: number, pixels: number, out?: Tensor): Tensor {
  checkRgb(rgb, frames, pixels);
  const total = frames * pixels;
  const o = out ?? Tensor.empty(rgb.device, [total], 'u32', 'scene hsvg');
  if (o.dtype !== 'u32' || o.numel !== total) throw new ShapeError(`sceneConvert: out must be u32[${total}], got ${o.dtype}[${o.shape.join(', ')}]`);
  rgb.device.dispatch({
    op: 'scene_stats', kernel: 'scene', defines: { CONVERT: true },
    params: [u32(pixels), u32(frames), u32(0), u32(total)],
    bindings: [rgb, o],
    workgroups: grid2D(ceilDiv(total, 256), rgb.device.caps.maxComputeWorkgroupsPerDimension),
  });
  return o;
}

export const sceneTiles = (pixels: number, tile = DEFAULT_TILE) => ceilDiv(pixels, tile);

/** -> u32 [N, tiles, 6] partial sums (see shaders/scene.wgsl). */
export function sceneDiff(rgb: Tensor, hsvg: Tensor, frames: number, pixels: number, opts: { tile?: number; out?: Tensor } = {}): Tensor {
  checkRgb(rgb, frames, pixels);
  const tile = opts.tile ?? DEFAULT_TILE;
  if (!Number.isInteger(tile) || tile < 256 || tile % 256) throw new ShapeError(`sceneDiff: tile must be a positive multiple of 256, got ${tile}`);
  if (hsvg.dtype !== 'u32' || hsvg.numel !== frames * pixels) throw new ShapeError(`sceneDiff: hsvg must be u32[${frames * pixels}], got ${hsvg.dtype}[${hsvg.shape.join(', ')}]`);
  const tiles = sceneTiles(pixels, tile);
  const max = rgb.device.caps.maxComputeWorkgroupsPerDimension;
  if (tiles > max || frames > max) throw new ShapeError(`sceneDiff: ${frames} frames x ${tiles} tiles exceeds ${max} workgroups per dimension: pass fewer frames per call or a larger tile`);
  const o = opts.out ?? Tensor.empty(rgb.device, [frames, tiles, CHANNELS], 'u32', 'scene partials');
  if (o.dtype !== 'u32' || o.numel !== frames * tiles * CHANNELS) throw new ShapeError(`sceneDiff: out must be u32[${frames}, ${tiles}, ${CHANNELS}], got ${o.dtype}[${o.shape.join(', ')}]`);
  rgb.device.dispatch({
    op: 'scene_stats', kernel: 'scene', defines: { DIFF: true, TILE: tile },
    params: [u32(pixels), u32(frames), u32(tiles), u32(frames * pixels)],
    bindings: [rgb, hsvg, o],
    workgroups: [tiles, frames],
  });
  return o;
}

/** Adds the tiles of sceneDiff's partials into per-frame sums. */
export function sumPartials(partials: Uint32Array, frames: number, pixels: number, tiles: number): SceneSums {
  const s = emptySums(frames, pixels);
  const cols = [s.dh, s.ds, s.dv, s.dgray, s.sumRgb, s.sumGray];
  for (let t = 0; t < frames; t++)
    for (let b = 0; b < tiles; b++)
      for (let c = 0; c < CHANNELS; c++) cols[c]![t]! += partials[(t * tiles + b) * CHANNELS + c]!;
  return s;
}

/** The whole stage for host frames: upload, convert, diff, read back, add tiles. */
export async function sceneSums(device: Device, rgbBytes: Uint8Array, frames: number, pixels: number, tile?: number): Promise<SceneSums> {
  const rgb = uploadRgb(device, rgbBytes, frames, pixels);
  const hsvg = sceneConvert(rgb, frames, pixels);
  const part = sceneDiff(rgb, hsvg, frames, pixels, { tile });
  try {
    const raw = new Uint32Array(await part.readRaw());
    return sumPartials(raw, frames, pixels, sceneTiles(pixels, tile));
  } finally {
    rgb.dispose();
    hsvg.dispose();
    part.dispose();
  }
}
