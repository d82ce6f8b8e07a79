// Checks of the float64 CLIP text reference: causality, HF hidden-state indexing, EOS pooling rule, projection.
import { describe, expect, it } from 'vitest';
import { type Tensor64, add64, embedding64, layerNorm64, linear64, quickGeluScalar, geluErfScalar } from '../../../engine/reference/tensor64.js';
import { clipActivation64, clipEosIndex, clipTextForward64 } from '../../../engine/reference/clip.js';
import { TINY_CLIP, clipWeightShapes, expectClose, randomWeights, zerosLike } from './fixtures.js';

const cfg = TINY_CLIP;
const ids = [18, 3, 7, 19, 0, 0, 5];

describe('clip text reference', () => {
  const w = randomWeights(clipWeightShapes(cfg), 3);

  it('returns numLayers+1 hidden states; [0] is token + position embedding', () => {
    const out = clipTextForward64(w, cfg, ids);
    expect(out.hiddenStates.length).toBe(cfg.numLayers + 1);
    const emb = add64(
      embedding64(w.get('text_model.embeddings.token_embedding.weight')!, ids),
      embedding64(w.get('text_model.embeddings.position_embedding.weight')!, [0, 1, 2, 3, 4, 5, 6]),
    );
    expectClose(out.hiddenStates[0], emb, 0);
    // last_hidden_state = final LN of the last layer output (not of the penultimate one)
    const ln = layerNorm64(out.hiddenStates[cfg.numLayers], cfg.layerNormEps, w.get('text_model.final_layer_norm.weight'), w.get('text_model.final_layer_norm.bias'));
    expectClose(out.lastHiddenState, ln, 1e-13);
  });

  it('attention is causal: changing token j leaves every hidden state before j unchanged', () => {
    const a = clipTextForward64(w, cfg, ids);
    const changed = [...ids];
    changed[4] = 11;
    const b = clipTextForward64(w, cfg, changed);
    const d = cfg.hiddenSize;
    for (let layer = 0; layer <= cfg.numLayers; layer++) {
      expectClose(a.hiddenStates[layer].data.subarray(0, 4 * d), b.hiddenStates[layer].data.subarray(0, 4 * d), 0);
      const after = a.hiddenStates[layer].data.subarray(4 * d).some((v, i) => v !== b.hiddenStates[layer].data[4 * d + i]);
      expect(after).toBe(true);
    }
  });

  it('layer 1 at position 0 (sees only itself) matches a hand-composed pre-LN layer', () => {
    const out = clipTextForward64(w, cfg, ids);
    const p = 'text_model.encoder.layers.0';
    const g = (n: string) => w.get(n)!;
    const x0: Tensor64 = { shape: [1, cfg.hiddenSize], data: out.hiddenStates[0].data.slice(0, cfg.hiddenSize) };
    const h = layerNorm64(x0, cfg.layerNormEps, g(`${p}.layer_norm1.weight`), g(`${p}.layer_norm1.bias`));
    const v = linear64(h, g(`${p}.self_attn.v_proj.weight`), g(`${p}.self_attn.v_proj.bias`)); // softmax over one key = 1
    const x1 = add64(x0, linear64(v, g(`${p}.self_attn.out_proj.weight`), g(`${p}.self_attn.out_proj.bias`)));
    const h2 = layerNorm64(x1, cfg.layerNormEps, g(`${p}.layer_norm2.weight`), g(`${p}.layer_norm2.bias`));
    const m1 = linear64(h2, g(`${p}.mlp.fc1.weight`), g(`${p}.mlp.fc1.bias`));
    const act = { shape: m1.shape, data: m1.data.map((z) => z / (1 + Math.exp(-1.702 * z))) };
    const want = add64(x1, linear64(act, g(`${p}.mlp.fc2.weight`), g(`${p}.mlp.fc2.bias`)));
    expectClose(out.hiddenStates[1].data.subarray(0, cfg.hiddenSize), want.data, 1e-12);
  });

  it('zero out_proj and fc2 make every layer the identity', () => {
    const w0 = new Map(w);
    for (let i = 0; i < cfg.numLayers; i++) {
      for (const n of ['self_attn.out_proj', 'mlp.fc2']) {
        for (const s of ['weight', 'bias']) {
          const k = `text_model.encoder.layers.${i}.${n}.${s}`;
          w0.set(k, zerosLike(w.get(k)!));
        }
      }
    }
    const out = clipTextForward64(w0, cfg, ids);
    for (let i = 1; i <= cfg.numLayers; i++) expectClose(out.hiddenStates[i], out.hiddenStates[0], 0);
  });

  it('pooled = final-LN state at the EOS position, projected without bias', () => {
    const out = clipTextForward64(w, cfg, ids);
    expect(out.eosIndex).toBe(3); // first 19
    const d = cfg.hiddenSize;
    expectClose(out.pooled.data, out.lastHiddenState.data.subarray(3 * d, 4 * d), 0);
    const proj = w.get('text_projection.weight')!;
    for (let o = 0; o < cfg.projectionDim; o++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += proj.data[o * d + i] * out.pooled.data[i];
      expect(out.textEmbeds.data[o]).toBeCloseTo(s, 13);
    }
  });

  it('EOS rule: eos id 2 -> argmax of ids (first max); otherwise first occurrence of the eos id', () => {
    expect(clipEosIndex([49406, 320, 49407, 49407], 2)).toBe(2);
    expect(clipEosIndex([5, 9, 9, 1], 2)).toBe(1);
    expect(clipEosIndex([49406, 320, 49407, 0, 49407], 49407)).toBe(2);
    expect(clipEosIndex([1, 2, 3], 7)).toBe(0);
  });

  it('hidden_act selects quick_gelu or exact gelu', () => {
    const t: Tensor64 = { shape: [1], data: Float64Array.of(0.8) };
    expect(clipActivation64('quick_gelu')(t).data[0]).toBe(quickGeluScalar(0.8));
    expect(clipActivation64('gelu')(t).data[0]).toBe(geluErfScalar(0.8));
    const a = clipTextForward64(w, cfg, ids);
    const b = clipTextForward64(w, { ...cfg, hiddenAct: 'gelu' }, ids);
    expect(a.hiddenStates[1].data.some((v, i) => Math.abs(v - b.hiddenStates[1].data[i]) > 1e-9)).toBe(true);
  });
});
