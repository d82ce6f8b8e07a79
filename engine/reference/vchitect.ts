// Float64 reference of the Vchitect-2.0 transformer (spec/vchitect-2.0.md section 2), batch 1, F latent frames.
// Weights are looked up by the real checkpoint names; per-part functions are exported so GPU pieces can be
// compared alone (patch embed, temb, one attention, one block, final layer, whole forward).
import {
  type Tensor64,
  add64,
  addRows64,
  assertShape,
  chunk64,
  concatRows64,
  conv2d64,
  cropPosEmbed64,
  geluTanh64,
  index0,
  layerNorm64,
  linear64,
  map64,
  mulRows64,
  ropeInterleaved64,
  scale64,
  sdpa64,
  silu64,
  sliceRows64,
  stack64,
  timestepEmbedding64,
  transpose2d64,
  reshape64,
  unpatchify64,
} from './tensor64.js';
import { type WeightSource64, getWeight64 } from './weights64.js';

export interface VchitectConfig64 {
  numLayers: number;
  heads: number;
  /** Per-head dim (64 in the real model); D = heads * headDim. */
  headDim: number;
  patchSize: number;
  inChannels: number;
  outChannels: number;
  /** M: the stored pos table is [1, M*M, D]. */
  posEmbedMaxSize: number;
  jointAttentionDim: number;
  pooledProjectionDim: number;
}

export interface VchitectInputs64 {
  /** Latents [1, F, inChannels, Hl, Wl]. */
  hiddenStates: Tensor64;
  /** Scheduler timestep sigma*1000 (float, 0..1000). */
  timestep: number;
  /** Prompt embeddings [1, T, jointAttentionDim]. */
  encoderHiddenStates: Tensor64;
  /** Pooled text embedding [1, pooledProjectionDim]. */
  pooledProjections: Tensor64;
}

export const VCHITECT_LN_EPS = 1e-6;
export const VCHITECT_ROPE_THETA = 1e6;
export const VCHITECT_SPATIAL_FACTOR = 1.1;

const modelDim = (cfg: VchitectConfig64) => cfg.heads * cfg.headDim;

/** nn.Linear by checkpoint prefix (`${prefix}.weight` [out,in], `${prefix}.bias` [out]). */
function linearNamed(w: WeightSource64, prefix: string, x: Tensor64, outF: number, inF: number): Tensor64 {
  return linear64(x, getWeight64(w, `${prefix}.weight`, [outF, inF]), getWeight64(w, `${prefix}.bias`, [outF]));
}

/** LN(x) * (1 + scale) + shift on rows of x [N, D] (no-affine LayerNorm, eps 1e-6). */
export function modulate64(x: Tensor64, shift: Tensor64, scale: Tensor64): Tensor64 {
  return addRows64(mulRows64(layerNorm64(x, VCHITECT_LN_EPS), map64(scale, (s) => 1 + s)), shift);
}

/** Per-frame patch embed + cropped stored pos table: frame [C, Hl, Wl] -> tokens [h*w, D] (l = row*w + col). */
export function vchitectPatchEmbed64(w: WeightSource64, cfg: VchitectConfig64, frame: Tensor64): Tensor64 {
  const d = modelDim(cfg);
  const p = cfg.patchSize;
  const proj = conv2d64(
    frame,
    getWeight64(w, 'pos_embed.proj.weight', [d, cfg.inChannels, p, p]),
    getWeight64(w, 'pos_embed.proj.bias', [d]),
    { stride: p },
  );
  const [, h, wd] = proj.shape;
  const tokens = transpose2d64(reshape64(proj, [d, h * wd]));
  const m = cfg.posEmbedMaxSize;
  const table = getWeight64(w, 'pos_embed.pos_embed', [1, m * m, d]);
  return add64(tokens, cropPosEmbed64(table, m, h, wd));
}

/** temb [D] = timestep_embedder(sinusoid256(t)) + text_embedder(pooled). */
export function vchitectTemb64(w: WeightSource64, cfg: VchitectConfig64, timestep: number, pooled: Tensor64): Tensor64 {
  const d = modelDim(cfg);
  const pd = cfg.pooledProjectionDim;
  if (pooled.data.length !== pd) throw new Error(`vchitectTemb64: pooled has ${pooled.data.length} values, expected ${pd}`);
  const sin = timestepEmbedding64(timestep, 256);
  const te = 'time_text_embed.timestep_embedder';
  const t1 = silu64(linearNamed(w, `${te}.linear_1`, sin, d, 256));
  const t2 = linearNamed(w, `${te}.linear_2`, t1, d, d);
  const pe = 'time_text_embed.text_embedder';
  const p1 = silu64(linearNamed(w, `${pe}.linear_1`, reshape64(pooled, [pd]), d, pd));
  const p2 = linearNamed(w, `${pe}.linear_2`, p1, d, d);
  return add64(t2, p2);
}

/**
 * Temporal attention of one block over the whole video: unroped per-frame queries/keys/values [S, D] (S = L + T)
 * -> per-frame outputs [S, D]. The default is full attention over the F frames with RoPE on the frame index;
 * a variant (dual-scope attention, reference/dual-scope.ts) replaces it.
 */
export type TemporalAttention64 = (q: Tensor64[], k: Tensor64[], v: Tensor64[], heads: number) => Tensor64[];

export interface VchitectOptions64 {
  temporal?: TemporalAttention64;
}

export interface VchitectAttentionOut64 {
  /** [F, L, D] */
  visual: Tensor64;
  /** [F, T, D]; null in the last (context_pre_only) block. */
  text: Tensor64 | null;
}

/** The model's own temporal attention: per token position, all F frames, RoPE on the frame index. */
export const fullTemporal64: TemporalAttention64 = (qT, kT, vT, heads) => {
  const nf = qT.length;
  const [s, d] = qT[0]!.shape;
  const tOut = Array.from({ length: nf }, () => new Float64Array(s * d));
  const positions = Array.from({ length: nf }, (_, f) => f);
  const gather = (src: Tensor64[], row: number) => {
    const g = new Float64Array(nf * d);
    for (let f = 0; f < nf; f++) g.set(src[f].data.subarray(row * d, (row + 1) * d), f * d);
    return { shape: [nf, d], data: g };
  };
  for (let row = 0; row < s; row++) {
    const q = ropeInterleaved64(gather(qT, row), heads, positions, VCHITECT_ROPE_THETA);
    const k = ropeInterleaved64(gather(kT, row), heads, positions, VCHITECT_ROPE_THETA);
    const o = sdpa64(q, k, gather(vT, row), heads);
    for (let f = 0; f < nf; f++) tOut[f].set(o.data.subarray(f * d, (f + 1) * d), row * d);
  }
  return tOut.map((data) => ({ shape: [s, d], data }));
};

/**
 * The three-branch attention of block `blockIndex`.
 * xh: modulated visual tokens [F, L, D]; ch: modulated text tokens [F, T, D] (one copy per frame).
 */
export function vchitectAttention64(
  w: WeightSource64,
  cfg: VchitectConfig64,
  blockIndex: number,
  xh: Tensor64,
  ch: Tensor64,
  opts: VchitectOptions64 = {},
): VchitectAttentionOut64 {
  const d = modelDim(cfg);
  const [nf, nl] = xh.shape;
  const nt = ch.shape[1];
  assertShape(xh, [nf, nl, d], `block ${blockIndex} attention visual input`);
  assertShape(ch, [nf, nt, d], `block ${blockIndex} attention text input`);
  const isLast = blockIndex === cfg.numLayers - 1;
  const a = `transformer_blocks.${blockIndex}.attn`;
  const lin = (name: string, x: Tensor64) => linearNamed(w, `${a}.${name}`, x, d, d);
  const heads = cfg.heads;
  const s = nl + nt;

  // Per-frame projections, visual rows first then text rows (S = L + T).
  const qS: Tensor64[] = [];
  const kS: Tensor64[] = [];
  const vS: Tensor64[] = [];
  const qT: Tensor64[] = [];
  const kT: Tensor64[] = [];
  const vT: Tensor64[] = [];
  const qX: Tensor64[] = [];
  const ck: Tensor64[] = [];
  const cv: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    const x = index0(xh, f);
    const c = index0(ch, f);
    const cq = lin('add_q_proj', c);
    ck.push(lin('add_k_proj', c));
    cv.push(lin('add_v_proj', c));
    qS.push(concatRows64([lin('to_q', x), cq]));
    kS.push(concatRows64([lin('to_k', x), ck[f]]));
    vS.push(concatRows64([lin('to_v', x), cv[f]]));
    qT.push(concatRows64([lin('to_q_temp', x), cq]));
    kT.push(concatRows64([lin('to_k_temp', x), ck[f]]));
    vT.push(concatRows64([lin('to_v_temp', x), cv[f]]));
    qX.push(concatRows64([lin('to_q_cross', x), cq]));
  }

  // (1) spatial per frame over [visual; text]; (3) cross per frame against frame-0 text K/V.
  const hsum: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    const spatial = sdpa64(qS[f], kS[f], vS[f], heads);
    const cross = sdpa64(qX[f], ck[0], cv[0], heads);
    hsum.push(add64(scale64(spatial, VCHITECT_SPATIAL_FACTOR), lin('to_out_context', cross)));
  }

  // (2) temporal: for each token position s, attend over the F frames with RoPE on the frame index (or the variant).
  const tOut = (opts.temporal ?? fullTemporal64)(qT, kT, vT, heads).map((t) => t.data);
  const temporalFactor = nf === 1 ? 0 : 1;

  const visual: Tensor64[] = [];
  const text: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    const tf: Tensor64 = { shape: [s, d], data: tOut[f] };
    const vis = lin('to_out.0', sliceRows64(hsum[f], 0, nl));
    const visT = scale64(lin('to_out_temporal', sliceRows64(tf, 0, nl)), temporalFactor);
    visual.push(add64(vis, visT));
    if (!isLast) {
      const txt = lin('to_add_out', sliceRows64(hsum[f], nl, s));
      const txtT = scale64(lin('to_add_out_temporal', sliceRows64(tf, nl, s)), temporalFactor);
      text.push(add64(txt, txtT));
    }
  }
  return { visual: stack64(visual), text: isLast ? null : stack64(text) };
}

/** Feed-forward D -> 4D -> D with tanh GELU, by checkpoint prefix (`ff` or `ff_context`). */
function feedForward64(w: WeightSource64, prefix: string, x: Tensor64, d: number): Tensor64 {
  const hidden = geluTanh64(linearNamed(w, `${prefix}.net.0.proj`, x, 4 * d, d));
  return linearNamed(w, `${prefix}.net.2`, hidden, d, 4 * d);
}

export interface VchitectBlockOut64 {
  /** [F, L, D] */
  x: Tensor64;
  /** [F, T, D]; null after the last block. */
  c: Tensor64 | null;
}

/**
 * One transformer block. x [F, L, D]; c [1, T, D] (block 0, broadcast to all frames) or [F, T, D]; temb [D].
 * The last block (blockIndex == numLayers-1) uses norm1_context chunk2 (scale, shift) and drops the text stream.
 */
export function vchitectBlock64(
  w: WeightSource64,
  cfg: VchitectConfig64,
  blockIndex: number,
  x: Tensor64,
  c: Tensor64,
  temb: Tensor64,
  opts: VchitectOptions64 = {},
): VchitectBlockOut64 {
  const d = modelDim(cfg);
  const [nf, nl] = x.shape;
  const [nc, nt] = c.shape;
  assertShape(x, [nf, nl, d], `block ${blockIndex} visual stream`);
  if (nc !== 1 && nc !== nf) throw new Error(`block ${blockIndex}: text stream has ${nc} copies, expected 1 or ${nf}`);
  assertShape(c, [nc, nt, d], `block ${blockIndex} text stream`);
  const isLast = blockIndex === cfg.numLayers - 1;
  const b = `transformer_blocks.${blockIndex}`;
  const e = silu64(reshape64(temb, [d]));

  const [sh1, sc1, g1, sh2, sc2, g2] = chunk64(linearNamed(w, `${b}.norm1.linear`, e, 6 * d, d), 6);
  const cFrame = (f: number) => index0(c, nc === 1 ? 0 : f);
  const xh = stack64(Array.from({ length: nf }, (_, f) => modulate64(index0(x, f), sh1, sc1)));

  let ch: Tensor64;
  let cmod: Tensor64[] = [];
  if (isLast) {
    const [csc, csh] = chunk64(linearNamed(w, `${b}.norm1_context.linear`, e, 2 * d, d), 2);
    ch = stack64(Array.from({ length: nf }, (_, f) => modulate64(cFrame(f), csh, csc)));
  } else {
    cmod = chunk64(linearNamed(w, `${b}.norm1_context.linear`, e, 6 * d, d), 6);
    const [csh1, csc1] = cmod;
    ch = stack64(Array.from({ length: nf }, (_, f) => modulate64(cFrame(f), csh1, csc1)));
  }

  const att = vchitectAttention64(w, cfg, blockIndex, xh, ch, opts);

  const xs: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    let xf = add64(index0(x, f), mulRows64(index0(att.visual, f), g1));
    const ff = feedForward64(w, `${b}.ff`, modulate64(xf, sh2, sc2), d);
    xf = add64(xf, mulRows64(ff, g2));
    xs.push(xf);
  }
  if (isLast || att.text === null) return { x: stack64(xs), c: null };

  const [, , cg1, csh2, csc2, cg2] = cmod;
  const cs: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    let cf = add64(cFrame(f), mulRows64(index0(att.text, f), cg1));
    const ff = feedForward64(w, `${b}.ff_context`, modulate64(cf, csh2, csc2), d);
    cf = add64(cf, mulRows64(ff, cg2));
    cs.push(cf);
  }
  return { x: stack64(xs), c: stack64(cs) };
}

/** Final AdaLayerNormContinuous (scale first) + proj_out + unpatchify: x [F, L, D] -> [F, outC, 2h, 2w]. */
export function vchitectFinal64(
  w: WeightSource64,
  cfg: VchitectConfig64,
  x: Tensor64,
  temb: Tensor64,
  h: number,
  wd: number,
): Tensor64 {
  const d = modelDim(cfg);
  const p = cfg.patchSize;
  const nf = x.shape[0];
  assertShape(x, [nf, h * wd, d], 'final layer input');
  const [scale, shift] = chunk64(linearNamed(w, 'norm_out.linear', silu64(reshape64(temb, [d])), 2 * d, d), 2);
  const outDim = p * p * cfg.outChannels;
  const frames: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    const y = linearNamed(w, 'proj_out', modulate64(index0(x, f), shift, scale), outDim, d);
    frames.push(unpatchify64(y, h, wd, cfg.outChannels, p, 'pqc'));
  }
  return stack64(frames);
}

/** Context embedder: [1, T, J] -> [1, T, D]. */
export function vchitectContext64(w: WeightSource64, cfg: VchitectConfig64, encoderHiddenStates: Tensor64): Tensor64 {
  const d = modelDim(cfg);
  const nt = encoderHiddenStates.shape[1];
  assertShape(encoderHiddenStates, [1, nt, cfg.jointAttentionDim], 'encoder_hidden_states');
  return linearNamed(w, 'context_embedder', encoderHiddenStates, d, cfg.jointAttentionDim);
}

/** Whole transformer: returns the flow velocity [1, F, outChannels, Hl, Wl]. */
export function vchitectForward64(w: WeightSource64, cfg: VchitectConfig64, inputs: VchitectInputs64, opts: VchitectOptions64 = {}): Tensor64 {
  const hs = inputs.hiddenStates;
  if (hs.shape.length !== 5 || hs.shape[0] !== 1 || hs.shape[2] !== cfg.inChannels) {
    throw new Error(`hidden_states: expected [1, F, ${cfg.inChannels}, Hl, Wl], got [${hs.shape.join(',')}]`);
  }
  const [, nf, cin, hl, wl] = hs.shape;
  const p = cfg.patchSize;
  if (hl % p !== 0 || wl % p !== 0) throw new Error(`hidden_states: Hl=${hl}, Wl=${wl} must be multiples of patch ${p}`);
  const h = hl / p;
  const wd = wl / p;
  const frames = reshape64(hs, [nf, cin, hl, wl]);
  let x = stack64(Array.from({ length: nf }, (_, f) => vchitectPatchEmbed64(w, cfg, index0(frames, f))));
  const temb = vchitectTemb64(w, cfg, inputs.timestep, inputs.pooledProjections);
  let c: Tensor64 | null = vchitectContext64(w, cfg, inputs.encoderHiddenStates);
  for (let i = 0; i < cfg.numLayers; i++) {
    if (c === null) throw new Error(`block ${i}: text stream missing (only the last block drops it)`);
    const out = vchitectBlock64(w, cfg, i, x, c, temb, opts);
    x = out.x;
    c = out.c;
  }
  const out = vchitectFinal64(w, cfg, x, temb, h, wd);
  return reshape64(out, [1, nf, cfg.outChannels, hl, wl]);
}
