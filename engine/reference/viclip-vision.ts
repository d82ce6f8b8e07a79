// Float64 reference of ViCLIP's video encoder (OpenGVLab InternVideo `viclip_vision.py`, VisionTransformer with
// kernel_size 1), step by step as its forward does: Conv3d (temporal kernel 1, no bias) on [3, T, S, S]; per frame
// the class token and positional embedding; the temporal embedding added to the patch tokens; tokens in ViCLIP's
// order (class token, then patch-major: n0t0, n0t1, ..., the '(b n) t m -> b (n t) m' rearrange); ln_pre;
// residual blocks x + attn(ln_1 x), x + c_proj(QuickGELU(c_fc(ln_2 x))) with nn.MultiheadAttention (packed
// in_proj_weight/in_proj_bias, out_proj); ln_post of token 0; @ proj. Weights under the checkpoint's own names.
// Input: T frames [T, 3, S, S] (ImageNet-normalised, time order).
import { add64, conv2d64, layerNorm64, linear64, matmul64, quickGelu64, reshape64, sdpa64, sliceCols64, sliceRows64, tensor64, type Tensor64 } from './tensor64.js';
import { getWeight64, type WeightSource64 } from './weights64.js';

export interface ViclipVisionConfig64 {
  width: number;
  layers: number;
  heads: number;
  imageSize: number;
  patchSize: number;
  frames: number;
  outputDim: number;
}

export interface ViclipVisionOutput64 {
  /** ln_post(last block)[class token] [width]. */
  pooled: Tensor64;
  /** pooled @ proj [outputDim] (ViCLIP normalises it afterwards). */
  embeds: Tensor64;
  /** The token sequence fed to ln_pre, in ViCLIP's order [1 + N*T, width]. */
  tokens: Tensor64;
}

const EPS = 1e-5;

export function viclipVisionForward64(w: WeightSource64, cfg: ViclipVisionConfig64, frames: Tensor64): ViclipVisionOutput64 {
  const { width: d, frames: T, imageSize: S, patchSize: P } = cfg;
  const g = S / P;
  const N = g * g;
  if (frames.shape.join() !== [T, 3, S, S].join()) throw new Error(`viclipVisionForward64: frames [${frames.shape}], expected [${T}, 3, ${S}, ${S}]`);
  const v = (k: string, shape: number[]) => getWeight64(w, `vision_encoder.${k}`, shape);
  const conv = reshape64(v('conv1.weight', [d, 3, 1, P, P]), [d, 3, P, P]);
  const cls = v('class_embedding', [d]);
  const pos = v('positional_embedding', [N + 1, d]);
  const temporal = v('temporal_positional_embedding', [1, T, d]);
  // Per frame: conv -> [d, g, g] -> tokens [N, d] (row-major patches) + positional[1..N].
  const perFrame: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const img = tensor64([3, S, S], frames.data.subarray(t * 3 * S * S, (t + 1) * 3 * S * S));
    const c = conv2d64(img, conv, undefined, { stride: P }); // [d, g, g]
    const tok = new Float64Array(N * d);
    for (let n = 0; n < N; n++) for (let i = 0; i < d; i++) tok[n * d + i] = c.data[i * N + n]! + pos.data[(1 + n) * d + i]! + temporal.data[t * d + i]!;
    perFrame.push(tok);
  }
  const seq = new Float64Array((1 + N * T) * d);
  for (let i = 0; i < d; i++) seq[i] = cls.data[i]! + pos.data[i]!;
  for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) seq.set(perFrame[t]!.subarray(n * d, (n + 1) * d), (1 + n * T + t) * d);
  const tokens = tensor64([1 + N * T, d], seq);
  const ln = (name: string, x: Tensor64) => layerNorm64(x, EPS, v(`${name}.weight`, [d]), v(`${name}.bias`, [d]));
  let x = ln('ln_pre', tokens);
  for (let l = 0; l < cfg.layers; l++) {
    const b = `transformer.resblocks.${l}.`;
    const h = ln(`${b}ln_1`, x);
    const qkv = linear64(h, v(`${b}attn.in_proj_weight`, [3 * d, d]), v(`${b}attn.in_proj_bias`, [3 * d]));
    const [q, k, vv] = [0, 1, 2].map((j) => sliceCols64(qkv, j * d, (j + 1) * d));
    const att = sdpa64(q!, k!, vv!, cfg.heads);
    x = add64(x, linear64(att, v(`${b}attn.out_proj.weight`, [d, d]), v(`${b}attn.out_proj.bias`, [d])));
    const m = quickGelu64(linear64(ln(`${b}ln_2`, x), v(`${b}mlp.c_fc.weight`, [4 * d, d]), v(`${b}mlp.c_fc.bias`, [4 * d])));
    x = add64(x, linear64(m, v(`${b}mlp.c_proj.weight`, [d, 4 * d]), v(`${b}mlp.c_proj.bias`, [d])));
  }
  const pooled = ln('ln_post', sliceRows64(x, 0, 1));
  const embeds = matmul64(pooled, v('proj', [d, cfg.outputDim]));
  return { pooled: reshape64(pooled, [d]), embeds: reshape64(embeds, [cfg.outputDim]), tokens };
}
