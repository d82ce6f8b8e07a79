// encodePrompt on the GPU against the spec's SD3 recipe composed from the float64 references (CLIP-L/G penultimate
// states concatenated and zero-padded to J, T5 tokens appended, pooled = both projections) on a make-tiny checkpoint.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { ClipTextModel } from '../../../engine/model/clip.js';
import { T5Encoder } from '../../../engine/model/t5.js';
import { encodePrompt, jointDimOf } from '../../../engine/model/text-conditioning.js';
import { clipTextForward64 } from '../../../engine/reference/clip.js';
import { t5EncoderForward64 } from '../../../engine/reference/t5.js';
import { loadCheckpointTokenizers } from '../../../engine/text/tokenizers.js';
import { expectClose } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { clipConfig64, t5Config64, weights64 } from './fixtures.js';

let dir: string;
let ckpt: Checkpoint;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-textcond-'));
  await makeTinyCheckpoint(dir, { seed: 21 });
  ckpt = await openCheckpoint(dir);
});

afterAll(async () => {
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

const dtypes = await testDTypes();

describe('encodePrompt (SD3 text conditioning) vs the float64 recipe', () => {
  for (const dtype of dtypes) {
    it(`${dtype}: a prompt and the empty negative prompt; without T5 the T5 rows are zeros`, async () => {
      const device = await testDevice();
      const opts = { dtype: dtype as DType };
      const models = {
        clipL: await ClipTextModel.load(device, ckpt.textEncoder!, opts),
        clipG: await ClipTextModel.load(device, ckpt.textEncoder2!, opts),
        t5: await T5Encoder.load(device, ckpt.textEncoder3!, opts),
      };
      const toks = await loadCheckpointTokenizers(ckpt);
      const J = ckpt.transformer.config.joint_attention_dim;
      expect(jointDimOf(models)).toBe(J);
      const [wL, wG, wT] = await Promise.all([weights64(ckpt.textEncoder!, dtype), weights64(ckpt.textEncoder2!, dtype), weights64(ckpt.textEncoder3!, dtype)]);
      const [cL, cG, cT] = [clipConfig64(models.clipL.config), clipConfig64(models.clipG.config), t5Config64(models.t5.config)];
      const t = dtype === 'f16' ? { rtol: 2e-2, atol: 2e-3 } : { rtol: 1e-4, atol: 1e-5 };
      for (const prompt of ['A small boat drifting on a calm lake at dawn', '']) {
        const got = encodePrompt(models, toks, prompt, { jointDim: J, dtype: dtype as DType });
        const l = clipTextForward64(wL, cL, toks.clipL.encode(prompt));
        const g = clipTextForward64(wG, cG, toks.clipG.encode(prompt));
        const t5 = t5EncoderForward64(wT, cT, toks.t5!.encode(prompt));
        const nClip = 77;
        const nT5 = t5.shape[0]!;
        const want = new Float64Array((nClip + nT5) * J);
        const pl = l.hiddenStates.at(-2)!.data;
        const pg = g.hiddenStates.at(-2)!.data;
        for (let i = 0; i < nClip; i++) {
          for (let c = 0; c < cL.hiddenSize; c++) want[i * J + c] = pl[i * cL.hiddenSize + c]!;
          for (let c = 0; c < cG.hiddenSize; c++) want[i * J + cL.hiddenSize + c] = pg[i * cG.hiddenSize + c]!;
        }
        for (let i = 0; i < nT5; i++) for (let c = 0; c < cT.dModel; c++) want[(nClip + i) * J + c] = t5.data[i * cT.dModel + c]!;
        expect(got.promptEmbeds.shape).toEqual([nClip + nT5, J]);
        expect(got.promptEmbeds.dtype).toBe(dtype);
        const gotE = await got.promptEmbeds.read();
        // CLIP and T5 parts separately: their magnitudes differ, so each gets its own relative bound.
        expectClose(gotE.subarray(0, nClip * J), want.subarray(0, nClip * J), t, `clip part ${dtype} "${prompt}"`);
        expectClose(gotE.subarray(nClip * J), want.subarray(nClip * J), dtype === 'f16' ? { rtol: 2e-3, atol: 1e-4 } : t, `t5 part ${dtype} "${prompt}"`);
        expectClose(await got.pooled.read(), [...l.textEmbeds.data, ...g.textEmbeds.data], t, `pooled ${dtype} "${prompt}"`);
        got.promptEmbeds.dispose();
        got.pooled.dispose();
      }
      // No T5 encoder: same CLIP rows, zero T5 rows (256 of them, the T5 tokenizer's length).
      const noT5 = encodePrompt({ clipL: models.clipL, clipG: models.clipG }, toks, 'x', { jointDim: J, dtype: dtype as DType });
      expect(noT5.promptEmbeds.shape).toEqual([77 + toks.t5!.maxLength, J]);
      const e = await noT5.promptEmbeds.read();
      expect(e.subarray(77 * J).every((v) => v === 0)).toBe(true);
      expect(e.subarray(0, 77 * J).some((v) => v !== 0)).toBe(true);
      noT5.promptEmbeds.dispose();
      noT5.pooled.dispose();
      Object.values(models).forEach((m) => m.dispose());
    }, 600_000);
  }
});
