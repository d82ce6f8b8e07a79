// Backward of softmax along one axis (shaders/softmax.wgsl) from its saved output y: dx = y (dy - sum_axis(dy y)).
// Contract (engine/ops/softmax-backward.ts):
//   binding 0: Params { n (rows, or outer*inner with STRIDED), k (axis length), inner (axis stride) }
//   binding 1: y T; binding 2: dy TD; binding 3: dx TD (all the same shape)
//   ROW (last axis): grid ceil(rows / ROWS) workgroups of ROWS * TPR threads, TPR per row, folded 2-D; the row sum
//     by a shared-memory tree in fixed order.
//   STRIDED (other axes): grid ceil(outer*inner / 256) workgroups of 256, a thread walks its k strided values.
// Math in f32. Defines: T, TD (f32 | f16), ROW | STRIDED, ROWS, TPR (power of two).

struct Params { n: u32, k: u32, inner: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<{{T}}>;
@group(0) @binding(2) var<storage, read> dy: array<{{TD}}>;
@group(0) @binding(3) var<storage, read_write> dx: array<{{TD}}>;

//#if ROW
const ROWS = {{ROWS}}u;
const TPR = {{TPR}}u;
const WG = ROWS * TPR;
var<workgroup> sh: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li % TPR;
  let row = (wid.x + wid.y * nwg.x) * ROWS + li / TPR;
  let count = select(0u, p.k, row < p.n);
  let base = row * p.k;
  var s = 0.0;
  for (var i = lane; i < count; i += TPR) { s += f32(dy[base + i]) * f32(y[base + i]); }
  sh[li] = s;
  workgroupBarrier();
  for (var st = TPR / 2u; st > 0u; st >>= 1u) {
    if (lane < st) { sh[li] += sh[li + st]; }
    workgroupBarrier();
  }
  let tot = sh[li - lane];
  for (var i = lane; i < count; i += TPR) {
    dx[base + i] = {{TD}}(f32(y[base + i]) * (f32(dy[base + i]) - tot));
  }
}
//#endif

//#if STRIDED
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nwg.x) * 256u + li;
  if (t >= p.n) { return; }
  let base = (t / p.inner) * p.k * p.inner + t % p.inner;
  var s = 0.0;
  for (var i = 0u; i < p.k; i++) { s += f32(dy[base + i * p.inner]) * f32(y[base + i * p.inner]); }
  for (var i = 0u; i < p.k; i++) {
    let o = base + i * p.inner;
    dx[o] = {{TD}}(f32(y[o]) * (f32(dy[o]) - s));
  }
}
//#endif
