// Float64 reference of Video-Infinity's dual-scope temporal attention applied to Vchitect-2.0
// (../shared/spec/parallel.md section 2), computed directly on the whole video: for the query at frame a of clip r,
// the keys are the local window a-p .. a+p (zero keys/values beyond the video ends, or hidden with ends = 'mask')
// followed by the global frame set G, with the timestep-dependent logit bias. It plugs into the Vchitect reference
// as its temporal attention (vchitectForward64(..., { temporal })), so the whole transformer can be compared.
import { type Tensor64, ropeInterleaved64, sdpa64 } from './tensor64.js';
import { type TemporalAttention64, VCHITECT_ROPE_THETA } from './vchitect.js';
import { biasOnGlobal, type ClipLayout } from '../parallel/clip-layout.js';

/** Dual-scope temporal attention over the clips of `layout` at scheduler timestep t (0..1000). */
export function dualScopeTemporal64(layout: ClipLayout, timestep: number): TemporalAttention64 {
  const o = layout.opts;
  const p = o.window;
  const onGlobal = biasOnGlobal(timestep, o);
  return (qT, kT, vT, heads) => {
    const nf = qT.length;
    if (nf !== layout.frames) throw new Error(`dualScopeTemporal64: ${nf} frames, but the clip layout has ${layout.frames}`);
    const [s, d] = qT[0]!.shape as [number, number];
    const out = Array.from({ length: nf }, () => new Float64Array(s * d));
    const row = (src: Tensor64[], g: number, r: number) => src[g]!.data.subarray(r * d, (r + 1) * d);
    for (let clip = 0; clip < layout.lengths.length; clip++) {
      const start = layout.starts[clip]!;
      const len = layout.lengths[clip]!;
      for (let a = start; a < start + len; a++) {
        // Keys: 2p+1 window frames, then G. Positions per key; null frame = beyond the video ends (zero key/value).
        const frames: (number | null)[] = [];
        const pos: number[] = [];
        const bias: number[] = [];
        for (let off = -p; off <= p; off++) {
          const g = a + off;
          const inside = g >= 0 && g < nf;
          frames.push(inside ? g : null);
          pos.push(o.rope === 'global' ? g : g - start + p);
          bias.push(!inside && o.ends === 'mask' ? -Infinity : onGlobal ? 0 : o.bias);
        }
        layout.global.forEach((g, j) => {
          frames.push(g);
          pos.push(o.rope === 'global' ? g : len + 2 * p + j);
          bias.push(onGlobal ? o.bias : 0);
        });
        const qPos = o.rope === 'global' ? a : a - start + p;
        const sk = frames.length;
        for (let r = 0; r < s; r++) {
          const k = new Float64Array(sk * d);
          const v = new Float64Array(sk * d);
          frames.forEach((g, j) => {
            if (g === null) return;
            k.set(row(kT, g, r), j * d);
            v.set(row(vT, g, r), j * d);
          });
          const q = ropeInterleaved64({ shape: [1, d], data: Float64Array.from(row(qT, a, r)) }, heads, [qPos], VCHITECT_ROPE_THETA);
          const kr = ropeInterleaved64({ shape: [sk, d], data: k }, heads, pos, VCHITECT_ROPE_THETA);
          const res = sdpa64(q, kr, { shape: [sk, d], data: v }, heads, { bias: { shape: [1, sk], data: Float64Array.from(bias) } });
          out[a]!.set(res.data, r * d);
        }
      }
    }
    return out.map((data) => ({ shape: [s, d], data }));
  };
}
