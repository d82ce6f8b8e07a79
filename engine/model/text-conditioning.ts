// SD3-style text conditioning on the GPU (spec section 3): CLIP-L and CLIP-bigG penultimate states concatenated on
// channels and zero-padded to the joint width J, T5 states appended on the token axis (the tokenizers' lengths:
// 77 + 256 tokens in real checkpoints, engine/text/text-lengths.ts), pooled =
// concat of both projected CLIP pooled outputs. Sizes come from the models' configs.

import type { DType } from '../dtype.js';
import { ShapeError } from '../gpu/errors.js';
import { cast } from '../ops/elementwise.js';
import { concat, padAxis } from '../ops/layout.js';
import { T5_DEFAULT_LENGTH } from '../text/text-lengths.js';
import type { Sd3Tokenizers } from '../text/tokenizers.js';
import { Tensor } from '../tensor.js';
import type { ClipTextModel } from './clip.js';
import { Scratch } from './scratch.js';
import type { T5Encoder } from './t5.js';

export interface TextEncoders {
  clipL: ClipTextModel;
  clipG: ClipTextModel;
  /** Absent (model_index.json marks text_encoder_3 null): its tokens are zeros, as in SD3. */
  t5?: T5Encoder;
}

export interface EncodePromptOptions {
  /** Channel width J of promptEmbeds: the transformer's joint_attention_dim. Default max(CLIP-L + CLIP-G, T5 d_model). */
  jointDim?: number;
  /** Output dtype (the transformer's). Default f32. */
  dtype?: DType;
  /** T5 token count when there is no T5 model (default: the T5 tokenizer's maxLength, else 256 as in SD3). */
  t5Tokens?: number;
}

export interface PromptEmbeddings {
  /** [CLIP tokens + T5 tokens, J] (77 + 256 in real checkpoints): CLIP tokens first, then T5 tokens. */
  promptEmbeds: Tensor;
  /** [projL + projG]. */
  pooled: Tensor;
}

/** Default J: the wider of the concatenated CLIP states and the T5 states. */
export function jointDimOf(models: TextEncoders): number {
  return Math.max(models.clipL.config.hidden_size + models.clipG.config.hidden_size, models.t5?.config.d_model ?? 0);
}

/** Encodes one prompt (the negative prompt "" goes through the same path). */
export function encodePrompt(models: TextEncoders, tokenizers: Sd3Tokenizers, prompt: string, opts: EncodePromptOptions = {}): PromptEmbeddings {
  const dtype = opts.dtype ?? 'f32';
  const J = opts.jointDim ?? jointDimOf(models);
  const clipWidth = models.clipL.config.hidden_size + models.clipG.config.hidden_size;
  if (clipWidth > J) throw new ShapeError(`encodePrompt: CLIP-L + CLIP-G hidden sizes ${clipWidth} exceed the joint width J = ${J} (transformer joint_attention_dim)`);
  if (models.t5 && models.t5.config.d_model > J) throw new ShapeError(`encodePrompt: T5 d_model ${models.t5.config.d_model} exceeds the joint width J = ${J}`);
  const s = new Scratch();
  const as = (t: Tensor) => (t.dtype === dtype ? t : s.t(cast(t, dtype)));

  const l = models.clipL.forward(tokenizers.clipL.encode(prompt));
  const g = models.clipG.forward(tokenizers.clipG.encode(prompt));
  [l.penultimate, l.textEmbeds, g.penultimate, g.textEmbeds].forEach((t) => s.t(t));
  if (l.penultimate.shape[0] !== g.penultimate.shape[0]) {
    throw new ShapeError(`encodePrompt: CLIP-L gives ${l.penultimate.shape[0]} tokens but CLIP-G ${g.penultimate.shape[0]}; both tokenizers must pad to the same length`);
  }
  const clip = s.t(concat([as(l.penultimate), as(g.penultimate)], 1));
  const clipPadded = clip.shape[1] === J ? clip : s.t(padAxis(clip, 1, J));

  let t5Part: Tensor;
  if (models.t5) {
    if (!tokenizers.t5) throw new Error('encodePrompt: the checkpoint has a T5 encoder but no tokenizer_3');
    const t5 = s.t(models.t5.forward(tokenizers.t5.encode(prompt)));
    const t5d = as(t5);
    t5Part = t5d.shape[1] === J ? t5d : s.t(padAxis(t5d, 1, J));
  } else {
    const n = opts.t5Tokens ?? tokenizers.t5?.maxLength ?? T5_DEFAULT_LENGTH;
    t5Part = s.t(Tensor.zeros(models.clipL.device, [n, J], dtype, 't5 zeros'));
  }
  const promptEmbeds = concat([clipPadded, t5Part], 0);
  const pooled = concat([as(l.textEmbeds), as(g.textEmbeds)], 0);
  s.release();
  return { promptEmbeds, pooled };
}
