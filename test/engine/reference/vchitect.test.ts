// Checks of the float64 Vchitect transformer reference: hand-derivable weight choices, frame-structure
// properties (per-frame spatial/cross, frame-0 text K/V, F==1 temporal zeroing) and a spec-composed block.
import { describe, expect, it } from 'vitest';
import {
  type Tensor64,
  add64,
  chunk64,
  geluTanh64,
  index0,
  layerNorm64,
  linear64,
  reshape64,
  silu64,
  stack64,
  timestepEmbedding64,
} from '../../../engine/reference/tensor64.js';
import {
  type VchitectConfig64,
  vchitectAttention64,
  vchitectBlock64,
  vchitectFinal64,
  vchitectForward64,
  vchitectPatchEmbed64,
  vchitectTemb64,
} from '../../../engine/reference/vchitect.js';
import { TINY_VCHITECT, expectClose, makeRng, maxAbs, randn64, randomVchitectWeights, withWeights, zerosLike } from './fixtures.js';

const cfg = TINY_VCHITECT;
const D = cfg.heads * cfg.headDim;

function inputs(seed: number, frames: number, hl = 4, wl = 6, tokens = 5) {
  const rng = makeRng(seed);
  return {
    hiddenStates: randn64(rng, [1, frames, cfg.inChannels, hl, wl]),
    timestep: 612.5,
    encoderHiddenStates: randn64(rng, [1, tokens, cfg.jointAttentionDim]),
    pooledProjections: randn64(rng, [1, cfg.pooledProjectionDim]),
  };
}

function zeroLinears(w: Map<string, Tensor64>, prefixes: string[]): Map<string, Tensor64> {
  const changes: Record<string, Tensor64> = {};
  for (const p of prefixes) {
    changes[`${p}.weight`] = zerosLike(w.get(`${p}.weight`)!);
    changes[`${p}.bias`] = zerosLike(w.get(`${p}.bias`)!);
  }
  return withWeights(w, changes);
}

const allBlocks = (names: string[]) =>
  Array.from({ length: cfg.numLayers }, (_, i) => i).flatMap((i) =>
    names.filter((n) => !(i === cfg.numLayers - 1 && n === 'to_add_out')).map((n) => `transformer_blocks.${i}.attn.${n}`),
  );

function frameSlice(t: Tensor64, f: number): Tensor64 {
  // [1, F, C, H, W] -> [1, 1, C, H, W]
  const inner = t.shape.slice(2);
  return { shape: [1, 1, ...inner], data: index0(reshape64(t, t.shape.slice(1)), f).data.slice() };
}

describe('vchitect forward', () => {
  it('produces [1, F, outChannels, Hl, Wl] finite output that depends on the timestep', () => {
    const w = randomVchitectWeights(cfg, 1);
    const inp = inputs(2, 3);
    const out = vchitectForward64(w, cfg, inp);
    expect(out.shape).toEqual([1, 3, cfg.outChannels, 4, 6]);
    expect(out.data.every(Number.isFinite)).toBe(true);
    const other = vchitectForward64(w, cfg, { ...inp, timestep: 100 });
    expect(maxAbs(add64(out, { shape: other.shape, data: other.data.map((v) => -v) }))).toBeGreaterThan(1e-6);
  });

  it('F == 1: temporal weights have no effect (terms multiplied by 0); with F == 2 they do', () => {
    const w = randomVchitectWeights(cfg, 3);
    const temporal = allBlocks(['to_q_temp', 'to_k_temp', 'to_v_temp', 'to_out_temporal', 'to_add_out_temporal']);
    const rng = makeRng(99);
    const changes: Record<string, Tensor64> = {};
    for (const p of temporal) {
      changes[`${p}.weight`] = randn64(rng, w.get(`${p}.weight`)!.shape);
      changes[`${p}.bias`] = randn64(rng, w.get(`${p}.bias`)!.shape);
    }
    const w2 = withWeights(w, changes);
    const one = inputs(4, 1);
    expectClose(vchitectForward64(w, cfg, one), vchitectForward64(w2, cfg, one), 0);
    const two = inputs(4, 2);
    const a = vchitectForward64(w, cfg, two);
    const b = vchitectForward64(w2, cfg, two);
    expect(Math.max(...a.data.map((v, i) => Math.abs(v - b.data[i])))).toBeGreaterThan(1e-6);
  });

  it('without temporal and cross outputs every frame is computed alone (spatial branch is per frame)', () => {
    const base = randomVchitectWeights(cfg, 5);
    const w = zeroLinears(base, allBlocks(['to_out_temporal', 'to_add_out_temporal', 'to_out_context']));
    const inp = inputs(6, 3);
    const all = vchitectForward64(w, cfg, inp);
    for (let f = 0; f < 3; f++) {
      const alone = vchitectForward64(w, cfg, { ...inp, hiddenStates: frameSlice(inp.hiddenStates, f) });
      expectClose(frameSlice(all, f), alone, 1e-12);
    }
  });

  it('cross attention reads frame-0 text K/V: frame 0 drives every frame, other frames only themselves', () => {
    const base = randomVchitectWeights(cfg, 7);
    const w = zeroLinears(base, allBlocks(['to_out_temporal', 'to_add_out_temporal']));
    const inp = inputs(8, 3);
    const ref = vchitectForward64(w, cfg, inp);
    const perturb = (f: number) => {
      const hs = { shape: inp.hiddenStates.shape, data: inp.hiddenStates.data.slice() };
      const n = hs.data.length / 3;
      for (let i = f * n; i < (f + 1) * n; i++) hs.data[i] += 0.5;
      return vchitectForward64(w, cfg, { ...inp, hiddenStates: hs });
    };
    const diffPerFrame = (o: Tensor64) =>
      [0, 1, 2].map((f) => Math.max(...frameSlice(o, f).data.map((v, i) => Math.abs(v - frameSlice(ref, f).data[i]))));
    const d2 = diffPerFrame(perturb(2));
    expect(d2[0]).toBe(0);
    expect(d2[1]).toBe(0);
    expect(d2[2]).toBeGreaterThan(1e-6);
    const d0 = diffPerFrame(perturb(0));
    expect(d0.every((d) => d > 1e-6)).toBe(true);
  });

  it('names a missing weight', () => {
    const w = randomVchitectWeights(cfg, 1);
    w.delete('transformer_blocks.1.attn.to_q_cross.weight');
    expect(() => vchitectForward64(w, cfg, inputs(1, 2))).toThrow(/transformer_blocks\.1\.attn\.to_q_cross\.weight/);
  });
});

describe('vchitect parts', () => {
  it('patch embed: identity conv weight gives the (c,p,q) pixels of each token plus the cropped table', () => {
    const c2: VchitectConfig64 = { ...cfg, inChannels: 2 }; // D = 8 = 2*2*2
    const w = randomVchitectWeights(c2, 11);
    const eye = new Float64Array(D * 8);
    for (let d = 0; d < D; d++) eye[d * 8 + d] = 1; // weight[d, c, p, q] with d = c*4 + p*2 + q
    w.set('pos_embed.proj.weight', { shape: [D, 2, 2, 2], data: eye });
    w.set('pos_embed.proj.bias', { shape: [D], data: new Float64Array(D) });
    const m = c2.posEmbedMaxSize;
    const table = new Float64Array(m * m * D);
    for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) for (let d = 0; d < D; d++) table[(r * m + c) * D + d] = 1000 * r + 100 * c;
    w.set('pos_embed.pos_embed', { shape: [1, m * m, D], data: table });
    const frame = randn64(makeRng(12), [2, 4, 6]); // h = 2, w = 3 -> top (7-2)//2 = 2, left (7-3)//2 = 2
    const tok = vchitectPatchEmbed64(w, c2, frame);
    expect(tok.shape).toEqual([6, D]);
    for (let row = 0; row < 2; row++)
      for (let col = 0; col < 3; col++)
        for (let c = 0; c < 2; c++)
          for (let p = 0; p < 2; p++)
            for (let q = 0; q < 2; q++) {
              const got = tok.data[(row * 3 + col) * D + c * 4 + p * 2 + q];
              const want = frame.data[(c * 4 + row * 2 + p) * 6 + col * 2 + q] + 1000 * (2 + row) + 100 * (2 + col);
              expect(got).toBeCloseTo(want, 12);
            }
  });

  it('temb = timestep MLP(cos/sin sinusoid) + text MLP(pooled)', () => {
    const w = randomVchitectWeights(cfg, 13);
    const pick = new Float64Array(D * 256);
    pick[0 * 256 + 0] = 1; // row 0 <- cos(t * e_0) = cos(t)
    pick[1 * 256 + 128] = 1; // row 1 <- sin(t)
    w.set('time_text_embed.timestep_embedder.linear_1.weight', { shape: [D, 256], data: pick });
    w.set('time_text_embed.timestep_embedder.linear_1.bias', { shape: [D], data: new Float64Array(D) });
    const eye = new Float64Array(D * D);
    for (let i = 0; i < D; i++) eye[i * D + i] = 1;
    w.set('time_text_embed.timestep_embedder.linear_2.weight', { shape: [D, D], data: eye });
    w.set('time_text_embed.timestep_embedder.linear_2.bias', { shape: [D], data: new Float64Array(D) });
    const pooled = randn64(makeRng(14), [1, cfg.pooledProjectionDim]);
    const t = 321.5;
    const temb = vchitectTemb64(w, cfg, t, pooled);
    const g = (n: string) => w.get(`time_text_embed.text_embedder.${n}`)!;
    const p1 = linear64(reshape64(pooled, [cfg.pooledProjectionDim]), g('linear_1.weight'), g('linear_1.bias')).data.map((x) => x / (1 + Math.exp(-x)));
    const text = linear64({ shape: [D], data: p1 }, g('linear_2.weight'), g('linear_2.bias'));
    const silu = (x: number) => x / (1 + Math.exp(-x));
    expect(temb.data[0]).toBeCloseTo(silu(Math.cos(t)) + text.data[0], 12);
    expect(temb.data[1]).toBeCloseTo(silu(Math.sin(t)) + text.data[1], 12);
    expect(temb.data[2]).toBeCloseTo(silu(0) + text.data[2], 12);
  });

  it('final layer: scale-first modulation and proj_out channel (p*2+q)*C + c', () => {
    const w = randomVchitectWeights(cfg, 15);
    const C = cfg.outChannels;
    w.set('norm_out.linear.weight', { shape: [2 * D, D], data: new Float64Array(2 * D * D) });
    const nb = new Float64Array(2 * D);
    nb.fill(1, 0, D); // scale = 1 -> factor 2
    nb.fill(0.25, D); // shift = 0.25
    w.set('norm_out.linear.bias', { shape: [2 * D], data: nb });
    const pw = new Float64Array(4 * C * D);
    for (let k = 0; k < 4 * C; k++) pw[k * D] = 1; // every output reads channel 0 of the normalised token
    const pb = new Float64Array(4 * C).map((_, k) => 10 * k);
    w.set('proj_out.weight', { shape: [4 * C, D], data: pw });
    w.set('proj_out.bias', { shape: [4 * C], data: pb });
    const x = randn64(makeRng(16), [2, 6, D]);
    const out = vchitectFinal64(w, cfg, x, randn64(makeRng(17), [D]), 2, 3);
    expect(out.shape).toEqual([2, C, 4, 6]);
    const ln = layerNorm64(x, 1e-6);
    for (let f = 0; f < 2; f++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < 4; y++)
          for (let z = 0; z < 6; z++) {
            const token = Math.floor(y / 2) * 3 + Math.floor(z / 2);
            const k = ((y % 2) * 2 + (z % 2)) * C + c;
            const want = ln.data[(f * 6 + token) * D] * 2 + 0.25 + 10 * k;
            expect(out.data[((f * C + c) * 4 + y) * 6 + z]).toBeCloseTo(want, 12);
          }
  });

  it('attention with all query/key projections zero: uniform averages of the three branches', () => {
    const base = randomVchitectWeights(cfg, 21);
    const zeroed = ['to_q', 'to_k', 'to_q_temp', 'to_k_temp', 'to_q_cross', 'add_q_proj', 'add_k_proj'].map((n) => `transformer_blocks.0.attn.${n}`);
    const w = zeroLinears(base, zeroed);
    const rng = makeRng(22);
    const F = 3;
    const L = 4;
    const T = 2;
    const xh = randn64(rng, [F, L, D]);
    const ch = randn64(rng, [F, T, D]);
    const out = vchitectAttention64(w, cfg, 0, xh, ch);
    const g = (n: string) => [w.get(`transformer_blocks.0.attn.${n}.weight`)!, w.get(`transformer_blocks.0.attn.${n}.bias`)!] as const;
    const lin = (n: string, x: Tensor64) => linear64(x, ...g(n));
    const mean = (rows: Tensor64[]) => {
      const m = new Float64Array(D);
      for (const r of rows) for (let i = 0; i < D; i++) m[i] += r.data[i] / rows.length;
      return { shape: [D], data: m };
    };
    const row = (t: Tensor64, i: number) => ({ shape: [D], data: t.data.slice(i * D, (i + 1) * D) });
    const v = (f: number) => lin('to_v', index0(xh, f));
    const cv = (f: number) => lin('add_v_proj', index0(ch, f));
    const vt = (f: number) => lin('to_v_temp', index0(xh, f));
    const cross = mean(Array.from({ length: T }, (_, j) => row(cv(0), j)));
    for (let f = 0; f < F; f++) {
      const spatial = mean([...Array.from({ length: L }, (_, i) => row(v(f), i)), ...Array.from({ length: T }, (_, j) => row(cv(f), j))]);
      const hsum = add64({ shape: [D], data: spatial.data.map((x) => 1.1 * x) }, lin('to_out_context', cross));
      for (let l = 0; l < L; l++) {
        const temporal = mean(Array.from({ length: F }, (_, g2) => row(vt(g2), l)));
        const want = add64(lin('to_out.0', hsum), lin('to_out_temporal', temporal));
        expectClose(row(index0(out.visual, f), l).data, want.data, 1e-12);
      }
      for (let j = 0; j < T; j++) {
        const temporal = mean(Array.from({ length: F }, (_, g2) => row(cv(g2), j)));
        const want = add64(lin('to_add_out', hsum), lin('to_add_out_temporal', temporal));
        expectClose(row(index0(out.text!, f), j).data, want.data, 1e-12);
      }
    }
  });

  it('temporal branch: RoPE(theta 1e6) over frames matches a relative-angle complex formula', () => {
    const base = randomVchitectWeights(cfg, 31);
    const eye = new Float64Array(D * D);
    for (let i = 0; i < D; i++) eye[i * D + i] = 1;
    const w = withWeights(zeroLinears(base, ['transformer_blocks.0.attn.to_out.0']), {
      'transformer_blocks.0.attn.to_out_temporal.weight': { shape: [D, D], data: eye },
      'transformer_blocks.0.attn.to_out_temporal.bias': { shape: [D], data: new Float64Array(D) },
    });
    const rng = makeRng(32);
    const F = 4;
    const L = 3;
    const xh = randn64(rng, [F, L, D]);
    const ch = randn64(rng, [F, 2, D]);
    const out = vchitectAttention64(w, cfg, 0, xh, ch);
    const g = (n: string) => [w.get(`transformer_blocks.0.attn.${n}.weight`)!, w.get(`transformer_blocks.0.attn.${n}.bias`)!] as const;
    const qt = Array.from({ length: F }, (_, f) => linear64(index0(xh, f), ...g('to_q_temp')));
    const kt = Array.from({ length: F }, (_, f) => linear64(index0(xh, f), ...g('to_k_temp')));
    const vt = Array.from({ length: F }, (_, f) => linear64(index0(xh, f), ...g('to_v_temp')));
    const hd = cfg.headDim;
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < cfg.heads; h++) {
        for (let f = 0; f < F; f++) {
          const logits: number[] = [];
          for (let g2 = 0; g2 < F; g2++) {
            let s = 0;
            for (let j = 0; j < hd / 2; j++) {
              const o = l * D + h * hd + 2 * j;
              // Re( q_c * conj(k_c) * e^{i (f - g) w_j} ), q_c = q[2j] + i q[2j+1]
              const ar = qt[f].data[o] * kt[g2].data[o] + qt[f].data[o + 1] * kt[g2].data[o + 1];
              const ai = qt[f].data[o + 1] * kt[g2].data[o] - qt[f].data[o] * kt[g2].data[o + 1];
              const ang = (f - g2) * 1e6 ** ((-2 * j) / hd);
              s += ar * Math.cos(ang) - ai * Math.sin(ang);
            }
            logits.push(s / Math.sqrt(hd));
          }
          const mx = Math.max(...logits);
          const e = logits.map((x) => Math.exp(x - mx));
          const z = e.reduce((a, b) => a + b, 0);
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let g2 = 0; g2 < F; g2++) acc += (e[g2] / z) * vt[g2].data[l * D + h * hd + d];
            expect(out.visual.data[(f * L + l) * D + h * hd + d]).toBeCloseTo(acc, 11);
          }
        }
      }
    }
  });
});

/** The block written straight from the spec's pseudo-code, using the (separately tested) attention. */
function specBlock(w: Map<string, Tensor64>, i: number, x: Tensor64, c: Tensor64, temb: Tensor64) {
  const last = i === cfg.numLayers - 1;
  const b = `transformer_blocks.${i}`;
  const e = silu64(temb);
  const lin = (n: string, t: Tensor64) => linear64(t, w.get(`${n}.weight`)!, w.get(`${n}.bias`)!);
  const F = x.shape[0];
  const mod = (t: Tensor64, shift: Tensor64, scale: Tensor64) => {
    const n = layerNorm64(t, 1e-6);
    const Dm = shift.data.length;
    return { shape: n.shape, data: n.data.map((v, k) => v * (1 + scale.data[k % Dm]) + shift.data[k % Dm]) };
  };
  const gate = (t: Tensor64, g: Tensor64) => ({ shape: t.shape, data: t.data.map((v, k) => v * g.data[k % g.data.length]) });
  const ff = (p: string, t: Tensor64) => lin(`${p}.net.2`, geluTanh64(lin(`${p}.net.0.proj`, t)));
  const [sh1, sc1, g1, sh2, sc2, g2] = chunk64(lin(`${b}.norm1.linear`, e), 6);
  const cAt = (f: number) => index0(c, c.shape[0] === 1 ? 0 : f);
  const xh = stack64(Array.from({ length: F }, (_, f) => mod(index0(x, f), sh1, sc1)));
  const cm = chunk64(lin(`${b}.norm1_context.linear`, e), last ? 2 : 6);
  const ch = last
    ? stack64(Array.from({ length: F }, (_, f) => mod(cAt(f), cm[1], cm[0])))
    : stack64(Array.from({ length: F }, (_, f) => mod(cAt(f), cm[0], cm[1])));
  const att = vchitectAttention64(w, cfg, i, xh, ch);
  const xs = Array.from({ length: F }, (_, f) => {
    const x1 = add64(index0(x, f), gate(index0(att.visual, f), g1));
    return add64(x1, gate(ff(`${b}.ff`, mod(x1, sh2, sc2)), g2));
  });
  if (last) return { x: stack64(xs), c: null };
  const cs = Array.from({ length: F }, (_, f) => {
    const c1 = add64(cAt(f), gate(index0(att.text!, f), cm[2]));
    return add64(c1, gate(ff(`${b}.ff_context`, mod(c1, cm[3], cm[4])), cm[5]));
  });
  return { x: stack64(xs), c: stack64(cs) };
}

describe('vchitect block', () => {
  const w = randomVchitectWeights(cfg, 41);
  const rng = makeRng(42);
  const F = 2;
  const x = randn64(rng, [F, 6, D]);
  const c1 = randn64(rng, [1, 5, D]);
  const cF = randn64(rng, [F, 5, D]);
  const temb = randn64(rng, [D]);

  it('normal block matches the spec pseudo-code (shift, scale, gate order; gated FF; text FF)', () => {
    const got = vchitectBlock64(w, cfg, 1, x, cF, temb);
    const want = specBlock(w, 1, x, cF, temb);
    expectClose(got.x, want.x, 1e-12);
    expectClose(got.c!, want.c!, 1e-12);
  });

  it('last block: norm1_context (scale, shift) and no text stream', () => {
    const last = cfg.numLayers - 1;
    const got = vchitectBlock64(w, cfg, last, x, cF, temb);
    expect(got.c).toBeNull();
    expectClose(got.x, specBlock(w, last, x, cF, temb).x, 1e-12);
    // swapping the two halves of norm1_context must change the result (the order matters)
    const nc = w.get(`transformer_blocks.${last}.norm1_context.linear.bias`)!;
    const swapped = new Float64Array(nc.data.length);
    swapped.set(nc.data.subarray(D), 0);
    swapped.set(nc.data.subarray(0, D), D);
    const w2 = withWeights(w, { [`transformer_blocks.${last}.norm1_context.linear.bias`]: { shape: nc.shape, data: swapped } });
    const other = vchitectBlock64(w2, cfg, last, x, cF, temb);
    expect(Math.max(...other.x.data.map((v, k) => Math.abs(v - got.x.data[k])))).toBeGreaterThan(1e-6);
  });

  it('block 0 broadcasts a single text copy to every frame', () => {
    const rep = stack64([index0(c1, 0), index0(c1, 0)]);
    const a = vchitectBlock64(w, cfg, 0, x, c1, temb);
    const b = vchitectBlock64(w, cfg, 0, x, rep, temb);
    expectClose(a.x, b.x, 0);
    expectClose(a.c!, b.c!, 0);
    expect(a.c!.shape).toEqual([F, 5, D]);
  });

  it('timestep embedding feeds every block through SiLU', () => {
    expect(timestepEmbedding64(1).shape).toEqual([256]);
    const a = vchitectBlock64(w, cfg, 1, x, cF, temb);
    const b = vchitectBlock64(w, cfg, 1, x, cF, { shape: [D], data: temb.data.map((v) => v + 0.3) });
    expect(Math.max(...a.x.data.map((v, k) => Math.abs(v - b.x.data[k])))).toBeGreaterThan(1e-6);
  });
});
