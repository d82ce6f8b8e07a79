// Assembles SD3-style text conditioning (spec section 3) from the encoders' outputs: CLIP-L and CLIP-G penultimate
// hidden states concatenated on channels, zero-padded to the joint dim, T5 tokens appended; pooled = concat.
import type { TextConditioning } from './backend.js';

/** A row-major [rows, cols] float matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: ArrayLike<number>;
}

export interface EncoderOutputs {
  /** CLIP-L hidden_states[-2] [C, dL] (C = the CLIP length, 77 in real checkpoints). */
  clipL: Matrix;
  /** CLIP-G hidden_states[-2] [C, dG]. */
  clipG: Matrix;
  /** T5 last_hidden_state [T5 length (256 in real checkpoints), dT], or null when the checkpoint has no T5 (zeros of t5Tokens rows then). */
  t5: Matrix | null;
  /** Rows of T5 tokens used when t5 is null (diffusers uses zeros of max_sequence_length). */
  t5Tokens: number;
  /** CLIP-L text_embeds [pL] and CLIP-G text_embeds [pG]. */
  clipLPooled: ArrayLike<number>;
  clipGPooled: ArrayLike<number>;
}

/**
 * prompt_embeds = concat_tokens(zero_pad_channels(concat_channels(clipL, clipG), J), t5) -> [C + T5, J];
 * pooled = concat(clipL_pooled, clipG_pooled) -> [pL + pG]. Checks the sizes against J and P.
 */
export function assembleTextConditioning(e: EncoderOutputs, jointDim: number, pooledDim: number): TextConditioning {
  if (e.clipL.rows !== e.clipG.rows) throw new Error(`text conditioning: CLIP-L has ${e.clipL.rows} tokens but CLIP-G has ${e.clipG.rows}`);
  const clipWidth = e.clipL.cols + e.clipG.cols;
  if (clipWidth > jointDim) throw new Error(`text conditioning: CLIP-L + CLIP-G width ${clipWidth} exceeds joint_attention_dim ${jointDim}`);
  if (e.t5 && e.t5.cols !== jointDim) throw new Error(`text conditioning: T5 width ${e.t5.cols} != joint_attention_dim ${jointDim}`);
  const pooledLen = e.clipLPooled.length + e.clipGPooled.length;
  if (pooledLen !== pooledDim) throw new Error(`text conditioning: pooled CLIP-L ${e.clipLPooled.length} + CLIP-G ${e.clipGPooled.length} != pooled_projection_dim ${pooledDim}`);
  const clipRows = e.clipL.rows;
  const t5Rows = e.t5 ? e.t5.rows : e.t5Tokens;
  const tokens = clipRows + t5Rows;
  const out = new Float32Array(tokens * jointDim);
  for (let r = 0; r < clipRows; r++) {
    const o = r * jointDim;
    for (let c = 0; c < e.clipL.cols; c++) out[o + c] = e.clipL.data[r * e.clipL.cols + c];
    for (let c = 0; c < e.clipG.cols; c++) out[o + e.clipL.cols + c] = e.clipG.data[r * e.clipG.cols + c];
  }
  if (e.t5) {
    const o = clipRows * jointDim;
    for (let i = 0; i < e.t5.rows * jointDim; i++) out[o + i] = e.t5.data[i];
  }
  const pooled = new Float32Array(pooledDim);
  for (let i = 0; i < e.clipLPooled.length; i++) pooled[i] = e.clipLPooled[i];
  for (let i = 0; i < e.clipGPooled.length; i++) pooled[e.clipLPooled.length + i] = e.clipGPooled[i];
  return { promptEmbeds: out, tokens, jointDim, pooled };
}
