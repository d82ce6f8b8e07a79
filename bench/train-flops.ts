// Analytic FLOPs of one flow-matching training step of the Vchitect transformer (the denominator-free half of
// bench:train's hardware ratios), counted from the model's shape as the spec's model (bench/torch_vchitect.py) computes
// it: every linear (2 flops per multiply-add; the text rows of a block are broadcast over the frames, as the model
// does) and every attention (4 Sq Sk D: q k^T and P V over all heads). Backward: 2x the forward's linears (dX and dW)
// and 2.5x its attentions (FlashAttention-2's convention: q k^T recomputed, dV, dP, dQ, dK). Norms, elementwise ops and
// the optimizer are not counted (they are memory-bound); nor is the engine's extra work (the last block's zero
// to_add_out, the temporal branch's projections at one frame where its output is multiplied by 0, the second q k^T
// of its dQ pass). One frame has no temporal attention (the model skips the branch).

export interface TrainShape {
  /** Model width D (heads x head dim). */
  D: number;
  layers: number;
  /** Feed-forward inner width (4 D in Vchitect). */
  ffInner: number;
  /** Latent channels in and out. */
  channels: number;
  patch: number;
  /** joint_attention_dim (text features), pooled_projection_dim. */
  jointDim: number;
  pooledDim: number;
  frames: number;
  /** Latent height and width (visual tokens per frame = (hl / patch) (wl / patch)). */
  hl: number;
  wl: number;
  textTokens: number;
}

export interface StepFlops {
  linearFwd: number;
  attnFwd: number;
  forward: number;
  backward: number;
  /** forward + backward of one item. */
  total: number;
}

/** Sinusoid width of the timestep embedding (Vchitect: 256 = 2 x 128). */
const TIME_PROJ = 256;

/** FLOPs of one item's forward and backward (a K-item batch does K times this). */
export function trainStepFlops(s: TrainShape): StepFlops {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`trainStepFlops: ${k} must be a positive integer, got ${v}`);
  }
  if (s.hl % s.patch || s.wl % s.patch) throw new Error(`trainStepFlops: latent ${s.hl}x${s.wl} is not a multiple of the patch ${s.patch}`);
  const { D, frames: F, textTokens: T } = s;
  const L = (s.hl / s.patch) * (s.wl / s.patch);
  const V = F * L; // visual rows
  const Tr = F * T; // text rows (broadcast over frames)
  const temporal = F > 1;
  const mac = (rows: number, k: number, n: number) => rows * k * n;
  let m = 0;
  m += mac(V, s.channels * s.patch * s.patch, D); // patch embed
  m += mac(T, s.jointDim, D); // context embedder (once)
  m += mac(1, TIME_PROJ, D) + mac(1, D, D) + mac(1, s.pooledDim, D) + mac(1, D, D); // timestep + text embedders
  let attn = 0;
  for (let i = 0; i < s.layers; i++) {
    const last = i === s.layers - 1;
    m += mac(1, D, 6 * D) + mac(1, D, (last ? 2 : 6) * D); // adaLN projections
    m += mac(V, D, D) * (5 + (temporal ? 4 : 0)); // q k v, q_cross, to_out.0; q/k/v_temp, to_out_temporal
    m += mac(Tr, D, D) * (3 + (last ? 0 : 1 + (temporal ? 1 : 0))); // add_q/k/v; to_add_out; to_add_out_temporal
    m += mac(V + Tr, D, D); // to_out_context over the cross attention's L + T queries
    m += 2 * mac(V, D, s.ffInner); // ff
    if (!last) m += 2 * mac(Tr, D, s.ffInner); // ff_context
    attn += 4 * F * (L + T) * (L + T) * D; // joint self-attention per frame
    attn += 4 * F * (L + T) * T * D; // cross attention to the first frame's text keys
    if (temporal) attn += 4 * (L + T) * F * F * D; // temporal attention at each token position
  }
  m += mac(1, D, 2 * D) + mac(V, D, s.patch * s.patch * s.channels); // final layer
  const linearFwd = 2 * m;
  const forward = linearFwd + attn;
  const backward = 2 * linearFwd + 2.5 * attn;
  return { linearFwd, attnFwd: attn, forward, backward, total: forward + backward };
}
