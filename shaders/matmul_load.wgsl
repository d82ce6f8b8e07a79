// Snippet of the matmul family (bounds-checked vec4 loads of A and B, zero outside the matrices),
// spliced by `//#include` into matmul_tiled.wgsl and matmul_gemv.wgsl.
// It uses the including kernel's defines and its params struct `p`.

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
