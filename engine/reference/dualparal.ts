// Float64 reference of DualParal block-wise denoising applied to Vchitect-2.0 (../shared/spec/parallel.md section 3):
// the FIFO of frame blocks on one CPU, written directly from the spec, with the Vchitect float64 reference
// (reference/vchitect.ts) as the model. Per iteration the queued blocks run tail to head, one flow-match Euler step
// each at their own step; block b's window holds [last C frames of block b-1 at b's number of updates | block b];
// its temporal attention's keys/values add the first C frames of block b+1 as block b+1 computed them, layer by
// layer, earlier in the same sweep (K before RoPE); RoPE positions are window-local. The GPU executor
// (engine/parallel/dualparal-run.ts) must match it within f32 tolerance for every rank count.

import { combineGuidance64, flowMatchSchedule, guidanceWeight, type GuidanceMode } from './flow-match.js';
import { type Tensor64, ropeInterleaved64, sdpa64, stack64 } from './tensor64.js';
import {
  type TemporalAttention64,
  type VchitectConfig64,
  VCHITECT_ROPE_THETA,
  vchitectBlock64,
  vchitectContext64,
  vchitectFinal64,
  vchitectPatchEmbed64,
  vchitectTemb64,
} from './vchitect.js';
import type { WeightSource64 } from './weights64.js';
import { blockFrames, planQueue, type BlockLayout } from '../parallel/dualparal-plan.js';

export interface DualParalText64 {
  /** [1, T, J] */
  context: Tensor64;
  /** [1, P] */
  pooled: Tensor64;
}

export interface DualParalOptions64 {
  layout: BlockLayout;
  steps: number;
  shift: number;
  numTrainTimesteps: number;
  guidance: number;
  guidanceMode: GuidanceMode;
  /** [C, H, W] of one latent frame. */
  latent: [number, number, number];
  /** Initial latents of block k's own frames, frame-major (the coordinated noise pool's frames). */
  initial: (block: number) => Float64Array;
}

/** Per layer: the unroped temporal K and V rows of the C context frames, one [S, D] tensor per frame. */
type Cache = Map<number, { k: Tensor64[]; v: Tensor64[] }>;

/** Window temporal attention of layer `layer`: stores frames [save.from, +count) and appends `next`. */
function windowTemporal(layer: number, next: Cache | null, save: { from: number; count: number; into: Cache } | null): TemporalAttention64 {
  return (qT, kT, vT, heads) => {
    if (save) save.into.set(layer, { k: kT.slice(save.from, save.from + save.count), v: vT.slice(save.from, save.from + save.count) });
    const nx = next?.get(layer);
    if (next && !nx) throw new Error(`dualParal64: no next-context K/V for layer ${layer}`);
    const keys = nx ? [...kT, ...nx.k] : kT;
    const values = nx ? [...vT, ...nx.v] : vT;
    const nq = qT.length;
    const nk = keys.length;
    const [s, d] = qT[0]!.shape as [number, number];
    const out = Array.from({ length: nq }, () => new Float64Array(s * d));
    const rows = (src: Tensor64[], r: number): Tensor64 => ({ shape: [src.length, d], data: Float64Array.from(src.flatMap((f) => [...f.data.subarray(r * d, (r + 1) * d)])) });
    const pos = (n: number) => Array.from({ length: n }, (_, i) => i);
    for (let r = 0; r < s; r++) {
      const q = ropeInterleaved64(rows(qT, r), heads, pos(nq), VCHITECT_ROPE_THETA);
      const k = ropeInterleaved64(rows(keys, r), heads, pos(nk), VCHITECT_ROPE_THETA);
      const o = sdpa64(q, k, rows(values, r), heads);
      for (let f = 0; f < nq; f++) out[f]!.set(o.data.subarray(f * d, (f + 1) * d), r * d);
    }
    return out.map((data) => ({ shape: [s, d], data }));
  };
}

/** Runs the whole queue; returns the final latents [F, C, H, W] data (frame-major) and the run order. */
export function dualParal64(w: WeightSource64, cfg: VchitectConfig64, text: readonly DualParalText64[], o: DualParalOptions64): { latents: Float64Array; order: { iteration: number; block: number; step: number }[] } {
  const { layout, steps } = o;
  const C = layout.contextFrames;
  const [ch, hl, wl] = o.latent;
  const fe = ch * hl * wl;
  const p = cfg.patchSize;
  const { sigmas, timesteps } = flowMatchSchedule(steps, o.shift, o.numTrainTimesteps);
  const useCfg = o.guidance > 1;
  if (text.length !== (useCfg ? 2 : 1)) throw new Error('dualParal64: text is [cond] without CFG, [cond, uncond] with it');
  // Every version of every block's own frames, by number of updates.
  const hist = new Map<number, Float64Array[]>();
  const out = new Float64Array(layout.latentFrames * fe);
  const order: { iteration: number; block: number; step: number }[] = [];
  const plan = planQueue(layout, steps);
  for (let j = 0; j < plan.iterations.length; j++) {
    // Per CFG branch, the cache the previous block step of this sweep left.
    const caches: (Cache | null)[] = text.map(() => null);
    for (const st of plan.iterations[j]!) {
      const { block: b, step: s } = st;
      order.push({ iteration: j, block: b, step: s });
      if (s === 0) hist.set(b, [o.initial(b)]);
      const mine = hist.get(b)![s]!;
      const prevLen = b > 0 ? C : 0;
      const prev = prevLen ? hist.get(b - 1)![s]!.subarray((hist.get(b - 1)![s]!.length / fe - C) * fe) : new Float64Array(0);
      const nf = prevLen + mine.length / fe;
      const win = new Float64Array(nf * fe);
      win.set(prev, 0);
      win.set(mine, prev.length);
      const t = timesteps[s]!;
      const vel = text.map((tx, bi) => {
        const fresh: Cache = new Map();
        let x = stack64(Array.from({ length: nf }, (_, f) => vchitectPatchEmbed64(w, cfg, { shape: [ch, hl, wl], data: win.subarray(f * fe, (f + 1) * fe) })));
        const temb = vchitectTemb64(w, cfg, t, tx.pooled);
        let c: Tensor64 | null = vchitectContext64(w, cfg, tx.context);
        for (let i = 0; i < cfg.numLayers; i++) {
          const temporal = windowTemporal(i, st.nextContext ? caches[bi]! : null, b > 0 && C > 0 ? { from: prevLen, count: C, into: fresh } : null);
          const r = vchitectBlock64(w, cfg, i, x, c!, temb, { temporal });
          x = r.x;
          c = r.c;
        }
        caches[bi] = fresh;
        return vchitectFinal64(w, cfg, x, temb, hl / p, wl / p);
      });
      const v = useCfg ? combineGuidance64(vel[1]!, vel[0]!, guidanceWeight(o.guidanceMode, o.guidance, t, steps)) : vel[0]!;
      const dt = sigmas[s + 1]! - sigmas[s]!;
      const next = new Float64Array(mine.length);
      for (let k = 0; k < next.length; k++) next[k] = mine[k]! + dt * v.data[prevLen * fe + k]!;
      hist.get(b)!.push(next);
      if (s + 1 === steps) out.set(next, blockFrames(layout, b).start * fe);
    }
  }
  return { latents: out, order };
}
