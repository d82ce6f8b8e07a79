// Backward of GroupNorm (+ affine, + SiLU) over x [N, C, S] (shaders/groupnorm.wgsl), from the forward's
// statistics {mean, rstd} per (item, group) recomputed by its STATS/COMBINE stages. With xhat = (x - mean) rstd,
// pre = xhat w + b, g = dy [* silu'(pre)]: per plane (item n, channel c) A = sum_s g xhat and B = sum_s g; per group
// m1 = sum_c w B / len, m2 = sum_c w A / len (len = cpg * S); dx = rstd (g w - m1 - xhat m2); dweight = sum_n A,
// dbias = sum_n B (shaders/colsum.wgsl FINISH over the plane sums, item order). Every sum in a fixed order.
// Contract (engine/ops/groupnorm-backward.ts):
//   binding 0: Params { s, c, cpg, planes (= N*C), groups (= N*G), total (= N*C*S) }
//   PLANE: binding 1: x T; 2: dy TD; 3: stats [N*G] vec2f; AFFINE: 4: weight [C] TW, 5: bias [C] TW;
//     last: sums [2, N*C] f32 (A then B). grid: N*C workgroups of WG (folded 2-D), tree-reduced in shared memory.
//   GROUP: binding 1: sums; AFFINE: 2: weight; last: m [N*G] vec2f {m1, m2}. grid: ceil(N*G / 64) of 64.
//   APPLY: binding 1: x; 2: dy; 3: stats; 4: m; AFFINE: 5: weight, 6: bias; last: dx [N*C*S] TD.
//     grid: ceil(total / 256) workgroups of 256, folded 2-D.
// Math in f32. Defines: PLANE | GROUP | APPLY, T, TD, TW (f32 | f16), WG (power of two), AFFINE, SILU, B_* bindings.

struct Params { s: u32, c: u32, cpg: u32, planes: u32, groups: u32, total: u32 }

@group(0) @binding(0) var<uniform> p: Params;

fn groupOf(plane: u32) -> u32 {
  let G = p.c / p.cpg;
  return (plane / p.c) * G + (plane % p.c) / p.cpg;
}

//#if GROUP
@group(0) @binding(1) var<storage, read> sums: array<f32>;
//#if AFFINE
@group(0) @binding(2) var<storage, read> w: array<{{TW}}>;
@group(0) @binding(3) var<storage, read_write> m: array<vec2f>;
//#else
@group(0) @binding(2) var<storage, read_write> m: array<vec2f>;
//#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let gi = gid.x;
  if (gi >= p.groups) { return; }
  let G = p.c / p.cpg;
  let n = gi / G;
  let c0 = (gi % G) * p.cpg;
  var m1 = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < p.cpg; k++) {
    let c = c0 + k;
//#if AFFINE
    let wc = f32(w[c]);
//#else
    let wc = 1.0;
//#endif
    m1 += wc * sums[p.planes + n * p.c + c];
    m2 += wc * sums[n * p.c + c];
  }
  let len = f32(p.cpg * p.s);
  m[gi] = vec2f(m1, m2) / len;
}
//#else
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> dy: array<{{TD}}>;
@group(0) @binding(3) var<storage, read> stats: array<vec2f>;
//#if APPLY
@group(0) @binding(4) var<storage, read> m: array<vec2f>;
//#endif
//#if AFFINE
@group(0) @binding({{B_W}}) var<storage, read> w: array<{{TW}}>;
@group(0) @binding({{B_B}}) var<storage, read> b: array<{{TW}}>;
//#endif

/** (g, xhat) at element i of plane `plane` with statistics st. */
fn grad(i: u32, c: u32, st: vec2f) -> vec2f {
  let xh = (f32(x[i]) - st.x) * st.y;
  var g = f32(dy[i]);
  // (The affine pre-activation is formed even without SILU: it keeps w and b statically used, so every pass
  // has the same bind group layout.)
//#if AFFINE
  let pre = xh * f32(w[c]) + f32(b[c]);
//#else
  let pre = xh;
//#endif
//#if SILU
  let sg = 1.0 / (1.0 + exp(-pre));
  g *= sg * (1.0 + pre * (1.0 - sg));
//#endif
  return vec2f(g, xh);
}
//#endif

//#if PLANE
@group(0) @binding({{B_SUMS}}) var<storage, read_write> sums: array<f32>;
const WG = {{WG}}u;
var<workgroup> sh_a: array<f32, WG>;
var<workgroup> sh_b: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let plane = wid.x + wid.y * nwg.x;
  let valid = plane < p.planes;
  let c = plane % p.c;
  let st = select(vec2f(0.0), stats[select(0u, groupOf(plane), valid)], valid);
  let count = select(0u, p.s, valid);
  var a = 0.0;
  var bb = 0.0;
  for (var i = li; i < count; i += WG) {
    let gx = grad(plane * p.s + i, c, st);
    a += gx.x * gx.y;
    bb += gx.x;
  }
  sh_a[li] = a;
  sh_b[li] = bb;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      sh_a[li] += sh_a[li + s];
      sh_b[li] += sh_b[li + s];
    }
    workgroupBarrier();
  }
  if (li == 0u && valid) {
    sums[plane] = sh_a[0];
    sums[p.planes + plane] = sh_b[0];
  }
}
//#endif

//#if APPLY
@group(0) @binding({{B_DX}}) var<storage, read_write> dx: array<{{TD}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.total) { return; }
  let plane = i / p.s;
  let c = plane % p.c;
  let gi = groupOf(plane);
  let st = stats[gi];
  let gx = grad(i, c, st);
//#if AFFINE
  let wc = f32(w[c]);
//#else
  let wc = 1.0;
//#endif
  let mm = m[gi];
  dx[i] = {{TD}}(st.y * (gx.x * wc - mm.x - gx.y * mm.y));
}
//#endif
