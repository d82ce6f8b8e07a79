// Tiled matmul for GPUs with k-major workgroup tiles: A and B are staged as [TK][BM/4] and [TK][BN/4] vec4 (A and,
// for B_NK, B transposed while staging), so in the inner loop the invocations of a warp read consecutive vec4s of B
// (no shared-memory bank conflicts) and a broadcast vec4 of A, and accumulate with explicit fma(). Each invocation
// computes TM rows (m0 + lid.y*TM + i) x VN groups of 4 columns (n0 + (v*WGX + lid.x)*4 + c): the output stores of a
// warp are contiguous. PAD (in vec4) pads the staged rows so the transposing stores spread over the banks.
// Contract: bindings, params, loads and epilogue exactly as shaders/matmul_tiled.wgsl; workgroup (WGX, WGY);
//   grid (ceil(N / BN), ceil(M / BM), batch) with BM = TM*WGY, BN = 4*VN*WGX.
// Defines: as shaders/matmul_tiled.wgsl, plus TM (a multiple of 4), VN, TK (a multiple of 4), PAD, WGX, WGY.

//#include matmul_bindings

//#include matmul_epilogue

//#include matmul_load

const WGX = {{WGX}}u;
const WGY = {{WGY}}u;
const TM = {{TM}}u;
const TM4 = TM / 4u;
const VN = {{VN}}u;
const TK = {{TK}}u;
const TK4 = TK / 4u;
const BM = TM * WGY;
const BN = 4u * VN * WGX;
const NT = WGX * WGY;
// Row strides of the staged tiles, in vec4.
const SA = BM / 4u + {{PAD}}u;
const SB = BN / 4u + {{PAD}}u;

var<workgroup> As: array<vec4<f32>, TK * SA>;
var<workgroup> Bs: array<vec4<f32>, TK * SB>;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let aoff = z * p.a_bs;
  let boff = z * p.b_bs;
  var acc: array<array<vec4<f32>, VN>, TM>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // A tile: consecutive invocations read consecutive vec4s along k of one row, stored transposed.
    for (var l = li; l < BM * TK4; l += NT) {
      let r = l / TK4;
      let kq = l % TK4;
      let v = loadA(aoff, m0 + r, k0 + kq * 4u);
      for (var c = 0u; c < 4u; c++) { As[(kq * 4u + c) * SA + r / 4u][r % 4u] = v[c]; }
    }
//#if B_NK
    for (var l = li; l < BN * TK4; l += NT) {
      let r = l / TK4;
      let kq = l % TK4;
      let v = loadB(boff, n0 + r, k0 + kq * 4u);
      for (var c = 0u; c < 4u; c++) { Bs[(kq * 4u + c) * SB + r / 4u][r % 4u] = v[c]; }
    }
//#else
    for (var l = li; l < BN / 4u * TK; l += NT) {
      let kk = l / (BN / 4u);
      let c4 = l % (BN / 4u);
      Bs[kk * SB + c4] = loadB(boff, k0 + kk, n0 + c4 * 4u);
    }
//#endif
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var bv: array<vec4<f32>, VN>;
      for (var v = 0u; v < VN; v++) { bv[v] = Bs[kk * SB + v * WGX + lid.x]; }
      for (var i4 = 0u; i4 < TM4; i4++) {
        let av = As[kk * SA + lid.y * TM4 + i4];
        for (var c = 0u; c < 4u; c++) {
          for (var v = 0u; v < VN; v++) {
            acc[i4 * 4u + c][v] = fma(vec4<f32>(av[c]), bv[v], acc[i4 * 4u + c][v]);
          }
        }
      }
    }
    workgroupBarrier();
  }
  let obase = z * p.c_bs;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid.y * TM + i;
    if (m >= p.M) { break; }
    for (var v = 0u; v < VN; v++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + (v * WGX + lid.x) * 4u + c;
        if (n < p.N) { out[obase + m * p.N + n] = {{TO}}(epilogue(acc[i][v][c], m, n, z)); }
      }
    }
  }
}
