// Backward of the linear's fused epilogue y = [residual +] [gate *] act(z) (shaders/matmul_epilogue.wgsl), z = x W^T + b
// the saved pre-activation (training.md section 2): dz = dy * gate * act'(z), and the gate's gradient
// dgate[g, col] = sum over group g's rows of dy * act(z) as per-block partials (finished by shaders/colsum.wgsl).
// Contract (engine/ops/elementwise-backward.ts, linearEpilogueBackward):
//   binding 0: Params { rows, n, rowsPerItem (gate rows per group), blockRows, blocksPerItem, nb }
//   binding 1: dy [rows, n] TD; binding 2: z [rows, n] TZ; GATE: binding 3: gate [G, n] TG; then dz [rows, n] TD;
//   GATE: last: partials [nb, n] f32 (block k of group g = k / blocksPerItem covers blockRows rows of that group).
//   grid: (ceil(n / 64), nb) workgroups of 64; a thread owns one column of one block and walks its rows in order.
// Math in f32. Defines: TD, TZ, TG (f32 | f16), GELU (gelu_tanh) | SILU | neither (identity), GATE.

struct Params { rows: u32, n: u32, rowsPerItem: u32, blockRows: u32, blocksPerItem: u32, nb: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<{{TD}}>;
@group(0) @binding(2) var<storage, read> z: array<{{TZ}}>;
//#if GATE
@group(0) @binding(3) var<storage, read> gate: array<{{TG}}>;
@group(0) @binding(4) var<storage, read_write> dz: array<{{TD}}>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
//#else
@group(0) @binding(3) var<storage, read_write> dz: array<{{TD}}>;
//#endif

const C = 0.7978845608028654;

/** (act(v), act'(v)). */
fn act(v: f32) -> vec2f {
//#if GELU
  let t = tanh(clamp(C * (v + 0.044715 * v * v * v), -15.0, 15.0));
  return vec2f(0.5 * v * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * C * (1.0 + 0.134145 * v * v));
//#elif SILU
  let s = 1.0 / (1.0 + exp(-v));
  return vec2f(v * s, s * (1.0 + v * (1.0 - s)));
//#else
  return vec2f(v, 1.0);
//#endif
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let blk = gid.y;
  if (col >= p.n || blk >= p.nb) { return; }
  let item = blk / p.blocksPerItem;
  let r0 = item * p.rowsPerItem + (blk % p.blocksPerItem) * p.blockRows;
  let r1 = min(r0 + p.blockRows, (item + 1u) * p.rowsPerItem);
//#if GATE
  let g = f32(gate[item * p.n + col]);
//#else
  let g = 1.0;
//#endif
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * p.n + col;
    let a = act(f32(z[i]));
    let d = f32(dy[i]);
    dz[i] = {{TD}}(d * g * a.y);
    s += d * a.x;
  }
//#if GATE
  partials[blk * p.n + col] = s;
//#endif
}
