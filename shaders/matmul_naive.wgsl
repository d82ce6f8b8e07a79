// Naive matmul: one thread per output element, a plain loop over K with scalar loads. The always-correct
// baseline of the matmul kernel contract (see shaders/matmul_tiled.wgsl for the full contract text).
// Contract: bindings, params and epilogue exactly as shaders/matmul_tiled.wgsl; grid (ceil(N / 16), ceil(M / 16),
//   batch), workgroup (16, 16). Ignores VEC_* and tiling defines (all loads scalar, bounds-checked).
// Defines: TA, TB, TO, TBIAS, TR, TG; B_NK; HAS_BIAS, HAS_RES, HAS_GATE; *_BINDING.

struct Params { M: u32, N: u32, K: u32, a_bs: u32, b_bs: u32, c_bs: u32, gate_rows: u32, m_base: u32, act: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<{{TA}}>;
@group(0) @binding(2) var<storage, read> b: array<{{TB}}>;
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

//#include matmul_epilogue

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  let z = gid.z;
  if (m >= p.M || n >= p.N) { return; }
  let abase = z * p.a_bs + m * p.K;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
//#if B_NK
    acc += f32(a[abase + k]) * f32(b[z * p.b_bs + n * p.K + k]);
//#else
    acc += f32(a[abase + k]) * f32(b[z * p.b_bs + k * p.N + n]);
//#endif
  }
  out[z * p.c_bs + m * p.N + n] = {{TO}}(epilogue(acc, m, n, z));
}
