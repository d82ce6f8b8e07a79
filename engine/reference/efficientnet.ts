// Float64 reference of a timm EfficientNet classifier (efficientnet_b3a + LAION's watermark head) on one image
// [3, H, W] (ImageNet-normalised), channels first, straight from the state-dict weights (the BatchNorms applied with
// their running statistics, not folded): stem conv 3x3 s2 + BN + SiLU; depthwise-separable and inverted-residual
// blocks with squeeze-excitation (mean, reduce + SiLU, expand, sigmoid gate) and identity skips; conv_head + BN +
// SiLU; global average pool; the classifier's linears with ReLU between. Returns the logits.
import type { EfficientNetConfig } from '../io/configs.js';
import { conv2d64, linear64, relu64, silu64, tensor64, type Tensor64 } from './tensor64.js';
import { getWeight64, type WeightSource64 } from './weights64.js';

const sym = (k: number, s: number) => Math.floor((s - 1 + (k - 1)) / 2);

function batchNorm64(w: WeightSource64, name: string, x: Tensor64, eps: number): Tensor64 {
  const [c, h, wd] = x.shape as [number, number, number];
  const g = getWeight64(w, `${name}.weight`, [c]).data, b = getWeight64(w, `${name}.bias`, [c]).data;
  const m = getWeight64(w, `${name}.running_mean`, [c]).data, v = getWeight64(w, `${name}.running_var`, [c]).data;
  const out = new Float64Array(x.data.length);
  for (let ch = 0; ch < c; ch++) {
    const s = g[ch]! / Math.sqrt(v[ch]! + eps);
    for (let i = ch * h * wd; i < (ch + 1) * h * wd; i++) out[i] = (x.data[i]! - m[ch]!) * s + b[ch]!;
  }
  return { shape: x.shape, data: out };
}

/** Depthwise conv of x [C, H, W] with w [C, 1, k, k], symmetric padding, no bias. */
export function depthwise64(x: Tensor64, w: Tensor64, stride: number): Tensor64 {
  const [c, h, wd] = x.shape as [number, number, number];
  const k = w.shape[2]!;
  const p = sym(k, stride);
  const ho = Math.floor((h + 2 * p - k) / stride) + 1, wo = Math.floor((wd + 2 * p - k) / stride) + 1;
  const out = new Float64Array(c * ho * wo);
  for (let ch = 0; ch < c; ch++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        let s = 0;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride - p + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * stride - p + kx;
            if (ix < 0 || ix >= wd) continue;
            s += w.data[(ch * k + ky) * k + kx]! * x.data[(ch * h + iy) * wd + ix]!;
          }
        }
        out[(ch * ho + oy) * wo + ox] = s;
      }
  return { shape: [c, ho, wo], data: out };
}

function meanPixels64(x: Tensor64): Tensor64 {
  const [c, h, w] = x.shape as [number, number, number];
  const out = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = 0; i < h * w; i++) s += x.data[ch * h * w + i]!;
    out[ch] = s / (h * w);
  }
  return tensor64([1, c], out);
}

function se64(w: WeightSource64, name: string, x: Tensor64): Tensor64 {
  const [c, h, wd] = x.shape as [number, number, number];
  const rd = getWeight64(w, `${name}.conv_reduce.bias`).shape[0]!;
  const lin = (n: string, o: number, i: number) => ({ shape: [o, i], data: getWeight64(w, `${n}.weight`, [o, i, 1, 1]).data });
  const r = silu64(linear64(meanPixels64(x), lin(`${name}.conv_reduce`, rd, c), getWeight64(w, `${name}.conv_reduce.bias`, [rd])));
  const e = linear64(r, lin(`${name}.conv_expand`, c, rd), getWeight64(w, `${name}.conv_expand.bias`, [c]));
  const out = new Float64Array(x.data.length);
  for (let ch = 0; ch < c; ch++) {
    const g = 1 / (1 + Math.exp(-e.data[ch]!));
    for (let i = ch * h * wd; i < (ch + 1) * h * wd; i++) out[i] = x.data[i]! * g;
  }
  return { shape: x.shape, data: out };
}

const conv1x1 = (w: WeightSource64, key: string, x: Tensor64) => conv2d64(x, getWeight64(w, key), undefined);

function add(a: Tensor64, b: Tensor64): Tensor64 {
  return { shape: a.shape, data: a.data.map((v, i) => v + b.data[i]!) };
}

/** Logits of one image [3, H, W]. */
export function efficientNetForward64(w: WeightSource64, cfg: EfficientNetConfig, image: Tensor64): Float64Array {
  const eps = cfg.bnEps;
  let x = conv2d64(image, getWeight64(w, 'conv_stem.weight', [cfg.stem, 3, 3, 3]), undefined, { stride: 2, padding: sym(3, 2) });
  x = silu64(batchNorm64(w, 'bn1', x, eps));
  cfg.stages.forEach((stage, s) => stage.forEach((b, j) => {
    const p = `blocks.${s}.${j}`;
    const skip = b.stride === 1 && b.in === b.out;
    let y: Tensor64;
    if (b.type === 'ds') {
      y = silu64(batchNorm64(w, `${p}.bn1`, depthwise64(x, getWeight64(w, `${p}.conv_dw.weight`), b.stride), eps));
      y = se64(w, `${p}.se`, y);
      y = batchNorm64(w, `${p}.bn2`, conv1x1(w, `${p}.conv_pw.weight`, y), eps);
    } else {
      y = silu64(batchNorm64(w, `${p}.bn1`, conv1x1(w, `${p}.conv_pw.weight`, x), eps));
      y = silu64(batchNorm64(w, `${p}.bn2`, depthwise64(y, getWeight64(w, `${p}.conv_dw.weight`), b.stride), eps));
      y = se64(w, `${p}.se`, y);
      y = batchNorm64(w, `${p}.bn3`, conv1x1(w, `${p}.conv_pwl.weight`, y), eps);
    }
    x = skip ? add(y, x) : y;
  }));
  x = silu64(batchNorm64(w, 'bn2', conv1x1(w, 'conv_head.weight', x), eps));
  let h = meanPixels64(x);
  cfg.classifier.forEach((l, i) => {
    h = linear64(h, getWeight64(w, `${l.key}.weight`, [l.out, l.in]), getWeight64(w, `${l.key}.bias`, [l.out]));
    if (i < cfg.classifier.length - 1) h = relu64(h);
  });
  return h.data;
}

/** softmax(logits)[0]: LAION's watermark class is index 0 (their labels: 0 watermark, 1 clear). */
export function watermarkProbability64(logits: ArrayLike<number>): number {
  const m = Math.max(...Array.from(logits));
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - m);
  return Math.exp(logits[0]! - m) / z;
}
