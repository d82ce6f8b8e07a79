// Register-blocked tiled matmul: each workgroup computes a BM x BN output tile (BM = TM*WGY, BN = 4*WGX), each
// thread TM x 4 outputs; K advances in TK-wide tiles staged in workgroup memory as vec4 (vec4 global loads when the
// contiguous axis is a multiple of 4, bounds-checked scalar loads otherwise). Math in f32 whatever the storage types.
// Contract (the matmul kernel contract, engine/ops/matmul.ts and docs/kernels/matmul.md):
//   binding 0: Params { M, N, K, a_bs, b_bs, c_bs, gate_rows, m_base, act } (uniform; *_bs = batch strides in
//              elements; act: 0 none, 1 GELU-tanh, 2 SiLU, applied after the bias)
//   binding 1: a [batch, M, K] TA; binding 2: b [batch, K, N] (B_KN) or [batch, N, K] (B_NK) TB
//   then, when defined: bias [N] TBIAS, res [batch, M, N] TR, gate [G, N] TG; last: out [batch, M, N] TO
//   out[z, m, n] = res[z, m, n] + gate[(m + m_base) / gate_rows, n] * act(sum_k a[z, m, k] * b[z, k, n] + bias[n])
//   grid: (ceil(N / BN), ceil(M / BM), batch), workgroup (WGX, WGY)
// Preconditions: VEC_A only when K % 4 == 0; VEC_BK (B_NK) only when K % 4 == 0; VEC_BN (B_KN) only when N % 4 == 0;
//   a_bs, b_bs multiples of 4 when the matching vector path is on.
// Defines: TA, TB, TO, TBIAS, TR, TG (f32 | f16); B_NK; VEC_A, VEC_BK, VEC_BN; HAS_BIAS, HAS_RES, HAS_GATE;
//   BIAS_BINDING, RES_BINDING, GATE_BINDING, OUT_BINDING; WGX, WGY, TM, TK (TK % 4 == 0).

//#include matmul_bindings

const WGX = {{WGX}}u;
const WGY = {{WGY}}u;
const TM = {{TM}}u;
const TK = {{TK}}u;
const TK4 = TK / 4u;
const BM = TM * WGY;
const BN = 4u * WGX;
const NT = WGX * WGY;

// As: [BM][TK/4] vec4 along k. Bs: [BN][TK/4] along k (B_NK) or [TK][BN/4] along n (B_KN).
var<workgroup> As: array<vec4<f32>, BM * TK4>;
var<workgroup> Bs: array<vec4<f32>, BN * TK4>;

//#include matmul_epilogue

//#include matmul_load

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let aoff = z * p.a_bs;
  let boff = z * p.b_bs;
  var acc: array<vec4<f32>, TM>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var l = li; l < BM * TK4; l += NT) {
      As[l] = loadA(aoff, m0 + l / TK4, k0 + (l % TK4) * 4u);
    }
//#if B_NK
    for (var l = li; l < BN * TK4; l += NT) {
      Bs[l] = loadB(boff, n0 + l / TK4, k0 + (l % TK4) * 4u);
    }
//#else
    for (var l = li; l < BN * TK4; l += NT) {
      Bs[l] = loadB(boff, k0 + l / (BN / 4u), n0 + (l % (BN / 4u)) * 4u);
    }
//#endif
    workgroupBarrier();
    for (var kq = 0u; kq < TK4; kq++) {
//#if B_NK
      let c = lid.x * 4u;
      let b0 = Bs[(c + 0u) * TK4 + kq];
      let b1 = Bs[(c + 1u) * TK4 + kq];
      let b2 = Bs[(c + 2u) * TK4 + kq];
      let b3 = Bs[(c + 3u) * TK4 + kq];
      for (var i = 0u; i < TM; i++) {
        let av = As[(lid.y * TM + i) * TK4 + kq];
        acc[i] += vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
      }
//#else
      let b0 = Bs[(kq * 4u + 0u) * (BN / 4u) + lid.x];
      let b1 = Bs[(kq * 4u + 1u) * (BN / 4u) + lid.x];
      let b2 = Bs[(kq * 4u + 2u) * (BN / 4u) + lid.x];
      let b3 = Bs[(kq * 4u + 3u) * (BN / 4u) + lid.x];
      for (var i = 0u; i < TM; i++) {
        let av = As[(lid.y * TM + i) * TK4 + kq];
        acc[i] += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
      }
//#endif
    }
    workgroupBarrier();
  }
  let obase = z * p.c_bs;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid.y * TM + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n < p.N) { out[obase + m * p.N + n] = {{TO}}(epilogue(acc[i][j], m, n, z)); }
    }
  }
}
