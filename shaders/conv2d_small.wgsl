// conv2d, tiled implicit GEMM for few channels (the small VAE's 16 / 32): as conv2d.wgsl (out[n, co, p] = bias[co]
// (+ res) + sum_k w[co, k] X[n, k, p], k = (ci, ky, kx), X the zero-padded (optionally nearest-2x upsampled) input
// seen as im2col) with a TCO channel x TP pixel tile, so 16 output channels do not leave 3/4 of a 64-channel tile
// idle. Thread (tx, ty) of the (TP/4) x (TCO/4) workgroup owns channels 4ty..4ty+3 and pixels 4tx..4tx+3; each K
// step of 16 stages the [16][TCO] weight tile and the [16][TP] im2col tile as vec4 rows in workgroup memory.
// FLIP_W (the stride-1 dX of engine/ops/conv2d-backward.ts, a convolution of dy): the weight read is the
// channel-transposed, spatially flipped kernel, w'[co, c, ky, kx] = w[c, co, KH-1-ky, KW-1-kx] with w stored as the
// forward's [C, Cout, KH, KW] (C = this conv's Cin).
// Contract (engine/ops/conv2d.ts, conv2d-backward.ts): that of conv2d.wgsl (conv2d_io), grid
// (ceil(Ho*Wo / TP), ceil(Cout / TCO), N). Defines: T, KH, KW, RES, UPSAMPLE, FLIP_W, TCO, TP (multiples of 4,
// (TCO/4) * (TP/4) <= 256, 16 * TCO/4 and 16 * TP/4 multiples of the thread count).

//#include conv2d_io

const BK = 16u;
const KHW = {{KH}}u * {{KW}}u;
const TCO = {{TCO}}u;
const TP = {{TP}}u;
const WX = TP / 4u;
const WY = TCO / 4u;
const NT = WX * WY;

var<workgroup> ws: array<vec4f, BK * WY>;  // [k][channel group]
var<workgroup> xs: array<vec4f, BK * WX>;  // [k][pixel group]

fn weight(co: u32, k: u32) -> f32 {
//#if FLIP_W
  let c = k / KHW;
  let r = KHW - 1u - k % KHW;
  return f32(w[(c * p.Cout + co) * KHW + r]);
//#else
  return f32(w[co * p.K + k]);
//#endif
}

@compute @workgroup_size({{TP}} / 4, {{TCO}} / 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * WX + lid.x;
  let img = wid.z;
  let co0 = wid.y * TCO;
  let p0 = wid.x * TP;
  let P = p.Ho * p.Wo;
  let xbase = img * p.Cin * p.H * p.W;
  let HW = p.H * p.W;

  // im2col load slots: pixel group g = tid % WX (fixed), k rows tid / WX + i * (NT / WX).
  let g = tid % WX;
  var iy0: vec4i;
  var ix0: vec4i;
  var pv: vec4<bool>;
  for (var j = 0u; j < 4u; j++) {
    let q = p0 + 4u * g + j;
    pv[j] = q < P;
    iy0[j] = i32((q / p.Wo) * p.stride) - i32(p.pad_top);
    ix0[j] = i32((q % p.Wo) * p.stride) - i32(p.pad_left);
  }

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var s = tid; s < BK * WX; s += NT) {
      let k = k0 + s / WX;
      var xv = vec4f(0.0);
      if (k < p.K) {
        let ci = k / KHW;
        let rem = k % KHW;
        let base = xbase + ci * HW;
        let dy = i32(rem / {{KW}}u);
        let dx = i32(rem % {{KW}}u);
        for (var j = 0u; j < 4u; j++) {
          if (pv[j]) { xv[j] = load_x(base, iy0[j] + dy, ix0[j] + dx); }
        }
      }
      xs[s] = xv;
    }
    for (var s = tid; s < BK * WY; s += NT) {
      let kl = s % BK;
      let cg = s / BK;
      let kw = k0 + kl;
      var wv = vec4f(0.0);
      if (kw < p.K) {
        for (var i = 0u; i < 4u; i++) {
          let co = co0 + 4u * cg + i;
          if (co < p.Cout) { wv[i] = weight(co, kw); }
        }
      }
      ws[kl * WY + cg] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = ws[kk * WY + lid.y];
      let b = xs[kk * WX + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  let accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let co = co0 + 4u * lid.y + i;
    if (co >= p.Cout) { continue; }
    let bv = f32(bias[co]);
    let obase = (img * p.Cout + co) * P;
    for (var j = 0u; j < 4u; j++) {
      let q = p0 + 4u * lid.x + j;
      if (q < P) {
        var v = accs[i][j] + bv;
//#if RES
        v += f32(res[obase + q]);
//#endif
        out[obase + q] = {{T}}(v);
      }
    }
  }
}
