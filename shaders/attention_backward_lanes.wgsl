// Attention backward for LLVM-based CPU adapters (variant attention_backward_lanes, engine/ops/attention-backward.ts):
// the gradients of shaders/attention_backward.wgsl (same Params struct, same masking rules and fixed-order f32
// sums: bit-identical run to run) in TWO passes shaped for lavapipe, which runs a workgroup's invocations as SIMD
// lanes of one core:
//   PASS_DQ:  a workgroup owns WG consecutive queries of ONE (batch, head), one query per invocation (lane); each
//             lane computes its D = dO·O (written to dvec for the next pass) and loops over the keys: dS, dQ.
//             Grid B * H * ceil(Sq / WG).
//   PASS_DKV: a workgroup owns WG consecutive keys of ONE (K batch, head), one key per lane; each lane loops over
//             the query batches (all of them, in order, when K/V are shared) and queries: P, dS, dK, dV.
//             Grid kvBatches * H * ceil(Sk / WG).
// Why this shape: (batch, head) comes from the workgroup id only, so every load of the streamed side (K and V rows in
// PASS_DQ; Q, dO rows, L and D in PASS_DKV) has a uniform address: one scalar load broadcast to the lanes instead of
// a gather. The head-dim loops have CONSTANT bounds (NV = HD / W iterations, unrolled by the compiler), so the
// lane's own rows and accumulators are registers, not private arrays indexed at run time (which llvmpipe lowers to a
// select ladder per access: the cost that dominated attention_backward_rows). The key / query loops keep runtime
// bounds (small code, fast JIT). No workgroup memory, no barriers. Lanes past Sq / Sk compute on the last row (in
// bounds) and store nothing, so control flow stays uniform.
// PAIR (variant attention_backward_lanes_pairs): each lane owns TWO rows, r and r + WG, of a block of 2 * WG (grids
// over ceil(Sq / (2 WG)) and ceil(Sk / (2 WG)) blocks): every streamed row load then serves two queries (dQ) or two
// keys (dK/dV); the sums per row run in the same order as without PAIR.
// VEC: rows are read as vec4 (W = 4; the wrapper sets it when HD % 4 == 0 and every offset and stride is a
// multiple of 4); else scalar (W = 1, any layout).
// Defines: PASS_DQ | PASS_DKV, T (f32 | f16 storage), HD, VEC, WG, HAS_BIAS, HAS_MASK, binding numbers BIND_BIAS,
//   BIND_MASK (when present), BIND_OUT (dq or dk), BIND_OUT2 (dv; absent under DKV_ONE_BUFFER, when dk and dv are
//   views of one buffer).

struct Params {
  q_off: u32, q_bs: u32, q_ss: u32,
  k_off: u32, k_bs: u32, k_ss: u32,
  v_off: u32, v_bs: u32, v_ss: u32,
  do_off: u32, do_bs: u32, do_ss: u32,
  o_off: u32, o_bs: u32, o_ss: u32,
  dq_off: u32, dq_bs: u32, dq_ss: u32,
  dk_off: u32, dk_bs: u32, dk_ss: u32,
  dv_off: u32, dv_bs: u32, dv_ss: u32,
  batch: u32, heads: u32, sq: u32, sk: u32,
  blocks: u32,     // key blocks (PASS_DKV) or query blocks (PASS_DQ) of WG rows per (batch, head)
  kv_shared: u32,  // 1: K/V shared by all query batches (one dK/dV, summed over b = 0..batch-1 in order)
  causal: u32, bias_bs: u32, mask_bs: u32,
  scale: f32,
  zero: u32,
}

const HD: u32 = {{HD}}u;
const WG: u32 = {{WG}}u;
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
@group(0) @binding(4) var<storage, read> dout: array<VT>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
//#if PASS_DQ
@group(0) @binding(6) var<storage, read> o: array<VT>;
@group(0) @binding(7) var<storage, read_write> dvec: array<f32>;
//#else
@group(0) @binding(6) var<storage, read> dvec: array<f32>;
//#endif
//#if HAS_BIAS
@group(0) @binding({{BIND_BIAS}}) var<storage, read> bias: array<f32>;
//#endif
//#if HAS_MASK
@group(0) @binding({{BIND_MASK}}) var<storage, read> mask: array<f32>;
//#endif
//#if PASS_DKV
@group(0) @binding({{BIND_OUT}}) var<storage, read_write> dk: array<VT>;
//#if DKV_ONE_BUFFER
fn store_dv(i: u32, x: VF) { dk[i] = VT(x); }   // dk and dv are views of one buffer (fused dQKV)
//#else
@group(0) @binding({{BIND_OUT2}}) var<storage, read_write> dv: array<VT>;
fn store_dv(i: u32, x: VF) { dv[i] = VT(x); }
//#endif
//#else
@group(0) @binding({{BIND_OUT}}) var<storage, read_write> dq: array<VT>;
//#endif

// The logit of (query batch b, query qi, key) from the dot product, with scale, bias and mask; <= MASKED if hidden.
fn logit(dot: f32, b: u32, qi: u32, key: u32) -> f32 {
  var s = dot * p.scale;
//#if HAS_BIAS
  s += bias[b * p.bias_bs + key];
//#endif
//#if HAS_MASK
  s += mask[b * p.mask_bs + qi * p.sk + key];
//#endif
  return s;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wid.x + wid.y * nwg.x;
//#if PASS_DQ
//#if PAIR
  if (g >= p.batch * p.heads * p.blocks) { return; }
  let qblk = g % p.blocks;
  let bh = g / p.blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qblk * (2u * WG);
  let qiA = q0 + li;
  let qiB = q0 + WG + li;
  let rowA = min(qiA, p.sq - 1u);
  let rowB = min(qiB, p.sq - 1u);
  let qbA = (p.q_off + b * p.q_bs + rowA * p.q_ss + h * HD) / W;
  let gbA = (p.do_off + b * p.do_bs + rowA * p.do_ss + h * HD) / W;
  let obA = (p.o_off + b * p.o_bs + rowA * p.o_ss + h * HD) / W;
  let qbB = (p.q_off + b * p.q_bs + rowB * p.q_ss + h * HD) / W;
  let gbB = (p.do_off + b * p.do_bs + rowB * p.do_ss + h * HD) / W;
  let obB = (p.o_off + b * p.o_bs + rowB * p.o_ss + h * HD) / W;
  var qrA: array<VF, NV>;
  var grA: array<VF, NV>;
  var gqA: array<VF, NV>;
  var qrB: array<VF, NV>;
  var grB: array<VF, NV>;
  var gqB: array<VF, NV>;
  var ddA = VF(0.0);
  var ddB = VF(0.0);
  for (var d = 0u; d < NV; d++) {
    qrA[d] = VF(q[qbA + d]);
    grA[d] = VF(dout[gbA + d]);
    ddA = fma(grA[d], VF(o[obA + d]), ddA);
    gqA[d] = VF(0.0);
    qrB[d] = VF(q[qbB + d]);
    grB[d] = VF(dout[gbB + d]);
    ddB = fma(grB[d], VF(o[obB + d]), ddB);
    gqB[d] = VF(0.0);
  }
  let rA = bh * p.sq + rowA;
  let rB = bh * p.sq + rowB;
  let dA = hsum(ddA);
  let dB = hsum(ddB);
  let lA = lse[rA];
  let lB = lse[rB];
  if (qiA < p.sq) { dvec[rA] = dA; }
  if (qiB < p.sq) { dvec[rB] = dB; }
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + 2u * WG); }
  let kbase = (p.k_off + b * p.k_bs + h * HD) / W;
  let vbase = (p.v_off + b * p.v_bs + h * HD) / W;
  let kss = p.k_ss / W;
  let vss = p.v_ss / W;
  for (var key = 0u; key < k_end; key++) {
    let kb = kbase + key * kss;
    let vb = vbase + key * vss;
    var kr: array<VF, NV>;
    var dotA = VF(0.0);
    var dpA = VF(0.0);
    var dotB = VF(0.0);
    var dpB = VF(0.0);
    for (var d = 0u; d < NV; d++) {
      kr[d] = VF(k[kb + d]);
      let vv = VF(v[vb + d]);
      dotA = fma(qrA[d], kr[d], dotA);
      dpA = fma(grA[d], vv, dpA);
      dotB = fma(qrB[d], kr[d], dotB);
      dpB = fma(grB[d], vv, dpB);
    }
    let sA = logit(hsum(dotA), b, rowA, key);
    let sB = logit(hsum(dotB), b, rowB, key);
    let dsA = select(0.0, exp(sA - lA) * (hsum(dpA) - dA), sA > MASKED && !(p.causal != 0u && key > qiA));
    let dsB = select(0.0, exp(sB - lB) * (hsum(dpB) - dB), sB > MASKED && !(p.causal != 0u && key > qiB));
    for (var d = 0u; d < NV; d++) {
      gqA[d] = fma(VF(dsA), kr[d], gqA[d]);
      gqB[d] = fma(VF(dsB), kr[d], gqB[d]);
    }
  }
  if (qiA < p.sq) {
    let ab = (p.dq_off + b * p.dq_bs + qiA * p.dq_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { dq[ab + d] = VT(gqA[d] * p.scale); }
  }
  if (qiB < p.sq) {
    let ab = (p.dq_off + b * p.dq_bs + qiB * p.dq_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { dq[ab + d] = VT(gqB[d] * p.scale); }
  }
//#else
  // Overshoot workgroups of a folded grid exit as a whole (uniform).
  if (g >= p.batch * p.heads * p.blocks) { return; }
  let qblk = g % p.blocks;
  let bh = g / p.blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qblk * WG;
  let qi = q0 + li;
  let row = min(qi, p.sq - 1u);
  let qb = (p.q_off + b * p.q_bs + row * p.q_ss + h * HD) / W;
  let gb = (p.do_off + b * p.do_bs + row * p.do_ss + h * HD) / W;
  let ob = (p.o_off + b * p.o_bs + row * p.o_ss + h * HD) / W;
  var qr: array<VF, NV>;
  var gr: array<VF, NV>;
  var gq: array<VF, NV>;
  var dd = VF(0.0);
  for (var d = 0u; d < NV; d++) {
    qr[d] = VF(q[qb + d]);
    gr[d] = VF(dout[gb + d]);
    dd = fma(gr[d], VF(o[ob + d]), dd);
    gq[d] = VF(0.0);
  }
  let r = bh * p.sq + row;
  let drow = hsum(dd);
  let lrow = lse[r];
  if (qi < p.sq) { dvec[r] = drow; }
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + WG); }   // uniform: the block's last query sees keys <= it
  let kbase = (p.k_off + b * p.k_bs + h * HD) / W;
  let vbase = (p.v_off + b * p.v_bs + h * HD) / W;
  let kss = p.k_ss / W;
  let vss = p.v_ss / W;
  for (var key = 0u; key < k_end; key++) {
    let kb = kbase + key * kss;
    let vb = vbase + key * vss;
    var kr: array<VF, NV>;
    var dot = VF(0.0);
    var dp = VF(0.0);
    for (var d = 0u; d < NV; d++) {
      kr[d] = VF(k[kb + d]);
      dot = fma(qr[d], kr[d], dot);
      dp = fma(gr[d], VF(v[vb + d]), dp);
    }
    let s = logit(hsum(dot), b, row, key);
    let visible = s > MASKED && !(p.causal != 0u && key > qi);
    let dsv = select(0.0, exp(s - lrow) * (hsum(dp) - drow), visible);
    for (var d = 0u; d < NV; d++) { gq[d] = fma(VF(dsv), kr[d], gq[d]); }
  }
  if (qi < p.sq) {
    let ab = (p.dq_off + b * p.dq_bs + qi * p.dq_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { dq[ab + d] = VT(gq[d] * p.scale); }
  }
//#endif
//#else
//#if PAIR
  var nb = p.batch;
  if (p.kv_shared != 0u) { nb = 1u; }
  if (g >= nb * p.heads * p.blocks) { return; }
  let kblk = g % p.blocks;
  let bh = g / p.blocks;
  let h = bh % p.heads;
  let kvb = bh / p.heads;
  let k0 = kblk * (2u * WG);
  let keyA = k0 + li;
  let keyB = k0 + WG + li;
  let rowA = min(keyA, p.sk - 1u);
  let rowB = min(keyB, p.sk - 1u);
  let kbA = (p.k_off + kvb * p.k_bs + rowA * p.k_ss + h * HD) / W;
  let vbA = (p.v_off + kvb * p.v_bs + rowA * p.v_ss + h * HD) / W;
  let kbB = (p.k_off + kvb * p.k_bs + rowB * p.k_ss + h * HD) / W;
  let vbB = (p.v_off + kvb * p.v_bs + rowB * p.v_ss + h * HD) / W;
  var krA: array<VF, NV>;
  var vrA: array<VF, NV>;
  var gkA: array<VF, NV>;
  var gvA: array<VF, NV>;
  var krB: array<VF, NV>;
  var vrB: array<VF, NV>;
  var gkB: array<VF, NV>;
  var gvB: array<VF, NV>;
  for (var d = 0u; d < NV; d++) {
    krA[d] = VF(k[kbA + d]);
    vrA[d] = VF(v[vbA + d]);
    krB[d] = VF(k[kbB + d]);
    vrB[d] = VF(v[vbB + d]);
    gkA[d] = VF(0.0);
    gvA[d] = VF(0.0);
    gkB[d] = VF(0.0);
    gvB[d] = VF(0.0);
  }
  var b0 = kvb;
  var b1 = kvb + 1u;
  if (p.kv_shared != 0u) { b0 = 0u; b1 = p.batch; }
  var q_start = 0u;
  if (p.causal != 0u) { q_start = min(k0, p.sq); }
  let qss = p.q_ss / W;
  let gss = p.do_ss / W;
  for (var b = b0; b < b1; b++) {
    let qbase = (p.q_off + b * p.q_bs + h * HD) / W;
    let gbase = (p.do_off + b * p.do_bs + h * HD) / W;
    let rbase = (b * p.heads + h) * p.sq;
    for (var qi = q_start; qi < p.sq; qi++) {
      let qb = qbase + qi * qss;
      let gb = gbase + qi * gss;
      var qv: array<VF, NV>;
      var gr: array<VF, NV>;
      var dotA = VF(0.0);
      var dpA = VF(0.0);
      var dotB = VF(0.0);
      var dpB = VF(0.0);
      for (var d = 0u; d < NV; d++) {
        qv[d] = VF(q[qb + d]);
        gr[d] = VF(dout[gb + d]);
        dotA = fma(qv[d], krA[d], dotA);
        dpA = fma(gr[d], vrA[d], dpA);
        dotB = fma(qv[d], krB[d], dotB);
        dpB = fma(gr[d], vrB[d], dpB);
      }
      let lq = lse[rbase + qi];
      let dq_ = dvec[rbase + qi];
      let sA = logit(hsum(dotA), b, qi, rowA);
      let sB = logit(hsum(dotB), b, qi, rowB);
      let prA = select(0.0, exp(sA - lq), sA > MASKED && !(p.causal != 0u && keyA > qi));
      let prB = select(0.0, exp(sB - lq), sB > MASKED && !(p.causal != 0u && keyB > qi));
      let dsA = prA * (hsum(dpA) - dq_);
      let dsB = prB * (hsum(dpB) - dq_);
      for (var d = 0u; d < NV; d++) {
        gvA[d] = fma(VF(prA), gr[d], gvA[d]);
        gkA[d] = fma(VF(dsA), qv[d], gkA[d]);
        gvB[d] = fma(VF(prB), gr[d], gvB[d]);
        gkB[d] = fma(VF(dsB), qv[d], gkB[d]);
      }
    }
  }
  if (keyA < p.sk) {
    let ab = (p.dk_off + kvb * p.dk_bs + keyA * p.dk_ss + h * HD) / W;
    let cb = (p.dv_off + kvb * p.dv_bs + keyA * p.dv_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { dk[ab + d] = VT(gkA[d] * p.scale); store_dv(cb + d, gvA[d]); }
  }
  if (keyB < p.sk) {
    let ab = (p.dk_off + kvb * p.dk_bs + keyB * p.dk_ss + h * HD) / W;
    let cb = (p.dv_off + kvb * p.dv_bs + keyB * p.dv_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) { dk[ab + d] = VT(gkB[d] * p.scale); store_dv(cb + d, gvB[d]); }
  }
//#else
  var nb = p.batch;
  if (p.kv_shared != 0u) { nb = 1u; }
  if (g >= nb * p.heads * p.blocks) { return; }
  let kblk = g % p.blocks;
  let bh = g / p.blocks;
  let h = bh % p.heads;
  let kvb = bh / p.heads;
  let k0 = kblk * WG;
  let key = k0 + li;
  let row = min(key, p.sk - 1u);
  let kb = (p.k_off + kvb * p.k_bs + row * p.k_ss + h * HD) / W;
  let vb = (p.v_off + kvb * p.v_bs + row * p.v_ss + h * HD) / W;
  var kr: array<VF, NV>;
  var vr: array<VF, NV>;
  var gk: array<VF, NV>;
  var gv: array<VF, NV>;
  for (var d = 0u; d < NV; d++) {
    kr[d] = VF(k[kb + d]);
    vr[d] = VF(v[vb + d]);
    gk[d] = VF(0.0);
    gv[d] = VF(0.0);
  }
  var b0 = kvb;
  var b1 = kvb + 1u;
  if (p.kv_shared != 0u) { b0 = 0u; b1 = p.batch; }
  var q_start = 0u;
  if (p.causal != 0u) { q_start = min(k0, p.sq); }   // uniform: queries before the block's first key see none of it
  let qss = p.q_ss / W;
  let gss = p.do_ss / W;
  for (var b = b0; b < b1; b++) {
    let qbase = (p.q_off + b * p.q_bs + h * HD) / W;
    let gbase = (p.do_off + b * p.do_bs + h * HD) / W;
    let rbase = (b * p.heads + h) * p.sq;
    for (var qi = q_start; qi < p.sq; qi++) {
      let qb = qbase + qi * qss;
      let gb = gbase + qi * gss;
      var qv: array<VF, NV>;
      var gr: array<VF, NV>;
      var dot = VF(0.0);
      var dp = VF(0.0);
      for (var d = 0u; d < NV; d++) {
        qv[d] = VF(q[qb + d]);
        gr[d] = VF(dout[gb + d]);
        dot = fma(qv[d], kr[d], dot);
        dp = fma(gr[d], vr[d], dp);
      }
      let s = logit(hsum(dot), b, qi, row);
      let visible = s > MASKED && !(p.causal != 0u && key > qi);
      let pr = select(0.0, exp(s - lse[rbase + qi]), visible);
      let dsv = pr * (hsum(dp) - dvec[rbase + qi]);
      for (var d = 0u; d < NV; d++) {
        gv[d] = fma(VF(pr), gr[d], gv[d]);
        gk[d] = fma(VF(dsv), qv[d], gk[d]);
      }
    }
  }
  if (key < p.sk) {
    let ab = (p.dk_off + kvb * p.dk_bs + key * p.dk_ss + h * HD) / W;
    let cb = (p.dv_off + kvb * p.dv_bs + key * p.dv_ss + h * HD) / W;
    for (var d = 0u; d < NV; d++) {
      dk[ab + d] = VT(gk[d] * p.scale);
      store_dv(cb + d, gv[d]);
    }
  }
//#endif
//#endif
}
