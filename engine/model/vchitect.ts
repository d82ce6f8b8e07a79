// The Vchitect-2.0 transformer on the GPU, composed of engine ops. It follows ../shared/spec/vchitect-2.0.md
// section 2 line by line: patch embed + cropped position table, temb, context embedder, blocks with three
// parallel attention branches (spatial, temporal with RoPE over frames, frame-0 cross), final adaLN and unpatchify.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { validateTransformer, type TransformerDims } from '../io/checkpoint.js';
import type { VchitectTransformerConfig } from '../io/configs.js';
import type { SubModel } from '../io/checkpoint.js';
import { attention, sharedView, temporalView, type SeqView } from '../ops/attention.js';
import { add, gatedAdd, scale, silu } from '../ops/elementwise.js';
import { broadcastTo, concat, slice, stridedCopy } from '../ops/layout.js';
import { linear, rowWindowFits, type LinearOptions } from '../ops/linear.js';
import { layerNorm } from '../ops/norm.js';
import { patchify, unpatchify } from '../ops/patch.js';
import { rope } from '../ops/rope.js';
import { timestepEmbedding } from '../ops/timestep-embedding.js';
import { Tensor } from '../tensor.js';
import { Scratch } from './scratch.js';
import { GpuWeights, type LoadProgress } from './weights.js';

/** All LayerNorms of the transformer: eps 1e-6, no affine. */
export const LN_EPS = 1e-6;
export const ROPE_THETA = 1e6;
/** Weight of the spatial branch in Hsum = 1.1 * S_out + to_out_context(X_out). */
export const SPATIAL_WEIGHT = 1.1;

export interface VchitectInputs {
  /** Latents [1, F, C, Hl, Wl]. */
  hidden: Tensor;
  /** The scheduler timestep sigma * 1000 (0..1000). */
  timestep: number;
  /** Text tokens [1, T, jointAttentionDim]. */
  context: Tensor;
  /** Pooled text [1, pooledProjectionDim]. */
  pooled: Tensor;
}

export interface VchitectLoadOptions {
  /** Weights and activations dtype (f16 needs shader-f16). */
  dtype?: DType;
  onProgress?: (p: LoadProgress) => void;
}

export class VchitectTransformer {
  private posCache = new Map<string, Tensor>();
  /** Write projections straight into the joint text+video buffers and read output rows as views (false: concat/slice, for A/B). */
  jointWrites = typeof process === 'undefined' || process.env?.PARALLAX_JOINT_WRITES !== '0';

  constructor(
    readonly device: Device,
    readonly dims: TransformerDims,
    readonly weights: GpuWeights,
    readonly dtype: DType,
  ) {}

  /** Validates the checkpoint's transformer against its config, then streams its weights to the GPU. */
  static async load(device: Device, sub: SubModel<VchitectTransformerConfig>, opts: VchitectLoadOptions = {}): Promise<VchitectTransformer> {
    const dims = validateTransformer(sub);
    const dtype = opts.dtype ?? 'f32';
    const weights = await GpuWeights.load(device, sub.weights, dtype, opts.onProgress);
    return new VchitectTransformer(device, dims, weights, dtype);
  }

  /** Checks the inputs against the model's sizes; returns frames, latent size, patches and text length. */
  protected inputGeometry(inp: VchitectInputs, what = 'Vchitect forward'): { F: number; Hl: number; Wl: number; h: number; w: number; T: number } {
    const { patchSize: P, inChannels } = this.dims;
    const hs = inp.hidden.shape;
    if (hs.length !== 5 || hs[0] !== 1 || hs[2] !== inChannels) {
      throw new Error(`${what}: hidden_states must be [1, F, ${inChannels}, H, W], got [${hs.join(', ')}]`);
    }
    const [, F, , Hl, Wl] = hs as [number, number, number, number, number];
    if (Hl % P || Wl % P) throw new Error(`${what}: latent size ${Hl}x${Wl} must be a multiple of the patch size ${P}`);
    const h = Hl / P;
    const w = Wl / P;
    if (h > this.dims.M || w > this.dims.M) throw new Error(`${what}: ${h}x${w} patches exceed the position table (pos_embed_max_size ${this.dims.M})`);
    const cs = inp.context.shape;
    if (cs.length !== 3 || cs[0] !== 1 || cs[2] !== this.dims.jointAttentionDim) {
      throw new Error(`${what}: encoder_hidden_states must be [1, T, ${this.dims.jointAttentionDim}], got [${cs.join(', ')}]`);
    }
    if (inp.pooled.numel !== this.dims.pooledProjectionDim) {
      throw new Error(`${what}: pooled_projections must be [1, ${this.dims.pooledProjectionDim}], got [${inp.pooled.shape.join(', ')}]`);
    }
    return { F, Hl, Wl, h, w, T: cs[1]! };
  }

  /** One transformer call: returns the flow velocity [1, F, outChannels, Hl, Wl]. */
  forward(inp: VchitectInputs): Tensor {
    const { D, patchSize: P, inChannels, outChannels } = this.dims;
    const { F, Hl, Wl, h, w, T } = this.inputGeometry(inp);

    const s = new Scratch();
    // 1-2. Patch embed per frame, plus the centre-cropped 2D sin-cos table.
    const frames = s.t(inp.hidden.reshape([F, inChannels, Hl, Wl]));
    const patches = s.t(patchify(frames, { patch: P }));
    const projW = s.t(this.w('pos_embed.proj.weight').reshape([D, inChannels * P * P]));
    const tokens = s.t(linear(patches, projW, this.w('pos_embed.proj.bias')));
    let X = add(tokens, this.positionTable(h, w));
    // 3. temb = TimestepEmbed(t) + TextEmbed(pooled); e = SiLU(temb) feeds every adaLN.
    const temb = this.timeTextEmbedding(inp.timestep, inp.pooled, s);
    const eAct = s.t(silu(temb));
    // 4. Context embedder.
    let C = this.lin(s.t(inp.context.reshape([1, T, this.dims.jointAttentionDim])), 'context_embedder');
    s.release(X, C, eAct);
    // 5. Blocks.
    for (let i = 0; i < this.dims.numLayers; i++) {
      const out = this.block(i, X, C, eAct, F);
      X.dispose();
      if (out.C !== C) C.dispose();
      X = out.X;
      C = out.C;
    }
    C.dispose();
    // 6. Final AdaLayerNormContinuous (scale first), proj_out, unpatchify.
    const out = s.t(this.outputRows(X, eAct, s));
    const video = unpatchify(out, h, w, { patch: P });
    s.release();
    const result = video.reshape([1, F, outChannels, Hl, Wl]);
    video.dispose();
    return result;
  }

  /**
   * Step 6 up to the unpatchify: AdaLayerNormContinuous (scale first) of the visual rows X [F, n, D] with silu(temb)
   * `eAct`, then proj_out: [F, n, p*p*outChannels]. Disposes X. Shared with the sequence-parallel forward.
   */
  protected outputRows(X: Tensor, eAct: Tensor, s: Scratch): Tensor {
    const [scaleF, shiftF] = this.chunks(s.t(this.lin(eAct, 'norm_out.linear')), 2, s);
    const Xn = s.t(layerNorm(X, { eps: LN_EPS, modulation: { scale: scaleF!, shift: shiftF! } }));
    X.dispose();
    return this.lin(Xn, 'proj_out');
  }

  /** Block i: returns the new visual stream X [F, L, D] and text stream C ([F, T, D]; unchanged in the last block). */
  protected block(i: number, X: Tensor, C: Tensor, e: Tensor, F: number): { X: Tensor; C: Tensor } {
    const s = new Scratch();
    const b = this.blockInputs(i, X, C, e, F, s);
    const { visual, text } = this.attention(i, b.Xh, b.Ch, F, s);
    const out = b.finish(visual, text);
    s.release();
    return out;
  }

  /**
   * The two halves of block i around its attention (shared with the sequence-parallel subclass): the adaLN-modulated
   * inputs Xh and Ch (Ch one copy per frame), and `finish`, which adds the gated attention outputs and the MLPs.
   * X and C may be any number of rows per frame (all tokens, or one rank's shard).
   */
  protected blockInputs(i: number, X: Tensor, C: Tensor, e: Tensor, F: number, s: Scratch): {
    Xh: Tensor;
    Ch: Tensor;
    finish(Ax: Tensor, Ac: Tensor | null): { X: Tensor; C: Tensor };
  } {
    const p = `transformer_blocks.${i}.`;
    const last = i === this.dims.numLayers - 1;
    const [sh1, sc1, g1, sh2, sc2, g2] = this.chunks(s.t(this.lin(e, `${p}norm1.linear`)), 6, s);
    const Xh = s.t(layerNorm(X, { eps: LN_EPS, modulation: { scale: sc1!, shift: sh1! } }));
    const cmod = this.chunks(s.t(this.lin(e, `${p}norm1_context.linear`)), last ? 2 : 6, s);
    // Not last: (csh1, csc1, cg1, csh2, csc2, cg2); last: (csc, csh), scale first.
    const [csh1, csc1] = last ? [cmod[1]!, cmod[0]!] : [cmod[0]!, cmod[1]!];
    let Ch = s.t(layerNorm(C, { eps: LN_EPS, modulation: { scale: csc1, shift: csh1 } }));
    const T = C.shape[1]!;
    const D = this.dims.D;
    if (Ch.shape[0] !== F) Ch = s.t(broadcastTo(Ch, [F, T, D])); // block 0: one text stream for every frame

    const finish = (Ax: Tensor, Ac: Tensor | null) => {
      let Xn = s.t(gatedAdd(X, g1!, Ax));
      const h = s.t(layerNorm(Xn, { eps: LN_EPS, modulation: { scale: sc2!, shift: sh2! } }));
      const f1 = s.t(this.lin(h, `${p}ff.net.0.proj`, { epilogue: 'gelu_tanh' }));
      Xn = this.lin(f1, `${p}ff.net.2`, { residual: { x: Xn, gate: g2! } });
      let Cn = C;
      if (!last) {
        const [, , cg1, csh2, csc2, cg2] = cmod;
        const Cf = C.shape[0] === F ? C : s.t(broadcastTo(C, [F, T, D]));
        const C1 = s.t(gatedAdd(Cf, cg1!, Ac!));
        const hc = s.t(layerNorm(C1, { eps: LN_EPS, modulation: { scale: csc2!, shift: csh2! } }));
        const fc = s.t(this.lin(hc, `${p}ff_context.net.0.proj`, { epilogue: 'gelu_tanh' }));
        Cn = this.lin(fc, `${p}ff_context.net.2`, { residual: { x: C1, gate: cg2! } });
      }
      return { X: Xn, C: Cn };
    };
    return { Xh, Ch, finish };
  }

  /**
   * The three parallel branches from the same modulated inputs Xh [F, L, D] and Ch [F, T, D]. The joint [F, L + T, D]
   * inputs are written in place by their projections (linear outRows) and the visual/text parts of the outputs are
   * read as row windows (linear xRows), without concat/slice copies, whenever the windows bind (the text rows' byte
   * offset is aligned and the tensor fits one binding; else concat/slice, with the same results bit for bit).
   */
  private attention(i: number, Xh: Tensor, Ch: Tensor, F: number, s: Scratch): { visual: Tensor; text: Tensor | null } {
    const a = `transformer_blocks.${i}.attn.`;
    const last = i === this.dims.numLayers - 1;
    const { heads, headDim, D } = this.dims;
    const L = Xh.shape[1]!;
    const T = Ch.shape[1]!;
    const S = L + T;
    const lin = (x: Tensor, name: string) => s.t(this.lin(x, `${a}${name}`));
    const direct = this.jointWrites && rowWindowFits({ device: this.device, shape: [F, S, D], dtype: Xh.dtype }, { offset: L, rows: T });
    const text = new Map<string, Tensor>(); // concat path: each text projection once
    const txt = (name: string) => text.get(name) ?? (text.set(name, lin(Ch, name)), text.get(name)!);
    // [F, S, D] = per frame [vis(Xh) ; txtName(Ch)]: visual first, then text.
    const textRows = new Map<string, Tensor>(); // direct path: the joint buffer that first received each text projection
    const joint = (vis: string, txtName: string): Tensor => {
      if (!direct) return s.t(concat([lin(Xh, vis), txt(txtName)], 1));
      const J = s.t(Tensor.empty(this.device, [F, S, D], Xh.dtype, 'joint'));
      this.lin(Xh, `${a}${vis}`, { out: J, outRows: { offset: 0, rows: L } });
      const from = textRows.get(txtName);
      if (from) {
        // The same text projection again (cross and temporal reuse the spatial ones): copy its T rows per frame,
        // far cheaper than recomputing the linear.
        const strides = [S * D, D, 1];
        stridedCopy(from, J, { shape: [F, T, D], srcStrides: strides, srcOffset: L * D, dstStrides: strides, dstOffset: L * D }, 'joint_text_copy');
      } else {
        this.lin(Ch, `${a}${txtName}`, { out: J, outRows: { offset: L, rows: T } });
        textRows.set(txtName, J);
      }
      return J;
    };
    // Rows [from, from + n) of every frame of x [F, S, C] as the input of a linear.
    const rowsLin = (x: Tensor, from: number, n: number, name: string, opts?: LinearOptions) =>
      direct ? this.lin(x, `${a}${name}`, { ...opts, xRows: { offset: from, rows: n } }) : this.lin(s.t(slice(x, 1, from, from + n)), `${a}${name}`, opts);

    // (1) spatial: per frame over the S = L + T tokens.
    const Jk = joint('to_k', 'add_k_proj');
    const Jv = joint('to_v', 'add_v_proj');
    const Sout = s.t(attention(joint('to_q', 'add_q_proj'), Jk, Jv, { heads, headDim }));
    // (3) cross: every frame's queries against frame 0's text keys and values (in the joint buffers: rows L.. of frame 0).
    const frame0Text = (J: Tensor, name: string): SeqView =>
      direct ? { tensor: J, batch: F, seq: T, batchStride: 0, seqStride: D, offset: L * D } : sharedView(txt(name), F, 0);
    const Xout = s.t(attention(joint('to_q_cross', 'add_q_proj'), frame0Text(Jk, 'add_k_proj'), frame0Text(Jv, 'add_v_proj'), { heads, headDim }));
    // Hsum = 1.1 * S_out + to_out_context(X_out)
    const Hsum = s.t(this.lin(Xout, `${a}to_out_context`, { residual: { x: s.t(scale(Sout, SPATIAL_WEIGHT)) } }));

    // (2) temporal: per token position over the F frames, RoPE on the frame index. Multiplied by 0 when F == 1.
    if (F === 1) {
      return { visual: s.t(rowsLin(Hsum, 0, L, 'to_out.0')), text: last ? null : s.t(rowsLin(Hsum, L, T, 'to_add_out')) };
    }
    const Tout = this.temporalAttention(i, joint('to_q_temp', 'add_q_proj'), joint('to_k_temp', 'add_k_proj'), joint('to_v_temp', 'add_v_proj'), s);
    const visual = s.t(rowsLin(Hsum, 0, L, 'to_out.0', { residual: { x: s.t(rowsLin(Tout, 0, L, 'to_out_temporal')) } }));
    const textOut = last ? null : s.t(rowsLin(Hsum, L, T, 'to_add_out', { residual: { x: s.t(rowsLin(Tout, L, T, 'to_add_out_temporal')) } }));
    return { visual, text: textOut };
  }

  /**
   * Temporal attention of block i: unroped joint queries, keys and values [F, S, D] of the F frames -> [F, S, D]
   * (registered in `s`). The model's own: every frame sees every frame, RoPE on the frame index. DualParal's block
   * windows (engine/parallel/dualparal.ts) override it.
   */
  protected temporalAttention(_i: number, Qj: Tensor, Kj: Tensor, Vj: Tensor, s: Scratch): Tensor {
    const { heads, headDim } = this.dims;
    const [F, S, D] = Qj.shape as [number, number, number];
    const frames = Array.from({ length: F }, (_, f) => f);
    const ropeF = (x: Tensor) => s.t(rope(x, { headDim, positions: frames, axis: 0, theta: ROPE_THETA }));
    const Qt = ropeF(Qj);
    const Kt = ropeF(Kj);
    const Tout = s.t(Tensor.empty(this.device, [F, S, D], Qt.dtype, 'temporal out'));
    attention(temporalView(Qt), temporalView(Kt), temporalView(Vj), { heads, headDim, out: temporalView(Tout) });
    return Tout;
  }

  /** TimestepEmbed(t) + TextEmbed(pooled): [1, D]. */
  protected timeTextEmbedding(timestep: number, pooled: Tensor, s: Scratch): Tensor {
    const t = s.t(Tensor.from(this.device, [timestep], [1], 'f32', 'timestep'));
    const tSin = s.t(timestepEmbedding(t, { dim: 256, dtype: this.dtype }));
    const te = 'time_text_embed.timestep_embedder.';
    const pe = 'time_text_embed.text_embedder.';
    const tTerm = s.t(this.lin(s.t(this.lin(tSin, `${te}linear_1`, { epilogue: 'silu' })), `${te}linear_2`));
    const pooled2 = s.t(pooled.reshape([1, pooled.numel]));
    const pHidden = s.t(this.lin(pooled2, `${pe}linear_1`, { epilogue: 'silu' }));
    return s.t(this.lin(pHidden, `${pe}linear_2`, { residual: { x: tTerm } }));
  }

  /** pos_embed.pos_embed [1, M*M, D] centre-cropped to h x w, flattened row-major: [h*w, D] (cached). */
  protected positionTable(h: number, w: number): Tensor {
    const key = `${h}x${w}`;
    let t = this.posCache.get(key);
    if (t) return t;
    const { M, D } = this.dims;
    const top = Math.floor((M - h) / 2);
    const left = Math.floor((M - w) / 2);
    const grid = this.w('pos_embed.pos_embed').reshape([M, M, D]);
    const rows = slice(grid, 0, top, top + h);
    const crop = slice(rows, 1, left, left + w);
    t = crop.reshape([h * w, D]);
    [grid, rows, crop].forEach((x) => x.dispose());
    this.posCache.set(key, t);
    return t;
  }

  /** Splits a [1, n*D] modulation vector into n tensors of [D] (chunk order as stored). */
  protected chunks(m: Tensor, n: number, s: Scratch): Tensor[] {
    const D = m.numel / n;
    const flat = s.t(m.reshape([n, D]));
    return Array.from({ length: n }, (_, j) => s.t(s.t(slice(flat, 0, j, j + 1)).reshape([D])));
  }

  protected lin(x: Tensor, name: string, opts?: LinearOptions): Tensor {
    return linear(x, this.w(`${name}.weight`), this.w(`${name}.bias`), opts);
  }

  protected w(name: string): Tensor {
    return this.weights.get(name);
  }

  dispose(): void {
    for (const t of this.posCache.values()) t.dispose();
    this.posCache.clear();
    this.weights.dispose();
  }
}
