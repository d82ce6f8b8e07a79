// conv2d weight gradient as a split-K implicit GEMM without workgroup memory or barriers (engine/ops/conv2d-backward.ts,
// variant conv2d_dw_gemm; for CPU adapters such as lavapipe, as conv2d_regs.wgsl): dW[co, k] = sum over output pixels
// q = (n, oy, ox) of dy[n, co, oy, ox] * X[n, k, q], k = (ci, ky, kx) and X the zero-padded (optionally nearest-2x
// upsampled) input seen as im2col. Invocation (g, c, b) owns taps 4g..4g+3, channels TM c..TM c+TM-1 and the pixel
// block [b chunk, (b+1) chunk) of the flattened N*Ho*Wo pixels, which it walks in order: per pixel one 4-tap gather
// of x and TM reads of dy (the same for every invocation of the block), 4 TM FMAs. Block sums go to
// partials[b, co*K + k]; shaders/colsum.wgsl (FINISH) adds the blocks in order: fixed summation order, no atomics.
// Contract:
//   binding 0: Params { N, Cin, H, W (the stored input), Cout, Ho, Wo, stride, top, left, K (Cin*KH*KW), chunk, nb }
//   binding 1: dy [N, Cout, Ho, Wo] T; binding 2: x [N, Cin, H, W] T; binding 3: partials [nb, Cout*K] f32.
//   workgroup 16; grid (ceil(K / 64), ceil(Cout / TM), nb).
// Defines: T (f32 | f16), KH, KW, UPSAMPLE, TM (channels per invocation).

struct Params { N: u32, Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, top: u32, left: u32, K: u32, chunk: u32, nb: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;
@group(0) @binding(2) var<storage, read> x: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const KHW = {{KH}}u * {{KW}}u;
const TM = {{TM}}u;

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let k0 = (wid.x * 16u + li) * 4u;
  let co0 = wid.y * TM;
  let P = p.Ho * p.Wo;
  let HWs = p.H * p.W;
  let q0 = wid.z * p.chunk;
  let q1 = min(q0 + p.chunk, p.N * P);
//#if UPSAMPLE
  let He = i32(2u * p.H);
  let We = i32(2u * p.W);
//#else
  let He = i32(p.H);
  let We = i32(p.W);
//#endif
  // The 4 taps (clamped to the last one: their sums are never stored).
  var cib: vec4u;
  var kyv: vec4i;
  var kxv: vec4i;
  for (var j = 0u; j < 4u; j++) {
    let k = min(k0 + j, p.K - 1u);
    cib[j] = (k / KHW) * HWs;
    kyv[j] = i32((k % KHW) / {{KW}}u) - i32(p.top);
    kxv[j] = i32(k % {{KW}}u) - i32(p.left);
  }
  var co: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { co[i] = min(co0 + i, p.Cout - 1u) * P; }

  var acc: array<vec4f, TM>;
  var n = q0 / P;
  var pp = q0 % P;
  var oy = pp / p.Wo;
  var ox = pp % p.Wo;
  for (var q = q0; q < q1; q++) {
    let xb = n * p.Cin * HWs;
    let iyb = i32(oy * p.stride);
    let ixb = i32(ox * p.stride);
    var xv: vec4f;
    for (var j = 0u; j < 4u; j++) {
      let iy = iyb + kyv[j];
      let ix = ixb + kxv[j];
      var v = 0.0;
      if (iy >= 0 && ix >= 0 && iy < He && ix < We) {
//#if UPSAMPLE
        v = f32(x[xb + cib[j] + (u32(iy) / 2u) * p.W + u32(ix) / 2u]);
//#else
        v = f32(x[xb + cib[j] + u32(iy) * p.W + u32(ix)]);
//#endif
      }
      xv[j] = v;
    }
    let db = n * p.Cout * P + pp;
    for (var i = 0u; i < TM; i++) { acc[i] = fma(vec4f(f32(dy[db + co[i]])), xv, acc[i]); }
    pp++;
    ox++;
    if (ox == p.Wo) {
      ox = 0u;
      oy++;
      if (pp == P) { pp = 0u; oy = 0u; n++; }
    }
  }

  let nw = p.Cout * p.K;
  for (var i = 0u; i < TM; i++) {
    let c = co0 + i;
    if (c >= p.Cout) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + j;
      if (k < p.K) { partials[wid.z * nw + c * p.K + k] = acc[i][j]; }
    }
  }
}
