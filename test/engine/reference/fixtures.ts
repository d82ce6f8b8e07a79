// Test helpers for the float64 references: a seeded RNG, random tensors and random weights in the real
// checkpoint key layout (Vchitect transformer per the spec's weight list, HF CLIP text, HF T5 encoder, diffusers VAE).
import { type Tensor64, numel } from '../../../engine/reference/tensor64.js';
import type { VchitectConfig64 } from '../../../engine/reference/vchitect.js';
import type { ClipTextConfig64 } from '../../../engine/reference/clip.js';
import type { T5EncoderConfig64 } from '../../../engine/reference/t5.js';
import type { VaeConfig64 } from '../../../engine/reference/vae.js';
import { mulberry32 } from '../../../engine/mulberry32.js';

/** mulberry32 uniform [0,1) plus Box-Muller normals. */
export function makeRng(seed: number): { uniform: () => number; normal: () => number } {
  const uniform = mulberry32(seed);
  const normal = () => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

export type Rng = ReturnType<typeof makeRng>;

export function randn64(rng: Rng, shape: number[], scale = 1): Tensor64 {
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * scale;
  return { shape: [...shape], data };
}

/** Name -> shape list of the Vchitect transformer, from the spec's "Weight names". */
export function vchitectWeightShapes(cfg: VchitectConfig64): Map<string, number[]> {
  const d = cfg.heads * cfg.headDim;
  const p = cfg.patchSize;
  const m = cfg.posEmbedMaxSize;
  const shapes = new Map<string, number[]>();
  const lin = (name: string, out: number, inF: number) => {
    shapes.set(`${name}.weight`, [out, inF]);
    shapes.set(`${name}.bias`, [out]);
  };
  shapes.set('pos_embed.proj.weight', [d, cfg.inChannels, p, p]);
  shapes.set('pos_embed.proj.bias', [d]);
  shapes.set('pos_embed.pos_embed', [1, m * m, d]);
  lin('time_text_embed.timestep_embedder.linear_1', d, 256);
  lin('time_text_embed.timestep_embedder.linear_2', d, d);
  lin('time_text_embed.text_embedder.linear_1', d, cfg.pooledProjectionDim);
  lin('time_text_embed.text_embedder.linear_2', d, d);
  lin('context_embedder', d, cfg.jointAttentionDim);
  for (let i = 0; i < cfg.numLayers; i++) {
    const last = i === cfg.numLayers - 1;
    const b = `transformer_blocks.${i}`;
    lin(`${b}.norm1.linear`, 6 * d, d);
    lin(`${b}.norm1_context.linear`, (last ? 2 : 6) * d, d);
    const attn = [
      'to_q', 'to_k', 'to_v', 'to_q_cross', 'to_q_temp', 'to_k_temp', 'to_v_temp', 'add_q_proj', 'add_k_proj',
      'add_v_proj', 'to_out.0', 'to_out_temporal', 'to_add_out', 'to_add_out_temporal', 'to_out_context',
    ];
    for (const a of attn) if (!(last && a === 'to_add_out')) lin(`${b}.attn.${a}`, d, d);
    lin(`${b}.ff.net.0.proj`, 4 * d, d);
    lin(`${b}.ff.net.2`, d, 4 * d);
    if (!last) {
      lin(`${b}.ff_context.net.0.proj`, 4 * d, d);
      lin(`${b}.ff_context.net.2`, d, 4 * d);
    }
  }
  lin('norm_out.linear', 2 * d, d);
  lin('proj_out', p * p * cfg.outChannels, d);
  return shapes;
}

/** Random weights for a shape list: matrices ~ N(0, 1/in), vectors/tables ~ N(0, 0.1^2)-ish. */
export function randomWeights(shapes: Map<string, number[]>, seed: number, gain = 1): Map<string, Tensor64> {
  const rng = makeRng(seed);
  const out = new Map<string, Tensor64>();
  for (const [name, shape] of shapes) {
    const fanIn = shape.length >= 2 ? numel(shape.slice(1)) : 0;
    const scale = fanIn > 0 && !name.includes('pos_embed.pos_embed') && !name.includes('embedding') && !name.includes('shared')
      ? gain / Math.sqrt(fanIn)
      : name.endsWith('.bias') ? 0.1 : 0.5;
    out.set(name, randn64(rng, shape, scale));
  }
  return out;
}

export function randomVchitectWeights(cfg: VchitectConfig64, seed: number): Map<string, Tensor64> {
  return randomWeights(vchitectWeightShapes(cfg), seed);
}

export const TINY_VCHITECT: VchitectConfig64 = {
  numLayers: 3,
  heads: 2,
  headDim: 4,
  patchSize: 2,
  inChannels: 3,
  outChannels: 5,
  posEmbedMaxSize: 7,
  jointAttentionDim: 6,
  pooledProjectionDim: 5,
};

export function clipWeightShapes(cfg: ClipTextConfig64): Map<string, number[]> {
  const d = cfg.hiddenSize;
  const s = new Map<string, number[]>();
  s.set('text_model.embeddings.token_embedding.weight', [cfg.vocabSize, d]);
  s.set('text_model.embeddings.position_embedding.weight', [cfg.maxPositionEmbeddings, d]);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      s.set(`${p}.self_attn.${n}.weight`, [d, d]);
      s.set(`${p}.self_attn.${n}.bias`, [d]);
    }
    for (const n of ['layer_norm1', 'layer_norm2']) {
      s.set(`${p}.${n}.weight`, [d]);
      s.set(`${p}.${n}.bias`, [d]);
    }
    s.set(`${p}.mlp.fc1.weight`, [cfg.intermediateSize, d]);
    s.set(`${p}.mlp.fc1.bias`, [cfg.intermediateSize]);
    s.set(`${p}.mlp.fc2.weight`, [d, cfg.intermediateSize]);
    s.set(`${p}.mlp.fc2.bias`, [d]);
  }
  s.set('text_model.final_layer_norm.weight', [d]);
  s.set('text_model.final_layer_norm.bias', [d]);
  s.set('text_projection.weight', [cfg.projectionDim, d]);
  return s;
}

export const TINY_CLIP: ClipTextConfig64 = {
  vocabSize: 20,
  hiddenSize: 8,
  intermediateSize: 12,
  numLayers: 3,
  heads: 2,
  maxPositionEmbeddings: 7,
  hiddenAct: 'quick_gelu',
  layerNormEps: 1e-5,
  projectionDim: 6,
  eosTokenId: 19,
};

export function t5WeightShapes(cfg: T5EncoderConfig64): Map<string, number[]> {
  const d = cfg.dModel;
  const inner = cfg.heads * cfg.dKv;
  const s = new Map<string, number[]>();
  s.set('shared.weight', [cfg.vocabSize, d]);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `encoder.block.${i}.layer`;
    s.set(`${p}.0.SelfAttention.q.weight`, [inner, d]);
    s.set(`${p}.0.SelfAttention.k.weight`, [inner, d]);
    s.set(`${p}.0.SelfAttention.v.weight`, [inner, d]);
    s.set(`${p}.0.SelfAttention.o.weight`, [d, inner]);
    if (i === 0) s.set(`${p}.0.SelfAttention.relative_attention_bias.weight`, [cfg.relativeAttentionNumBuckets, cfg.heads]);
    s.set(`${p}.0.layer_norm.weight`, [d]);
    if (cfg.feedForwardProj === 'gated-gelu') {
      s.set(`${p}.1.DenseReluDense.wi_0.weight`, [cfg.dFf, d]);
      s.set(`${p}.1.DenseReluDense.wi_1.weight`, [cfg.dFf, d]);
    } else {
      s.set(`${p}.1.DenseReluDense.wi.weight`, [cfg.dFf, d]);
    }
    s.set(`${p}.1.DenseReluDense.wo.weight`, [d, cfg.dFf]);
    s.set(`${p}.1.layer_norm.weight`, [d]);
  }
  s.set('encoder.final_layer_norm.weight', [d]);
  return s;
}

export const TINY_T5: T5EncoderConfig64 = {
  vocabSize: 30,
  dModel: 8,
  dKv: 3,
  dFf: 10,
  numLayers: 2,
  heads: 2,
  relativeAttentionNumBuckets: 32,
  relativeAttentionMaxDistance: 128,
  layerNormEpsilon: 1e-6,
  feedForwardProj: 'gated-gelu',
};

export function vaeWeightShapes(cfg: VaeConfig64, opts: { encoder: boolean; decoder: boolean }): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const conv = (name: string, cout: number, cin: number, k: number) => {
    s.set(`${name}.weight`, [cout, cin, k, k]);
    s.set(`${name}.bias`, [cout]);
  };
  const norm = (name: string, c: number) => {
    s.set(`${name}.weight`, [c]);
    s.set(`${name}.bias`, [c]);
  };
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.conv_shortcut`, cout, cin, 1);
  };
  const mid = (name: string, c: number) => {
    resnet(`${name}.resnets.0`, c, c);
    norm(`${name}.attentions.0.group_norm`, c);
    for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      s.set(`${name}.attentions.0.${n}.weight`, [c, c]);
      s.set(`${name}.attentions.0.${n}.bias`, [c]);
    }
    resnet(`${name}.resnets.1`, c, c);
  };
  const boc = cfg.blockOutChannels;
  const n = boc.length;
  if (opts.encoder) {
    conv('encoder.conv_in', boc[0], cfg.inChannels, 3);
    let cin = boc[0];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cfg.layersPerBlock; j++) {
        resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? cin : boc[i], boc[i]);
      }
      if (i < n - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, boc[i], boc[i], 3);
      cin = boc[i];
    }
    mid('encoder.mid_block', boc[n - 1]);
    norm('encoder.conv_norm_out', boc[n - 1]);
    conv('encoder.conv_out', 2 * cfg.latentChannels, boc[n - 1], 3);
    if (cfg.useQuantConv) conv('quant_conv', 2 * cfg.latentChannels, 2 * cfg.latentChannels, 1);
  }
  if (opts.decoder) {
    if (cfg.usePostQuantConv) conv('post_quant_conv', cfg.latentChannels, cfg.latentChannels, 1);
    const rev = [...boc].reverse();
    conv('decoder.conv_in', rev[0], cfg.latentChannels, 3);
    mid('decoder.mid_block', rev[0]);
    let prev = rev[0];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cfg.layersPerBlock + 1; j++) {
        resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : rev[i], rev[i]);
      }
      if (i < n - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, rev[i], rev[i], 3);
      prev = rev[i];
    }
    norm('decoder.conv_norm_out', boc[0]);
    conv('decoder.conv_out', cfg.outChannels, boc[0], 3);
  }
  return s;
}

/** Random VAE weights; GroupNorm weights near 1 so activations stay O(1). */
export function randomVaeWeights(cfg: VaeConfig64, seed: number, opts = { encoder: true, decoder: true }): Map<string, Tensor64> {
  const w = randomWeights(vaeWeightShapes(cfg, opts), seed);
  for (const [name, t] of w) {
    if (t.shape.length === 1 && name.endsWith('.weight')) t.data.forEach((v, i) => (t.data[i] = 1 + 0.1 * v));
  }
  return w;
}

export const TINY_VAE: VaeConfig64 = {
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [4, 8],
  layersPerBlock: 1,
  normNumGroups: 2,
  scalingFactor: 1.5305,
  shiftFactor: 0.0609,
};

/** Copy of a weight map with some entries replaced. */
export function withWeights(base: Map<string, Tensor64>, changes: Record<string, Tensor64>): Map<string, Tensor64> {
  const m = new Map(base);
  for (const [k, v] of Object.entries(changes)) {
    if (!m.has(k)) throw new Error(`withWeights: unknown key ${k}`);
    m.set(k, v);
  }
  return m;
}

export function zerosLike(t: Tensor64): Tensor64 {
  return { shape: [...t.shape], data: new Float64Array(t.data.length) };
}

export function expectClose(a: Tensor64 | Float64Array, b: Tensor64 | Float64Array, tol: number): void {
  const x = a instanceof Float64Array ? a : a.data;
  const y = b instanceof Float64Array ? b : b.data;
  if (!(a instanceof Float64Array) && !(b instanceof Float64Array) && a.shape.join(',') !== b.shape.join(',')) {
    throw new Error(`shape mismatch [${a.shape}] vs [${b.shape}]`);
  }
  if (x.length !== y.length) throw new Error(`length mismatch ${x.length} vs ${y.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= tol) && !(d <= worst)) {
      worst = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  if (at >= 0) throw new Error(`max |diff| ${worst} > ${tol} at ${at}: ${x[at]} vs ${y[at]}`);
}

export function maxAbs(a: Tensor64): number {
  let m = 0;
  for (const v of a.data) m = Math.max(m, Math.abs(v));
  return m;
}
