// Layout kernels: one general strided copy (permute, slice, concat, broadcast, pad) and a row gather.
// STRIDED (entry main): for every index (i0, i1, i2, i3) of the copy shape [d0, d1, d2, d3]
//   dst[dst_off + sum_k i_k * ds_k] = (i[pad_axis] < pad_limit) ? src[src_off + sum_k i_k * ss_k] : 0
//   (strides and offsets in elements; stride 0 broadcasts; pad_axis = 4 disables padding).
//   binding 0: Params { n, d1, d2, d3, ss0..ss3, src_off, ds0..ds3, dst_off, pad_axis, pad_limit }
//   binding 1: src T; binding 2: dst T
// GATHER (entry main): out[s, d] = ids[s] < V ? table[ids[s], d] : 0 for s < S, d < D.
//   binding 0: Params { n (= S*D), D, V }; binding 1: table [V, D] T; binding 2: ids [S] u32; binding 3: out [S, D] T
// grid: ceil(n / 256) workgroups of 256 (one thread per output element), folded into 2-D.
// ROWS (STRIDED on CPU adapters, variant layout_rows): one thread per row (i0, i1, i2) looping over i3, so the index
//   is split by division once per row, not per element (integer division has no SIMD instruction on x86: llvmpipe
//   runs it lane by lane); grid ceil(n / d3 / 256) workgroups of 256.
// Defines: T (f32 | f16 | u32 | i32), GATHER, ROWS.

//#if GATHER
struct Params { n: u32, D: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<{{T}}>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
  let row = ids[o / p.D];
  if (row < p.V) { out[o] = table[row * p.D + o % p.D]; } else { out[o] = {{T}}(0); }
}
//#else
struct Params {
  n: u32, d1: u32, d2: u32, d3: u32,
  ss0: u32, ss1: u32, ss2: u32, ss3: u32, src_off: u32,
  ds0: u32, ds1: u32, ds2: u32, ds3: u32, dst_off: u32,
  pad_axis: u32, pad_limit: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{T}}>;

//#if ROWS
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x) * 256u + li;
  if (r >= p.n / p.d3) { return; }
  let i2 = r % p.d2; let t2 = r / p.d2;
  let i1 = t2 % p.d1; let i0 = t2 / p.d1;
  var d = p.dst_off + i0 * p.ds0 + i1 * p.ds1 + i2 * p.ds2;
  var s = p.src_off + i0 * p.ss0 + i1 * p.ss1 + i2 * p.ss2;
  // elements of this row read from src; the rest are padding zeros
  var limit = p.d3;
  if (p.pad_axis == 3u) {
    limit = min(p.d3, p.pad_limit);
  } else if (p.pad_axis < 3u && vec3u(i0, i1, i2)[p.pad_axis] >= p.pad_limit) {
    limit = 0u;
  }
  for (var i3 = 0u; i3 < p.d3; i3++) {
    if (i3 < limit) {
      dst[d] = src[s];
    } else {
      dst[d] = {{T}}(0);
    }
    d += p.ds3;
    s += p.ss3;
  }
}
//#else
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
  let i3 = o % p.d3; let t3 = o / p.d3;
  let i2 = t3 % p.d2; let t2 = t3 / p.d2;
  let i1 = t2 % p.d1; let i0 = t2 / p.d1;
  let idx = vec4u(i0, i1, i2, i3);
  let d = p.dst_off + i0 * p.ds0 + i1 * p.ds1 + i2 * p.ds2 + i3 * p.ds3;
  if (p.pad_axis < 4u && idx[p.pad_axis] >= p.pad_limit) {
    dst[d] = {{T}}(0);
  } else {
    dst[d] = src[p.src_off + i0 * p.ss0 + i1 * p.ss1 + i2 * p.ss2 + i3 * p.ss3];
  }
}
//#endif
//#endif
