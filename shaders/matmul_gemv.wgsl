// Matrix-vector style matmul for few rows (M <= 4 per workgroup row-block; any M works, weights are re-read per
// block of GM = 4 rows): the temb / adaLN linears on one vector. Reads b once per 4 rows with vec4 loads.
// Contract: bindings, params, loads and epilogue exactly as shaders/matmul_tiled.wgsl, workgroup 256.
//   B_NK: a workgroup computes 8 output columns x 4 rows: 32 lanes per column stride over K in vec4s and reduce in
//         workgroup memory; grid (ceil(N / 8), ceil(M / 4), batch).
//   B_KN: a thread computes 4 adjacent columns x 4 rows looping over K; grid (ceil(N / 1024), ceil(M / 4), batch).
// Preconditions and defines: as shaders/matmul_tiled.wgsl (WGX, WGY, TM, TK unused).

struct Params { M: u32, N: u32, K: u32, a_bs: u32, b_bs: u32, c_bs: u32, gate_rows: u32, m_base: u32 }

@group(0) @binding(0) var<uniform> p: Params;
//#if VEC_A
@group(0) @binding(1) var<storage, read> a: array<vec4<{{TA}}>>;
//#else
@group(0) @binding(1) var<storage, read> a: array<{{TA}}>;
//#endif
//#if VEC_BK
@group(0) @binding(2) var<storage, read> b: array<vec4<{{TB}}>>;
//#elif VEC_BN
@group(0) @binding(2) var<storage, read> b: array<vec4<{{TB}}>>;
//#else
@group(0) @binding(2) var<storage, read> b: array<{{TB}}>;
//#endif
//#if HAS_BIAS
@group(0) @binding({{BIAS_BINDING}}) var<storage, read> bias: array<{{TBIAS}}>;
//#endif
//#if HAS_RES
@group(0) @binding({{RES_BINDING}}) var<storage, read> res: array<{{TR}}>;
//#endif
//#if HAS_GATE
@group(0) @binding({{GATE_BINDING}}) var<storage, read> gate: array<{{TG}}>;
//#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{TO}}>;

fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn gelu_tanh(x: f32) -> f32 {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}

fn epilogue(acc: f32, m: u32, n: u32, z: u32) -> f32 {
  var v = acc;
//#if HAS_BIAS
  v += f32(bias[n]);
//#endif
//#if EPI_GELU
  v = gelu_tanh(v);
//#elif EPI_SILU
  v = silu(v);
//#endif
//#if HAS_RES
//#if HAS_GATE
  v *= f32(gate[((m + p.m_base) / p.gate_rows) * p.N + n]);
//#endif
  v += f32(res[z * p.c_bs + m * p.N + n]);
//#endif
  return v;
}

// a[z][row][k..k+3], zero outside the matrix.
fn loadA(off: u32, row: u32, k: u32) -> vec4<f32> {
  if (row >= p.M) { return vec4<f32>(0.0); }
//#if VEC_A
  if (k >= p.K) { return vec4<f32>(0.0); }
  return vec4<f32>(a[(off + row * p.K + k) / 4u]);
//#else
  let base = off + row * p.K;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j < p.K) { v[j] = f32(a[base + k + j]); }
  }
  return v;
//#endif
}

//#if B_NK
// b[z][n][k..k+3] (weights stored [out, in]), zero outside.
fn loadB(off: u32, n: u32, k: u32) -> vec4<f32> {
  if (n >= p.N) { return vec4<f32>(0.0); }
//#if VEC_BK
  if (k >= p.K) { return vec4<f32>(0.0); }
  return vec4<f32>(b[(off + n * p.K + k) / 4u]);
//#else
  let base = off + n * p.K;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j < p.K) { v[j] = f32(b[base + k + j]); }
  }
  return v;
//#endif
}
//#else
// b[z][k][n..n+3], zero outside.
fn loadB(off: u32, k: u32, n: u32) -> vec4<f32> {
  if (k >= p.K) { return vec4<f32>(0.0); }
//#if VEC_BN
  if (n >= p.N) { return vec4<f32>(0.0); }
  return vec4<f32>(b[(off + k * p.N + n) / 4u]);
//#else
  let base = off + k * p.N;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (n + j < p.N) { v[j] = f32(b[base + n + j]); }
  }
  return v;
//#endif
}
//#endif

const GM = 4u;

//#if B_NK
const LANES = {{LANES}}u;
var<workgroup> red: array<array<f32, 256>, GM>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let lane = li % LANES;
  let n = wid.x * (256u / LANES) + li / LANES;
  let m0 = wid.y * GM;
  let aoff = z * p.a_bs;
  let boff = z * p.b_bs;
  var acc = vec4<f32>(0.0);
  if (n < p.N) {
    for (var k = lane * 4u; k < p.K; k += LANES * 4u) {
      let w = loadB(boff, n, k);
      for (var r = 0u; r < GM; r++) {
        acc[r] += dot(loadA(aoff, m0 + r, k), w);
      }
    }
  }
  for (var r = 0u; r < GM; r++) { red[r][li] = acc[r]; }
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var r = 0u; r < GM; r++) { red[r][li] += red[r][li + s]; }
    }
    workgroupBarrier();
  }
  if (lane < GM && n < p.N) {
    let m = m0 + lane;
    if (m < p.M) {
      out[z * p.c_bs + m * p.N + n] = {{TO}}(epilogue(red[lane][li - lane], m, n, z));
    }
  }
}
//#else
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let n0 = (wid.x * 256u + li) * 4u;
  let m0 = wid.y * GM;
  if (n0 >= p.N) { return; }
  let aoff = z * p.a_bs;
  let boff = z * p.b_bs;
  var acc: array<vec4<f32>, GM>;
  for (var k = 0u; k < p.K; k += 4u) {
    let b0 = loadB(boff, k, n0);
    let b1 = loadB(boff, k + 1u, n0);
    let b2 = loadB(boff, k + 2u, n0);
    let b3 = loadB(boff, k + 3u, n0);
    for (var r = 0u; r < GM; r++) {
      let av = loadA(aoff, m0 + r, k);
      acc[r] += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    }
  }
  for (var r = 0u; r < GM; r++) {
    let m = m0 + r;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n < p.N) { out[z * p.c_bs + m * p.N + n] = {{TO}}(epilogue(acc[r][j], m, n, z)); }
    }
  }
}
//#endif
