// Frame layout helpers: planar [C, H, W] <-> interleaved [H, W, C] byte images.

/** Planar [c, h, w] -> interleaved [h, w, c]. */
export function planarToInterleaved(src: ArrayLike<number>, c: number, h: number, w: number): Uint8Array {
  if (src.length !== c * h * w) throw new Error(`planarToInterleaved: got ${src.length} values, expected ${c}*${h}*${w}`);
  const out = new Uint8Array(c * h * w);
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < plane; p++) out[p * c + ch] = src[ch * plane + p];
  }
  return out;
}
