// Matrix-vector style matmul for few rows (M <= 4 per workgroup row-block; any M works, weights are re-read per
// block of GM = 4 rows): the temb / adaLN linears on one vector. Reads b once per 4 rows with vec4 loads.
// Contract: bindings, params, loads and epilogue exactly as shaders/matmul_tiled.wgsl, workgroup 256.
//   B_NK: a workgroup computes 8 output columns x 4 rows: 32 lanes per column stride over K in vec4s and reduce in
//         workgroup memory; grid (ceil(N / 8), ceil(M / 4), batch).
//   B_KN: a thread computes 4 adjacent columns x 4 rows looping over K; grid (ceil(N / 1024), ceil(M / 4), batch).
// Preconditions and defines: as shaders/matmul_tiled.wgsl (WGX, WGY, TM, TK unused).

//#include matmul_bindings

//#include matmul_epilogue

//#include matmul_load

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
