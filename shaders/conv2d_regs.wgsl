// conv2d, register-tiled implicit GEMM without workgroup memory or barriers (for CPU adapters such as lavapipe,
// where each invocation is a SIMD lane and a barrier splits the kernel; see matmul_regs.wgsl): out[n, co, p] =
// bias[co] (+ res) + sum_k w[co, k] X[n, k, p] as conv2d.wgsl, each invocation computing TM output channels x 4
// consecutive pixels straight from global memory: per tap k one 4-pixel im2col gather and TM weight reads (the
// same for every invocation of the channel block), 4 TM FMAs. The reduction over k runs in order (ci, ky, kx).
// FLIP_W (the stride-1 dX of engine/ops/conv2d-backward.ts): the weight read is the channel-transposed, flipped
// kernel, w'[co, c, ky, kx] = w[c, co, KH-1-ky, KW-1-kx] with w stored as the forward's [C, Cout, KH, KW];
// DILATE = s (the stride-s dX): the input is read with s - 1 zeros between neighbours (conv2d_io.wgsl).
// Contract (engine/ops/conv2d.ts, conv2d-backward.ts): that of conv2d.wgsl (conv2d_io); workgroup 64; invocation
// g = 64 wid.x + li of item wid.z owns pixel group g % ceil(Ho*Wo / 4) and channel block g / ceil(Ho*Wo / 4) (so
// small planes, 8x8, still fill the workgroup); grid (ceil(ceil(Ho*Wo / 4) * ceil(Cout / TM) / 64), 1, N). Defines: T, KH, KW, KD (kernel dilation, 1 = none), RES, UPSAMPLE, FLIP_W, TM (4, 8 or 16).

//#include conv2d_io

const KHW = {{KH}}u * {{KW}}u;
const TM = {{TM}}u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let img = wid.z;
  let P = p.Ho * p.Wo;
  let PG = (P + 3u) / 4u;
  let g = wid.x * 64u + li;
  let co0 = (g / PG) * TM;
  if (co0 >= p.Cout) { return; }
  let q0 = (g % PG) * 4u;
  let xbase = img * p.Cin * p.H * p.W;
  let HW = p.H * p.W;
  var iy0: vec4i;
  var ix0: vec4i;
  for (var j = 0u; j < 4u; j++) {
    let q = min(q0 + j, P - 1u);
    iy0[j] = i32((q / p.Wo) * p.stride) - i32(p.pad_top);
    ix0[j] = i32((q % p.Wo) * p.stride) - i32(p.pad_left);
  }
  // Weight rows of the block's channels (clamped to the last channel: their results are never stored).
  var wrow: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let co = min(co0 + i, p.Cout - 1u);
//#if FLIP_W
    wrow[i] = co * KHW;
//#else
    wrow[i] = co * p.K;
//#endif
  }
  var acc: array<vec4f, TM>;
  for (var ci = 0u; ci < p.Cin; ci++) {
    let base = xbase + ci * HW;
    for (var r = 0u; r < KHW; r++) {
      let dy = i32(r / {{KW}}u) * {{KD}};
      let dx = i32(r % {{KW}}u) * {{KD}};
      var xv: vec4f;
      for (var j = 0u; j < 4u; j++) { xv[j] = load_x(base, iy0[j] + dy, ix0[j] + dx); }
//#if FLIP_W
      let wo = ci * p.Cout * KHW + KHW - 1u - r;
//#else
      let wo = ci * KHW + r;
//#endif
      for (var i = 0u; i < TM; i++) { acc[i] = fma(vec4f(f32(w[wrow[i] + wo])), xv, acc[i]); }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let co = co0 + i;
    if (co >= p.Cout) { continue; }
    let bv = f32(bias[co]);
    let obase = (img * p.Cout + co) * P;
    for (var j = 0u; j < 4u; j++) {
      let q = q0 + j;
      if (q < P) {
        var v = acc[i][j] + bv;
//#if RES
        v += f32(res[obase + q]);
//#endif
        out[obase + q] = {{T}}(v);
      }
    }
  }
}
