// Softmax with max subtraction over one axis of x viewed as [outer, K, inner].
// Contract (engine/ops/softmax.ts):
//   binding 0: Params { rows, kv, inner } (uniform); binding 1: x T; binding 2: out T (same shape)
//   ROW (inner == 1): rows = outer, kv = K / VEC; grid ceil(rows / ROWS) workgroups of ROWS * TPR threads, each row
//     reduced by TPR threads with online (max, sum) merging, then a write pass exp(x - max) / sum.
//   STRIDED (inner > 1): rows = outer * inner columns, one thread per column walking K with stride inner;
//     grid ceil(rows / 256) workgroups of 256.
//   grids folded 2-D (linear id = wid.x + wid.y * nwg.x).
// Preconditions: VEC = 4 only for ROW with K % 4 == 0; TPR a power of two. Math in f32. A row of only -inf gives NaN.
// Defines: T (f32 | f16), ROW | STRIDED, VEC (1 | 4), ROWS, TPR, SUBGROUP (row reduction by subgroup shuffles,
//   see shaders/norm.wgsl for the layout it needs).

//#if SUBGROUP
enable subgroups;
//#endif

struct Params { rows: u32, kv: u32, inner: u32 }

//#if VEC4
alias VS = vec4<{{T}}>;
alias VF = vec4f;
fn hmax(v: VF) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: VF) -> f32 { return v.x + v.y + v.z + v.w; }
//#else
alias VS = {{T}};
alias VF = f32;
fn hmax(v: VF) -> f32 { return v; }
fn hsum(v: VF) -> f32 { return v; }
//#endif

const NEG_BIG = -3.4028234e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VS>;
@group(0) @binding(2) var<storage, read_write> out: array<VS>;

// Online softmax state: running max m and sum s of exp(x - m).
fn mergeMS(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

//#if ROW
const ROWS = {{ROWS}}u;
const TPR = {{TPR}}u;
const WG = ROWS * TPR;
//#if !SUBGROUP
var<workgroup> sh: array<vec2f, WG>;
//#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let slot = li / TPR;
  let lane = li % TPR;
  let row = (wid.x + wid.y * nwg.x) * ROWS + slot;
  let count = select(0u, p.kv, row < p.rows);
  let base = row * p.kv;
  var st = vec2f(NEG_BIG, 0.0);
  for (var i = lane; i < count; i += TPR) {
    let v = VF(x[base + i]);
    let m = hmax(v);
    st = mergeMS(st, vec2f(m, hsum(exp(v - VF(m)))));
  }
//#if SUBGROUP
  // Butterfly over the row's TPR lanes of one subgroup, lower lane first so all lanes agree bit for bit.
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    let o = subgroupShuffleXor(st, s);
    st = select(mergeMS(st, o), mergeMS(o, st), (lane & s) != 0u);
  }
  let r = st;
//#else
  sh[li] = st;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { sh[li] = mergeMS(sh[li], sh[li + s]); }
    workgroupBarrier();
  }
  let r = sh[slot * TPR];
//#endif
  let inv = 1.0 / r.y;
  for (var i = lane; i < count; i += TPR) {
    out[base + i] = VS(exp(VF(x[base + i]) - VF(r.x)) * inv);
  }
}
//#endif

//#if STRIDED
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let col = (wid.x + wid.y * nwg.x) * 256u + li;
  if (col >= p.rows) { return; }
  let base = (col / p.inner) * p.kv * p.inner + col % p.inner;
  var st = vec2f(NEG_BIG, 0.0);
  for (var k = 0u; k < p.kv; k++) {
    st = mergeMS(st, vec2f(f32(x[base + k * p.inner]), 1.0));
  }
  let inv = 1.0 / st.y;
  for (var k = 0u; k < p.kv; k++) {
    let i = base + k * p.inner;
    out[i] = VS(exp(f32(x[i]) - st.x) * inv);
  }
}
//#endif
