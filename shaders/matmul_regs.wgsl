// Register-tiled matmul without workgroup memory or barriers (for CPU adapters such as lavapipe, where each
// invocation is a SIMD lane, workgroup memory is plain memory and every barrier splits the kernel into coroutines).
// Each invocation computes TM rows x 4*VN columns straight from global memory with vec4 loads along the contiguous
// axis; out-of-range rows and columns are clamped to the last valid one (their results are never stored), so the
// inner loop has no bounds branches on the vector paths.
// Contract: bindings, params, loads and epilogue exactly as shaders/matmul_tiled.wgsl; workgroup (WGX, WGY);
//   grid (ceil(N / (4 * VN * WGX)), ceil(M / (TM * WGY)), batch).
// Defines: as shaders/matmul_tiled.wgsl, plus TM (rows per invocation), VN (vec4 column groups per invocation),
//   WGX, WGY, FMA (accumulate with explicit fma() instead of dot()/mul-add; the per-output reduction order over k
//   is sequential either way), SG (CPU adapters with subgroups of 8 lanes lying within one row of the workgroup,
//   TM % 8 == 0, WGX % 8 == 0: the lanes of a subgroup share their rows, so lane j loads rows j, j + 8, .. and
//   subgroupBroadcast hands them to the others: TM / 8 A loads per k step instead of TM; same arithmetic, same bits).

//#if SG
enable subgroups;
//#endif

//#include matmul_bindings

//#include matmul_epilogue

//#include matmul_load

const WGX = {{WGX}}u;
const WGY = {{WGY}}u;
const TM = {{TM}}u;
const VN = {{VN}}u;

//#if SG
// This lane's row of A at k..k+3.
fn loadMine(aoff: u32, row: u32, k: u32) -> vec4<f32> {
//#if VEC_A
  return vec4<f32>(a[(aoff + row * p.K + k) / 4u]);
//#else
  return loadA(aoff, row, k);
//#endif
}

// Rows o..o+7 of the subgroup's TM rows from lanes 0..7 (the broadcast lane must be a constant expression).
fn avBroadcast(av: ptr<function, array<vec4<f32>, TM>>, o: u32, mine: vec4<f32>) {
  (*av)[o] = subgroupBroadcast(mine, 0u);
  (*av)[o + 1u] = subgroupBroadcast(mine, 1u);
  (*av)[o + 2u] = subgroupBroadcast(mine, 2u);
  (*av)[o + 3u] = subgroupBroadcast(mine, 3u);
  (*av)[o + 4u] = subgroupBroadcast(mine, 4u);
  (*av)[o + 5u] = subgroupBroadcast(mine, 5u);
  (*av)[o + 6u] = subgroupBroadcast(mine, 6u);
  (*av)[o + 7u] = subgroupBroadcast(mine, 7u);
}
//#endif

//#if B_NK
fn acc4(acc: f32, x: vec4<f32>, y: vec4<f32>) -> f32 {
//#if FMA
  return fma(x.w, y.w, fma(x.z, y.z, fma(x.y, y.y, fma(x.x, y.x, acc))));
//#else
  return acc + dot(x, y);
//#endif
}
//#else
fn acc4(acc: vec4<f32>, x: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
//#if FMA
  return fma(vec4<f32>(x.w), b3, fma(vec4<f32>(x.z), b2, fma(vec4<f32>(x.y), b1, fma(vec4<f32>(x.x), b0, acc))));
//#else
  return acc + (x.x * b0 + x.y * b1 + x.z * b2 + x.w * b3);
//#endif
}
//#endif

@compute @workgroup_size(WGX, WGY)
//#if SG
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
//#else
fn main(@builtin(global_invocation_id) gid: vec3u) {
//#endif
  let z = gid.z;
  let m0 = gid.y * TM;
  let n0 = gid.x * 4u * VN;
//#if SG
  // No early exit: lanes whose rows or columns lie past the matrix stay (clamped indices, no stores) so that the
  // broadcasts run in uniform control flow.
  let myRow = min(m0 + sgid % 8u, p.M - 1u);
//#else
  if (m0 >= p.M || n0 >= p.N) { return; }
//#endif
  let aoff = z * p.a_bs;
  let boff = z * p.b_bs;
  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, p.M - 1u); }
  var acc: array<array<vec4<f32>, VN>, TM>;
//#if B_NK
  var cols: array<u32, 4u * VN>;
  for (var j = 0u; j < 4u * VN; j++) { cols[j] = min(n0 + j, p.N - 1u); }
//#if VEC_A
  // Vector paths: K % 4 == 0, indices clamped, so loads need no bounds checks: precomputed vec4 row bases.
  var ab: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { ab[i] = (aoff + rows[i] * p.K) / 4u; }
//#endif
//#if VEC_BK
  var bb: array<u32, 4u * VN>;
  for (var j = 0u; j < 4u * VN; j++) { bb[j] = (boff + cols[j] * p.K) / 4u; }
//#endif
  for (var k = 0u; k < p.K; k += 4u) {
    var av: array<vec4<f32>, TM>;
//#if SG
    for (var h = 0u; h < TM / 8u; h++) { avBroadcast(&av, 8u * h, loadMine(aoff, min(myRow + 8u * h, p.M - 1u), k)); }
//#elif VEC_A
    for (var i = 0u; i < TM; i++) { av[i] = vec4<f32>(a[ab[i] + k / 4u]); }
//#else
    for (var i = 0u; i < TM; i++) { av[i] = loadA(aoff, rows[i], k); }
//#endif
    for (var v = 0u; v < VN; v++) {
      for (var c = 0u; c < 4u; c++) {
//#if VEC_BK
        let w = vec4<f32>(b[bb[v * 4u + c] + k / 4u]);
//#else
        let w = loadB(boff, cols[v * 4u + c], k);
//#endif
        for (var i = 0u; i < TM; i++) { acc[i][v][c] = acc4(acc[i][v][c], av[i], w); }
      }
    }
  }
//#else
  // Column groups start at n0 + 4v; a group past the last full one is clamped (its values are discarded).
  var cols: array<u32, VN>;
  for (var v = 0u; v < VN; v++) { cols[v] = min(n0 + 4u * v, ((p.N - 1u) / 4u) * 4u); }
//#if VEC_A
  var ab: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { ab[i] = (aoff + rows[i] * p.K) / 4u; }
//#endif
  for (var k = 0u; k < p.K; k += 4u) {
    var av: array<vec4<f32>, TM>;
//#if SG
    for (var h = 0u; h < TM / 8u; h++) { avBroadcast(&av, 8u * h, loadMine(aoff, min(myRow + 8u * h, p.M - 1u), k)); }
//#elif VEC_A
    for (var i = 0u; i < TM; i++) { av[i] = vec4<f32>(a[ab[i] + k / 4u]); }
//#else
    for (var i = 0u; i < TM; i++) { av[i] = loadA(aoff, rows[i], k); }
//#endif
    for (var v = 0u; v < VN; v++) {
//#if VEC_BN
//#if VEC_A
      // K % 4 == 0 and N % 4 == 0: rows k..k+3 exist and the clamped column group is in range.
      let bi = (boff + k * p.N + cols[v]) / 4u;
      let b0 = vec4<f32>(b[bi]);
      let b1 = vec4<f32>(b[bi + p.N / 4u]);
      let b2 = vec4<f32>(b[bi + p.N / 2u]);
      let b3 = vec4<f32>(b[bi + 3u * p.N / 4u]);
//#else
      let b0 = loadB(boff, k, cols[v]);
      let b1 = loadB(boff, k + 1u, cols[v]);
      let b2 = loadB(boff, k + 2u, cols[v]);
      let b3 = loadB(boff, k + 3u, cols[v]);
//#endif
//#else
      let b0 = loadB(boff, k, cols[v]);
      let b1 = loadB(boff, k + 1u, cols[v]);
      let b2 = loadB(boff, k + 2u, cols[v]);
      let b3 = loadB(boff, k + 3u, cols[v]);
//#endif
      for (var i = 0u; i < TM; i++) { acc[i][v] = acc4(acc[i][v], av[i], b0, b1, b2, b3); }
    }
  }
//#endif
  let obase = z * p.c_bs;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u * VN; j++) {
      let n = n0 + j;
      if (n < p.N) { out[obase + m * p.N + n] = {{TO}}(epilogue(acc[i][j / 4u][j % 4u], m, n, z)); }
    }
  }
}
