// Attention forward for LLVM-based CPU adapters (variant attention_lanes, engine/ops/attention.ts): a workgroup owns
// WG consecutive queries of ONE (batch, head), one query per invocation (lane), and streams the keys one at a time
// with an online softmax. Shaped for lavapipe, which runs a workgroup's invocations as SIMD lanes of one core:
// (batch, head) comes from the workgroup id only, so every K and V load has a uniform address (one scalar load
// broadcast to the lanes, not a gather); the head-dim loops have CONSTANT bounds (unrolled: the query row and the
// accumulators are registers, not runtime-indexed private arrays, which llvmpipe lowers to a select ladder per
// access); only the key loop keeps a runtime bound. (Blocks of keys with their scores in a private array measured
// slower on lavapipe: BK 8 1.7x the time of BK 1, the block loop is not unrolled.) Lanes past Sq compute on the last
// query (in bounds) and store nothing: control flow is uniform.
// Contract: as shaders/attention_flash.wgsl (same Params struct, binding order, masking rules, fully masked row -> 0,
//   HAS_LSE writes m + log(l), -3e38 for a fully masked row) with grid batch * heads * q_blocks workgroups of WG,
//   q_blocks = ceil(Sq / WG), folded 2-D, query block fastest.
// PAIR (variant attention_lanes_pairs): each lane owns TWO queries, i and i + WG, of a block of 2 * WG
// (q_blocks = ceil(Sq / (2 WG))): every K/V row load then serves two queries.
// VEC: rows read as vec4 (W = 4; HD % 4 == 0 and every offset and stride a multiple of 4); else scalar (any layout).
// Defines: T (f32 | f16 storage), HD, VEC, WG, PAIR, HAS_BIAS, HAS_MASK, HAS_LSE (+ LSE_BINDING).

//#include attention_params

const HD: u32 = {{HD}}u;
const WG: u32 = {{WG}}u;
const NEG: f32 = -3.0e38;
const MASKED: f32 = -1.0e30;
//#if VEC
alias VF = vec4<f32>;
alias VT = vec4<{{T}}>;
const W: u32 = 4u;
fn hsum(x: VF) -> f32 { return (x.x + x.y) + (x.z + x.w); }
//#else
alias VF = f32;
alias VT = {{T}};
const W: u32 = 1u;
fn hsum(x: VF) -> f32 { return x; }
//#endif
const NV: u32 = HD / W;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<VT>;
@group(0) @binding(2) var<storage, read> k: array<VT>;
@group(0) @binding(3) var<storage, read> v: array<VT>;
//#if HAS_BIAS
//#if HAS_MASK
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<VT>;
//#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<VT>;
//#endif
//#elif HAS_MASK
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<VT>;
//#else
@group(0) @binding(4) var<storage, read_write> out: array<VT>;
//#endif
//#if HAS_LSE
@group(0) @binding({{LSE_BINDING}}) var<storage, read_write> lse: array<f32>;
//#endif

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wid.x + wid.y * nwg.x;
  // Overshoot workgroups of a folded grid exit as a whole (uniform).
  if (g >= p.batch * p.heads * p.q_blocks) { return; }
//#if PAIR
  let qblk = g % p.q_blocks;
  let bh = g / p.q_blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qblk * (2u * WG);
  let qiA = q0 + li;
  let qiB = q0 + WG + li;
  let rowA = min(qiA, p.sq - 1u);
  let rowB = min(qiB, p.sq - 1u);
  let qbA = (p.q_off + b * p.q_bs + rowA * p.q_ss + h * HD) / W;
  let qbB = (p.q_off + b * p.q_bs + rowB * p.q_ss + h * HD) / W;
  var qrA: array<VF, NV>;
  var accA: array<VF, NV>;
  var qrB: array<VF, NV>;
  var accB: array<VF, NV>;
  for (var d = 0u; d < NV; d++) {
    qrA[d] = VF(q[qbA + d]) * p.scale;
    accA[d] = VF(0.0);
    qrB[d] = VF(q[qbB + d]) * p.scale;
    accB[d] = VF(0.0);
  }
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + 2u * WG); }
  let kbase = (p.k_off + b * p.k_bs + h * HD) / W;
  let vbase = (p.v_off + b * p.v_bs + h * HD) / W;
  let kss = p.k_ss / W;
  let vss = p.v_ss / W;
  var mA = NEG;
  var lA = 0.0;
  var mB = NEG;
  var lB = 0.0;
  for (var key = 0u; key < k_end; key++) {
    let kb = kbase + key * kss;
    var dotA = VF(0.0);
    var dotB = VF(0.0);
    for (var d = 0u; d < NV; d++) {
      let kv = VF(k[kb + d]);
      dotA = fma(qrA[d], kv, dotA);
      dotB = fma(qrB[d], kv, dotB);
    }
    var scA = hsum(dotA);
    var scB = hsum(dotB);
//#if HAS_BIAS
    let bk = bias[b * p.bias_bs + key];
    scA += bk;
    scB += bk;
//#endif
//#if HAS_MASK
    scA += mask[b * p.mask_bs + rowA * p.sk + key];
    scB += mask[b * p.mask_bs + rowB * p.sk + key];
//#endif
    let visA = !(p.causal != 0u && key > qiA) && scA > MASKED;
    let visB = !(p.causal != 0u && key > qiB) && scB > MASKED;
    let mnA = select(mA, max(mA, scA), visA);
    let mnB = select(mB, max(mB, scB), visB);
    let alphaA = exp(mA - mnA);
    let alphaB = exp(mB - mnB);
    let prA = select(0.0, exp(scA - mnA), visA);
    let prB = select(0.0, exp(scB - mnB), visB);
    mA = mnA;
    mB = mnB;
    lA = lA * alphaA + prA;
    lB = lB * alphaB + prB;
    let vb = vbase + key * vss;
    for (var d = 0u; d < NV; d++) {
      let vv = VF(v[vb + d]);
      accA[d] = fma(VF(prA), vv, accA[d] * alphaA);
      accB[d] = fma(VF(prB), vv, accB[d] * alphaB);
    }
  }
  if (qiA < p.sq) {
    let inv = select(0.0, 1.0 / lA, lA > 0.0);
    let ob = (p.o_off + b * p.o_bs + qiA * p.o_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { out[ob + d] = VT(accA[d] * inv); }
//#if HAS_LSE
    lse[bh * p.sq + qiA] = select(NEG, mA + log(max(lA, 1e-30)), lA > 0.0);
//#endif
  }
  if (qiB < p.sq) {
    let inv = select(0.0, 1.0 / lB, lB > 0.0);
    let ob = (p.o_off + b * p.o_bs + qiB * p.o_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { out[ob + d] = VT(accB[d] * inv); }
//#if HAS_LSE
    lse[bh * p.sq + qiB] = select(NEG, mB + log(max(lB, 1e-30)), lB > 0.0);
//#endif
  }
//#else
  let qblk = g % p.q_blocks;
  let bh = g / p.q_blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qblk * WG;
  let qi = q0 + li;
  let row = min(qi, p.sq - 1u);
  let qb = (p.q_off + b * p.q_bs + row * p.q_ss + h * HD) / W;
  var qr: array<VF, NV>;
  var acc: array<VF, NV>;
  for (var d = 0u; d < NV; d++) {
    qr[d] = VF(q[qb + d]) * p.scale;
    acc[d] = VF(0.0);
  }
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + WG); }   // uniform: the block's last query sees keys <= it
  let kbase = (p.k_off + b * p.k_bs + h * HD) / W;
  let vbase = (p.v_off + b * p.v_bs + h * HD) / W;
  let kss = p.k_ss / W;
  let vss = p.v_ss / W;
  var m = NEG;
  var l = 0.0;
  for (var key = 0u; key < k_end; key++) {
    let kb = kbase + key * kss;
    var dot = VF(0.0);
    for (var d = 0u; d < NV; d++) { dot = fma(qr[d], VF(k[kb + d]), dot); }
    var sc = hsum(dot);
//#if HAS_BIAS
    sc += bias[b * p.bias_bs + key];
//#endif
//#if HAS_MASK
    sc += mask[b * p.mask_bs + row * p.sk + key];
//#endif
    let visible = !(p.causal != 0u && key > qi) && sc > MASKED;
    let mn = select(m, max(m, sc), visible);
    let alpha = exp(m - mn);
    let pr = select(0.0, exp(sc - mn), visible);
    m = mn;
    l = l * alpha + pr;
    let vb = vbase + key * vss;
    for (var d = 0u; d < NV; d++) { acc[d] = fma(VF(pr), VF(v[vb + d]), acc[d] * alpha); }
  }
  if (qi < p.sq) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let ob = (p.o_off + b * p.o_bs + qi * p.o_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { out[ob + d] = VT(acc[d] * inv); }
//#if HAS_LSE
    lse[bh * p.sq + qi] = select(NEG, m + log(max(l, 1e-30)), l > 0.0);
//#endif
  }
//#endif
}
