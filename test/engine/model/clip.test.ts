// The GPU CLIP text towers (CLIP-L: quick_gelu, CLIP-G: gelu) against the float64 reference on a make-tiny
// checkpoint: penultimate hidden states and projected pooled output for several token sequences, f32 and f16.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { ClipTextModel } from '../../../engine/model/clip.js';
import { clipTextForward64 } from '../../../engine/reference/clip.js';
import { loadCheckpointTokenizers } from '../../../engine/text/tokenizers.js';
import { expectClose } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';
import { clipConfig64, weights64 } from './fixtures.js';

let dir: string;
let ckpt: Checkpoint;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-clip-'));
  await makeTinyCheckpoint(dir, { seed: 11 });
  ckpt = await openCheckpoint(dir);
});

afterAll(async () => {
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

const dtypes = await testDTypes();

describe('CLIP text tower on the GPU vs the float64 reference', () => {
  for (const dtype of dtypes) {
    for (const which of ['text_encoder', 'text_encoder_2'] as const) {
      it(`${dtype} ${which}: prompts of 77 tokens and raw sequences of 13 and 1 tokens`, async () => {
        const device = await testDevice();
        const sub = which === 'text_encoder' ? ckpt.textEncoder! : ckpt.textEncoder2!;
        const model = await ClipTextModel.load(device, sub, { dtype });
        const w = await weights64(sub, dtype);
        const cfg = clipConfig64(model.config);
        const toks = await loadCheckpointTokenizers(ckpt);
        const tok = which === 'text_encoder' ? toks.clipL : toks.clipG;
        const r = rng(which.length * 7 + (dtype === 'f16' ? 1 : 0));
        const randomIds = (n: number) => Array.from({ length: n }, () => Math.floor(r() * cfg.vocabSize));
        const seqs = [tok.encode('a red fox jumps over the lazy dog'), randomIds(13), randomIds(1)];
        // A sequence whose eos sits mid-way exercises the pooling rule.
        seqs[1]![6] = cfg.eosTokenId;
        const t = dtype === 'f16' ? { rtol: 2e-2, atol: 2e-3 } : { rtol: 1e-4, atol: 1e-5 };
        for (const ids of seqs) {
          const got = model.forward(ids);
          const want = clipTextForward64(w, cfg, ids);
          expect(got.eosIndex).toBe(want.eosIndex);
          expect(got.penultimate.shape).toEqual([ids.length, cfg.hiddenSize]);
          expectClose(await got.penultimate.read(), want.hiddenStates.at(-2)!.data, t, `${which} ${dtype} penultimate S=${ids.length}`);
          expectClose(await got.textEmbeds.read(), want.textEmbeds.data, t, `${which} ${dtype} text_embeds S=${ids.length}`);
          got.penultimate.dispose();
          got.textEmbeds.dispose();
        }
        model.dispose();
      }, 600_000);
    }
  }
});
