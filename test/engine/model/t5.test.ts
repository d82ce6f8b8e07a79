// The GPU T5 encoder against the float64 reference on a make-tiny checkpoint: a 256-token prompt and raw sequences
// of awkward lengths; f32 and f16 weights (activations stay f32, so both get tight tolerances).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundToF16, type DType } from '../../../engine/dtype.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import type { T5EncoderConfig } from '../../../engine/io/configs.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { T5Encoder, t5Bucket } from '../../../engine/model/t5.js';
import { t5EncoderForward64, t5RelativePositionBucket, type T5EncoderConfig64 } from '../../../engine/reference/t5.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { loadCheckpointTokenizers } from '../../../engine/text/tokenizers.js';
import { expectClose } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';

let dir: string;
let ckpt: Checkpoint;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-t5-'));
  await makeTinyCheckpoint(dir, { seed: 5 });
  ckpt = await openCheckpoint(dir);
});

afterAll(async () => {
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

function config64(c: T5EncoderConfig): T5EncoderConfig64 {
  return {
    vocabSize: c.vocab_size, dModel: c.d_model, dKv: c.d_kv, dFf: c.d_ff, numLayers: c.num_layers, heads: c.num_heads,
    relativeAttentionNumBuckets: c.relative_attention_num_buckets, relativeAttentionMaxDistance: c.relative_attention_max_distance,
    layerNormEpsilon: c.layer_norm_epsilon, feedForwardProj: c.feed_forward_proj as 'gated-gelu' | 'relu',
  };
}

const dtypes = await testDTypes();

describe('T5 encoder on the GPU vs the float64 reference', () => {
  it('bucket rule matches the reference for both signs and long distances', () => {
    for (const [nb, md] of [[32, 128], [16, 20]] as const) {
      for (let r = -300; r <= 300; r++) expect(t5Bucket(r, nb, md)).toBe(t5RelativePositionBucket(r, nb, md));
    }
  });

  for (const dtype of dtypes) {
    it(`${dtype} weights: a 256-token prompt and sequences of 19 and 1 tokens`, async () => {
      const device = await testDevice();
      const sub = ckpt.textEncoder3!;
      const model = await T5Encoder.load(device, sub, { dtype: dtype as DType });
      const w = new Map<string, Tensor64>();
      for (const k of sub.weights.keys()) {
        const f = await sub.weights.readFloat32(k);
        w.set(k, { shape: [...sub.weights.info(k).shape], data: dtype === 'f16' ? Float64Array.from(f, roundToF16) : Float64Array.from(f) });
      }
      const cfg = config64(model.config);
      const tok = (await loadCheckpointTokenizers(ckpt)).t5!;
      const r = rng(dtype === 'f16' ? 3 : 4);
      const randomIds = (n: number) => Array.from({ length: n }, () => Math.floor(r() * cfg.vocabSize));
      for (const ids of [tok.encode('a red fox jumps over the lazy dog'), randomIds(19), randomIds(1)]) {
        const out = model.forward(ids);
        expect(out.shape).toEqual([ids.length, cfg.dModel]);
        expect(out.dtype).toBe('f32');
        const want = t5EncoderForward64(w, cfg, ids);
        expectClose(await out.read(), want.data, { rtol: 2e-4, atol: 1e-5 }, `t5 ${dtype} S=${ids.length}`);
        out.dispose();
      }
      model.dispose();
    }, 600_000);
  }
});
