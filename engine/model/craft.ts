// CRAFT text detector on the GPU, built from our ops: conv2d (BatchNorm folded into each conv at load, in float64;
// fc6 as a dilated conv), relu, maxPool2d, resizeBilinear (align_corners=False) and concat. Input: the normalised
// image [1, 3, H, W]; output: [2, floor(H/2), floor(W/2)] score maps (region score, affinity score), i.e. CRAFT's
// y[0].permute(2, 0, 1). Weights: a safetensors file with the checkpoint's names (craft_mlt_25k.pth's
// "module." prefix or none); widths are read from the shapes (craft-layout.ts).

import { basename } from 'node:path';
import type { Device } from '../gpu/device.js';
import { CheckpointValidationError, checkKeys } from '../io/checkpoint.js';
import { openSafetensors } from '../io/safetensors.js';
import { SingleFileWeights } from '../io/sharded.js';
import { conv2d } from '../ops/conv2d.js';
import { relu } from '../ops/elementwise.js';
import { resizeBilinear } from '../ops/interpolate.js';
import { concat } from '../ops/layout.js';
import { maxPool2d } from '../ops/pool.js';
import { Tensor } from '../tensor.js';
import { CRAFT_BACKBONE, CRAFT_BN_EPS, CRAFT_CONVS, CRAFT_HEAD, CRAFT_UPCONVS, craftKeys, craftWidthsFrom, type CraftConv, type CraftWidths } from './craft-layout.js';

/** A conv's parameters with its BatchNorm folded in: w' = w s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps). */
export interface FoldedConv {
  weight: Float32Array;
  bias: Float32Array;
  shape: [number, number, number, number];
}

export function foldBatchNorm(w: ArrayLike<number>, b: ArrayLike<number>, shape: readonly number[], bn?: { gamma: ArrayLike<number>; beta: ArrayLike<number>; mean: ArrayLike<number>; variance: ArrayLike<number> }, eps = CRAFT_BN_EPS): FoldedConv {
  const [co, ci, kh, kw] = shape as [number, number, number, number];
  const per = ci * kh * kw;
  const weight = new Float32Array(co * per);
  const bias = new Float32Array(co);
  for (let o = 0; o < co; o++) {
    const s = bn ? bn.gamma[o]! / Math.sqrt(bn.variance[o]! + eps) : 1;
    bias[o] = bn ? (b[o]! - bn.mean[o]!) * s + bn.beta[o]! : b[o]!;
    for (let i = 0; i < per; i++) weight[o * per + i] = w[o * per + i]! * s;
  }
  return { weight, bias, shape: [co, ci, kh, kw] };
}

/** Opens a CRAFT safetensors file: the key prefix ('module.' or ''), the widths, every key and shape checked. */
export async function openCraftWeights(path: string): Promise<{ weights: SingleFileWeights; prefix: string; widths: CraftWidths }> {
  const weights = new SingleFileWeights(basename(path), await openSafetensors(path).catch((e: Error) => {
    throw new Error(`CRAFT weights ${path}: ${e.message} (expected a safetensors file converted from craft_mlt_25k.pth, see docs/data.md)`);
  }));
  try {
    const prefix = weights.keys().some((k) => k.startsWith('module.')) ? 'module.' : '';
    const widths = craftWidthsFrom((k) => (weights.has(k) ? weights.info(k).shape : undefined), prefix);
    const problems = checkKeys(weights, craftKeys(widths, prefix), 'CRAFT (clovaai/CRAFT-pytorch) layout; widths are read from each conv weight');
    if (widths.out['conv_cls.8'] !== 2) problems.unshift(`${prefix}conv_cls.8.weight has ${widths.out['conv_cls.8']} outputs; CRAFT has 2 (region and affinity scores)`);
    if (problems.length) throw new CheckpointValidationError(problems.map((p) => `${path}: ${p}`));
    return { weights, prefix, widths };
  } catch (e) {
    await weights.close();
    throw e;
  }
}

/** Reads one conv (and its BatchNorm, folded) from the checkpoint. */
export async function readFoldedConv(w: SingleFileWeights, prefix: string, c: CraftConv): Promise<FoldedConv> {
  const r = (k: string) => w.readFloat32(`${prefix}${k}`);
  const shape = w.info(`${prefix}${c.key}.weight`).shape;
  const bn = c.bn ? { gamma: await r(`${c.bn}.weight`), beta: await r(`${c.bn}.bias`), mean: await r(`${c.bn}.running_mean`), variance: await r(`${c.bn}.running_var`) } : undefined;
  return foldBatchNorm(await r(`${c.key}.weight`), await r(`${c.key}.bias`), shape, bn);
}

export class CraftModel {
  private constructor(
    readonly device: Device,
    readonly name: string,
    readonly widths: CraftWidths,
    private readonly convs: Map<string, { w: Tensor; b: Tensor; c: CraftConv }>,
  ) {}

  static async load(device: Device, path: string): Promise<CraftModel> {
    const { weights, prefix, widths } = await openCraftWeights(path);
    const convs = new Map<string, { w: Tensor; b: Tensor; c: CraftConv }>();
    try {
      for (const c of CRAFT_CONVS) {
        const f = await readFoldedConv(weights, prefix, c);
        convs.set(c.key, { w: Tensor.from(device, f.weight, f.shape, 'f32', c.key), b: Tensor.from(device, f.bias, [f.shape[0]], 'f32', c.key), c });
      }
    } catch (e) {
      for (const v of convs.values()) (v.w.dispose(), v.b.dispose());
      throw e;
    } finally {
      await weights.close();
    }
    return new CraftModel(device, basename(path), widths, convs);
  }

  private conv(x: Tensor, c: CraftConv): Tensor {
    const p = this.convs.get(c.key)!;
    const pad = (c.dilation * (c.k - 1)) / 2;
    const y = conv2d(x, p.w, { bias: p.b, padding: pad, dilation: c.dilation });
    if (!c.relu) return y;
    const r = relu(y);
    y.dispose();
    return r;
  }

  /** x [1, 3, H, W] (normalised RGB) -> [2, floor(H/2), floor(W/2)] region and affinity scores. Inputs of at least 16 x 16. */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[0] !== 1 || x.shape[1] !== 3) throw new Error(`CRAFT: input must be [1, 3, H, W], got [${x.shape.join(', ')}]`);
    if (x.shape[2]! < 16 || x.shape[3]! < 16) throw new Error(`CRAFT: the input must be at least 16 x 16 (four 2x2 pools), got ${x.shape[2]}x${x.shape[3]}`);
    const sources: Tensor[] = [];
    let h = x;
    const step = (next: Tensor) => {
      if (h !== x && !sources.includes(h)) h.dispose();
      h = next;
    };
    for (const s of CRAFT_BACKBONE) {
      if (s.op === 'conv') step(this.conv(h, s.conv));
      else if (s.op === 'pool') step(maxPool2d(h, { kernel: s.k, stride: s.s, padding: s.p }));
      else if (s.op === 'relu') step(relu(h)); // the source before it stays as it is (pre-ReLU)
      else sources.push(h);
    }
    // sources: relu2_2 (1/2), relu3_2 (1/4), relu4_3 (1/8), relu5_3 (1/16), fc7 (1/16).
    let y = concat([sources[4]!, sources[3]!], 1);
    CRAFT_UPCONVS.forEach((pair, i) => {
      if (i > 0) {
        const skip = sources[3 - i]!;
        const up = resizeBilinear(y, skip.shape[2]!, skip.shape[3]!);
        y.dispose();
        y = concat([up, skip], 1);
        up.dispose();
      }
      for (const c of pair) {
        const n = this.conv(y, c);
        y.dispose();
        y = n;
      }
    });
    for (const s of sources) s.dispose();
    for (const c of CRAFT_HEAD) {
      const n = this.conv(y, c);
      y.dispose();
      y = n;
    }
    const out = y.reshape(y.shape.slice(1));
    y.dispose();
    return out;
  }

  /** Region and affinity scores of one normalised image as host arrays (row-major, floor(H/2) x floor(W/2)). */
  async scores(x: Tensor): Promise<{ region: Float32Array; affinity: Float32Array; width: number; height: number }> {
    const y = this.forward(x);
    try {
      const [, height, width] = y.shape as [number, number, number];
      const a = await y.read();
      return { region: a.slice(0, width * height), affinity: a.slice(width * height), width, height };
    } finally {
      y.dispose();
    }
  }

  dispose(): void {
    for (const v of this.convs.values()) (v.w.dispose(), v.b.dispose());
    this.convs.clear();
  }
}
