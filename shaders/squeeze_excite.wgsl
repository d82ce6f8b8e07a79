// Squeeze-and-excitation pieces, channels last (EfficientNet's se blocks and its global average pool,
// engine/ops/squeeze-excite.ts). Two kernels of one family, chosen by a define:
//   POOL: mean[n, c] = (1 / P) sum_p x[n, p, c]  (global average pool; x [N, P, C], P = H*W)
//     workgroup 256 = 64 channels x 4 lanes; lane l sums pixels l, l+4, ... in order, then the 4 lane sums are added
//     in lane order (fixed summation order). grid (ceil(C / 64), N).
//     binding 0: Params { N, P, C, n_out (= N*C) }; binding 1: x [N, P, C] T; binding 2: out [N, C] T
//   GATE: out[n, p, c] = x[n, p, c] * sigmoid(s[n, c])  (the excitation; s = conv_expand's output, before the sigmoid)
//     one thread per element; grid: ceil(n_out / 256) workgroups of 256 folded into 2-D (id = wid.x + wid.y * nwg.x).
//     binding 0: Params { N, P, C, n_out (= N*P*C) }; binding 1: x [N, P, C] T; binding 2: s [N, C] T;
//     binding 3: out [N, P, C] T
// Defines: T (f32 | f16), POOL or GATE. f32 math.

struct Params { N: u32, P: u32, C: u32, n_out: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
//#if POOL
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li / 64u;
  let c = wid.x * 64u + li % 64u;
  let n = wid.y;
  var acc = 0.0;
  if (c < p.C) {
    let base = n * p.P * p.C + c;
    for (var q = lane; q < p.P; q += 4u) { acc += f32(x[base + q * p.C]); }
  }
  part[li] = acc;
  workgroupBarrier();
  if (lane == 0u && c < p.C) {
    let s = ((part[li] + part[li + 64u]) + part[li + 128u]) + part[li + 192u];
    out[n * p.C + c] = {{T}}(s / f32(p.P));
  }
}
//#else
@group(0) @binding(2) var<storage, read> s: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n_out) { return; }
  let c = o % p.C;
  let n = o / (p.P * p.C);
  let g = f32(s[n * p.C + c]);
  out[o] = {{T}}(f32(x[o]) / (1.0 + exp(-g)));
}
//#endif
