// Backward of conv2d (shaders/conv2d*.wgsl: NCHW, [Cout, Cin, KH, KW] weights, stride, asymmetric zero padding,
// optional fused nearest-2x input upsampling), as direct kernels (correct first; the VAE's training is small):
//   DX: one thread per input element: the transposed convolution dX[n,ci,iy,ix] = sum over (co, ky, kx) with
//       oy = (iy + top - ky) / stride exact and in range of dy[n,co,oy,ox] w[co,ci,ky,kx]; with UPSAMPLE the thread
//       owns an element of the small input and adds its 2x2 block of the upsampled gradient.
//   DW: one thread per (weight element, block of output rows (n, oy)): the correlation of X with dy over the block,
//       written as a partial [nb, Cout*Cin*KH*KW]; shaders/colsum.wgsl (FINISH) adds the blocks in order.
// Fixed summation order everywhere: bit-identical gradients run to run.
// Contract (engine/ops/conv2d-backward.ts):
//   binding 0: Params { N, Cin, H, W (the stored input), Cout, Ho, Wo, stride, top, left, blockRows, nb, nw (weights) }
//   DX: binding 1: dy [N, Cout, Ho, Wo] T; binding 2: w T; binding 3: dx [N, Cin, H, W] T.
//       grid: ceil(N*Cin*H*W / 256) workgroups of 256, folded 2-D.
//   DW: binding 1: dy; binding 2: x [N, Cin, H, W] T; binding 3: partials [nb, nw] f32. grid: (ceil(nw / 64), nb) of 64.
// Math in f32. Defines: T (f32 | f16), KH, KW, UPSAMPLE, DX | DW.

struct Params { N: u32, Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, top: u32, left: u32, blockRows: u32, nb: u32, nw: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;

const KH = {{KH}}u;
const KW = {{KW}}u;
//#if UPSAMPLE
const UP = 2u;
//#else
const UP = 1u;
//#endif

//#if DX
@group(0) @binding(2) var<storage, read> w: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> dx: array<{{T}}>;

/** dX at (iy, ix) of the (upsampled) input plane of channel ci of item n: taps outer (their validity once), channels inner. */
fn dxAt(n: u32, ci: u32, iy: i32, ix: i32) -> f32 {
  let s = i32(p.stride);
  let plane = p.Ho * p.Wo;
  let wStep = p.Cin * KH * KW;
  var acc = 0.0;
  for (var ky = 0u; ky < KH; ky++) {
    let ty = iy + i32(p.top) - i32(ky);
    if (ty < 0 || ty % s != 0 || u32(ty / s) >= p.Ho) { continue; }
    let oy = u32(ty / s);
    for (var kx = 0u; kx < KW; kx++) {
      let tx = ix + i32(p.left) - i32(kx);
      if (tx < 0 || tx % s != 0 || u32(tx / s) >= p.Wo) { continue; }
      var di = (n * p.Cout * p.Ho + oy) * p.Wo + u32(tx / s);
      var wi = (ci * KH + ky) * KW + kx;
      for (var co = 0u; co < p.Cout; co++) {
        acc += f32(dy[di]) * f32(w[wi]);
        di += plane;
        wi += wStep;
      }
    }
  }
  return acc;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.N * p.Cin * p.H * p.W) { return; }
  let x0 = i % p.W;
  let y0 = (i / p.W) % p.H;
  let plane = i / (p.W * p.H);
  let ci = plane % p.Cin;
  let n = plane / p.Cin;
  var acc = 0.0;
  for (var sy = 0u; sy < UP; sy++) {
    for (var sx = 0u; sx < UP; sx++) {
      acc += dxAt(n, ci, i32(y0 * UP + sy), i32(x0 * UP + sx));
    }
  }
  dx[i] = {{T}}(acc);
}
//#endif

//#if DW
@group(0) @binding(2) var<storage, read> x: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let wi = gid.x;
  let blk = gid.y;
  if (wi >= p.nw || blk >= p.nb) { return; }
  let kx = wi % KW;
  let ky = (wi / KW) % KH;
  let ci = (wi / (KW * KH)) % p.Cin;
  let co = wi / (KW * KH * p.Cin);
  let He = i32(p.H * UP);
  let We = i32(p.W * UP);
  let r0 = blk * p.blockRows;
  let r1 = min(r0 + p.blockRows, p.N * p.Ho);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let n = r / p.Ho;
    let oy = r % p.Ho;
    let iy = i32(oy * p.stride + ky) - i32(p.top);
    if (iy < 0 || iy >= He) { continue; }
    let xRow = ((n * p.Cin + ci) * p.H + u32(iy) / UP) * p.W;
    let dyRow = ((n * p.Cout + co) * p.Ho + oy) * p.Wo;
    for (var ox = 0u; ox < p.Wo; ox++) {
      let ix = i32(ox * p.stride + kx) - i32(p.left);
      if (ix < 0 || ix >= We) { continue; }
      acc += f32(dy[dyRow + ox]) * f32(x[xRow + u32(ix) / UP]);
    }
  }
  partials[blk * p.nw + wi] = acc;
}
//#endif
