// Attention backward, FlashAttention-2 style, from the forward's output O and per-row log-sum-exp L (no float
// atomics, deterministic): three passes of one family, selected by define.
//   PASS_D:   D[b,h,i] = sum_d dO[b,i,h,d] * O[b,i,h,d]; one thread per (b, h, query), grid ceil(B*H*Sq / 64) x 64.
//   PASS_DKV: a workgroup owns BK keys of one (K batch, head) and loops over query blocks (and, for K/V shared by
//             the query batches, over those batches in order): P = exp(scale q k^T + bias + mask - L),
//             dV = P^T dO, dS = P * (dO V^T - D), dK = scale dS^T Q. Grid kvBatches * H * ceil(Sk / BK).
//   PASS_DQ:  a workgroup owns BQ queries of one (batch, head) and loops over key blocks: dQ = scale dS K.
//             Grid B * H * ceil(Sq / BQ).
// Under ROWS (variant attention_backward_rows) the two gradient passes run one thread per key (dK/dV: loops over the
// query batches and queries) or per query (dQ: loops over keys), operands and accumulators in registers, no
// workgroup memory: grids ceil(kvBatches * H * Sk / 64) and ceil(B * H * Sq / 64) workgroups of 64.
// Grids are folded 2-D (linear workgroup id = wid.x + wid.y * nwg.x); overshoot workgroups exit before any barrier.
// Views: element (b, s, h, d) of X lives at X.off + b*X.bs + s*X.ss + h*HD + d (elements, any alignment: scalar
// loads); k_bs = v_bs = 0 when K/V are shared. L and D are f32 [B, heads, Sq]. Masking as the forward: causal hides
// key j > i, a logit <= -1e30 after bias and mask is hidden (P = 0); a fully masked row therefore has zero gradient
// whatever its L. Every sum runs in a fixed order (f32), so gradients are bit-identical run to run.
// Defines: PASS_D | PASS_DKV | PASS_DQ, ZERO ('p.zero' on CPU adapters: runtime loop bounds), T (f32 | f16 storage),
//   HD (any head dim), ROWS, else TB (= BQ = BK, query and key block) and WG (threads), HAS_BIAS, HAS_MASK, and the binding numbers
//   BIND_BIAS, BIND_MASK (when present), BIND_OUT (dq or dk) and BIND_OUT2 (dv;
//   absent under DKV_ONE_BUFFER, when dk and dv are views of one buffer: WebGPU forbids two writable bindings of it).

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
  blocks: u32,     // key blocks (PASS_DKV) or query blocks (PASS_DQ) per (batch, head)
  kv_shared: u32,  // 1: K/V shared by all query batches (one dK/dV, summed over b = 0..batch-1 in order)
  causal: u32, bias_bs: u32, mask_bs: u32,
  scale: f32,
  zero: u32,       // always 0 (runtime loop bounds under ZERO = 'p.zero')
}

const HD: u32 = {{HD}}u;
const MASKED: f32 = -1.0e30;

@group(0) @binding(0) var<uniform> p: Params;

//#if PASS_D
@group(0) @binding(1) var<storage, read> dout: array<{{T}}>;
@group(0) @binding(2) var<storage, read> o: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> dvec: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let hd = HD + {{ZERO}};
  let id = (wid.x + wid.y * nwg.x) * 64u + li;
  if (id >= p.batch * p.heads * p.sq) { return; }
  let qi = id % p.sq;
  let bh = id / p.sq;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let a = p.do_off + b * p.do_bs + qi * p.do_ss + h * HD;
  let c = p.o_off + b * p.o_bs + qi * p.o_ss + h * HD;
  var s = 0.0;
  for (var d = 0u; d < hd; d++) { s += f32(dout[a + d]) * f32(o[c + d]); }
  dvec[id] = s;
}
//#else

@group(0) @binding(1) var<storage, read> q: array<{{T}}>;
@group(0) @binding(2) var<storage, read> k: array<{{T}}>;
@group(0) @binding(3) var<storage, read> v: array<{{T}}>;
@group(0) @binding(4) var<storage, read> dout: array<{{T}}>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dvec: array<f32>;
//#if HAS_BIAS
@group(0) @binding({{BIND_BIAS}}) var<storage, read> bias: array<f32>;
//#endif
//#if HAS_MASK
@group(0) @binding({{BIND_MASK}}) var<storage, read> mask: array<f32>;
//#endif
//#if PASS_DKV
@group(0) @binding({{BIND_OUT}}) var<storage, read_write> dk: array<{{T}}>;
//#if DKV_ONE_BUFFER
fn store_dv(i: u32, x: f32) { dk[i] = {{T}}(x); }   // dk and dv are views of one buffer (fused dQKV)
//#else
@group(0) @binding({{BIND_OUT2}}) var<storage, read_write> dv: array<{{T}}>;
fn store_dv(i: u32, x: f32) { dv[i] = {{T}}(x); }
//#endif
//#else
@group(0) @binding({{BIND_OUT}}) var<storage, read_write> dq: array<{{T}}>;
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

//#if ROWS
// Row variant (attention_backward_rows; LLVM-based CPU adapters, short sequences): one thread per row holds its
// operands and accumulators in registers and streams the other side from global memory, like attention_rows.
// PASS_DKV: thread per (K batch, head, key), loops over (query batch, query); PASS_DQ: thread per (b, h, query),
// loops over keys. Grid ceil(rows / 64) workgroups of 64, folded 2-D. No workgroup memory, no barriers.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let hd = HD + {{ZERO}};
  let id = (wid.x + wid.y * nwg.x) * 64u + li;
//#if PASS_DKV
  var nb = p.batch;
  if (p.kv_shared != 0u) { nb = 1u; }
  if (id >= nb * p.heads * p.sk) { return; }
  let key = id % p.sk;
  let bh = id / p.sk;
  let h = bh % p.heads;
  let kvb = bh / p.heads;
  let kb = p.k_off + kvb * p.k_bs + key * p.k_ss + h * HD;
  let vb = p.v_off + kvb * p.v_bs + key * p.v_ss + h * HD;
  var kr: array<f32, HD>;
  var vr: array<f32, HD>;
  var gk: array<f32, HD>;
  var gv: array<f32, HD>;
  for (var d = 0u; d < hd; d++) {
    kr[d] = f32(k[kb + d]);
    vr[d] = f32(v[vb + d]);
    gk[d] = 0.0;
    gv[d] = 0.0;
  }
  var b0 = kvb;
  var b1 = kvb + 1u;
  if (p.kv_shared != 0u) { b0 = 0u; b1 = p.batch; }
  var q_start = 0u;
  if (p.causal != 0u) { q_start = key; }   // queries before the key do not see it
  for (var b = b0; b < b1; b++) {
    for (var qi = q_start; qi < p.sq; qi++) {
      let qb = p.q_off + b * p.q_bs + qi * p.q_ss + h * HD;
      let ob = p.do_off + b * p.do_bs + qi * p.do_ss + h * HD;
      var dot = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < hd; d++) {
        dot += f32(q[qb + d]) * kr[d];
        dp += f32(dout[ob + d]) * vr[d];
      }
      let s = logit(dot, b, qi, key);
      if (s > MASKED) {
        let r = (b * p.heads + h) * p.sq + qi;
        let pr = exp(s - lse[r]);
        let dsv = pr * (dp - dvec[r]);
        for (var d = 0u; d < hd; d++) {
          gv[d] += pr * f32(dout[ob + d]);
          gk[d] += dsv * f32(q[qb + d]);
        }
      }
    }
  }
  let gkb = p.dk_off + kvb * p.dk_bs + key * p.dk_ss + h * HD;
  let gvb = p.dv_off + kvb * p.dv_bs + key * p.dv_ss + h * HD;
  for (var d = 0u; d < hd; d++) {
    dk[gkb + d] = {{T}}(gk[d] * p.scale);
    store_dv(gvb + d, gv[d]);
  }
//#else
  if (id >= p.batch * p.heads * p.sq) { return; }
  let qi = id % p.sq;
  let bh = id / p.sq;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let qb = p.q_off + b * p.q_bs + qi * p.q_ss + h * HD;
  let ob = p.do_off + b * p.do_bs + qi * p.do_ss + h * HD;
  var qr: array<f32, HD>;
  var gr: array<f32, HD>;
  var gq: array<f32, HD>;
  for (var d = 0u; d < hd; d++) {
    qr[d] = f32(q[qb + d]);
    gr[d] = f32(dout[ob + d]);
    gq[d] = 0.0;
  }
  let lrow = lse[id];
  let drow = dvec[id];
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, qi + 1u); }
  for (var key = 0u; key < k_end; key++) {
    let kb = p.k_off + b * p.k_bs + key * p.k_ss + h * HD;
    let vb = p.v_off + b * p.v_bs + key * p.v_ss + h * HD;
    var dot = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < hd; d++) {
      dot += qr[d] * f32(k[kb + d]);
      dp += gr[d] * f32(v[vb + d]);
    }
    let s = logit(dot, b, qi, key);
    if (s > MASKED) {
      let dsv = exp(s - lrow) * (dp - drow);
      for (var d = 0u; d < hd; d++) { gq[d] += dsv * f32(k[kb + d]); }
    }
  }
  for (var d = 0u; d < hd; d++) { dq[p.dq_off + b * p.dq_bs + qi * p.dq_ss + h * HD + d] = {{T}}(gq[d] * p.scale); }
//#endif
}
//#else
// Tiled variant (attention_backward_tiled).

const TB: u32 = {{TB}}u;
const WG: u32 = {{WG}}u;
const NPT: u32 = (TB * HD + WG - 1u) / WG;   // accumulator elements per thread

var<workgroup> qs: array<f32, TB * HD>;    // query block
var<workgroup> dos: array<f32, TB * HD>;   // its dO rows
var<workgroup> ks: array<f32, TB * HD>;    // key block
var<workgroup> vs: array<f32, TB * HD>;    // its V rows
var<workgroup> ls: array<f32, TB>;         // L of the query block
var<workgroup> ds: array<f32, TB>;         // D of the query block
var<workgroup> pt: array<f32, TB * TB>;    // P tile [query i][key j]
var<workgroup> dst: array<f32, TB * TB>;   // dS tile [query i][key j]

// Stages TB query rows from q0 of (b, h): q, dO, L, D (zeros past Sq).
fn stage_queries(t: u32, b: u32, h: u32, q0: u32) {
  for (var e = t; e < TB * HD; e += WG) {
    let i = e / HD;
    let d = e % HD;
    let qi = q0 + i;
    var a = 0.0;
    var g = 0.0;
    if (qi < p.sq) {
      a = f32(q[p.q_off + b * p.q_bs + qi * p.q_ss + h * HD + d]);
      g = f32(dout[p.do_off + b * p.do_bs + qi * p.do_ss + h * HD + d]);
    }
    qs[e] = a;
    dos[e] = g;
  }
  for (var i = t; i < TB; i += WG) {
    let qi = q0 + i;
    var l = 0.0;
    var dd = 0.0;
    if (qi < p.sq) {
      let r = (b * p.heads + h) * p.sq + qi;
      l = lse[r];
      dd = dvec[r];
    }
    ls[i] = l;
    ds[i] = dd;
  }
}

// Stages TB key rows from k0 of (b, h): K and V (zeros past Sk).
fn stage_keys(t: u32, b: u32, h: u32, k0: u32) {
  for (var e = t; e < TB * HD; e += WG) {
    let j = e / HD;
    let d = e % HD;
    let key = k0 + j;
    var a = 0.0;
    var c = 0.0;
    if (key < p.sk) {
      a = f32(k[p.k_off + b * p.k_bs + key * p.k_ss + h * HD + d]);
      c = f32(v[p.v_off + b * p.v_bs + key * p.v_ss + h * HD + d]);
    }
    ks[e] = a;
    vs[e] = c;
  }
}

// P and dS of the staged tile (query batch b for bias and mask).
fn tile_scores(t: u32, b: u32, q0: u32, k0: u32) {
  let hd = HD + {{ZERO}};
  for (var e = t; e < TB * TB; e += WG) {
    let i = e / TB;
    let j = e % TB;
    let qi = q0 + i;
    let key = k0 + j;
    var pr = 0.0;
    var dsv = 0.0;
    if (qi < p.sq && key < p.sk && !(p.causal != 0u && key > qi)) {
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < hd; d++) {
        s += qs[i * HD + d] * ks[j * HD + d];
        dp += dos[i * HD + d] * vs[j * HD + d];
      }
      s = logit(s, b, qi, key);
      if (s > MASKED) {
        pr = exp(s - ls[i]);
        dsv = pr * (dp - ds[i]);
      }
    }
    pt[e] = pr;
    dst[e] = dsv;
  }
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let z = {{ZERO}};
  let tb = TB + z;
  let npt = NPT + z;
  let g = wid.x + wid.y * nwg.x;
//#if PASS_DKV
  var groups = p.batch * p.heads * p.blocks;
  if (p.kv_shared != 0u) { groups = p.heads * p.blocks; }
  if (g >= groups) { return; }
  let kblk = g % p.blocks;
  let bh = g / p.blocks;
  let h = bh % p.heads;
  let kvb = bh / p.heads;
  let k0 = kblk * TB;
  stage_keys(t, kvb, h, k0);

  var acck: array<f32, NPT>;
  var accv: array<f32, NPT>;
  for (var u = 0u; u < npt; u++) { acck[u] = 0.0; accv[u] = 0.0; }
  var b0 = kvb;
  var b1 = kvb + 1u;
  if (p.kv_shared != 0u) { b0 = 0u; b1 = p.batch; }
  // Causal: queries before k0 see none of these keys; start at the query block holding query k0.
  var qstart = 0u;
  if (p.causal != 0u) { qstart = (k0 / TB) * TB; }
  for (var b = b0; b < b1; b++) {
    for (var q0 = qstart; q0 < p.sq; q0 += TB) {
      workgroupBarrier();
      stage_queries(t, b, h, q0);
      workgroupBarrier();
      tile_scores(t, b, q0, k0);
      workgroupBarrier();
      for (var u = 0u; u < npt; u++) {
        let e = u * WG + t;
        if (e < TB * HD) {
          let j = e / HD;
          let d = e % HD;
          var sk = acck[u];
          var sv = accv[u];
          for (var i = 0u; i < tb; i++) {
            sk += dst[i * TB + j] * qs[i * HD + d];
            sv += pt[i * TB + j] * dos[i * HD + d];
          }
          acck[u] = sk;
          accv[u] = sv;
        }
      }
    }
  }
  for (var u = 0u; u < npt; u++) {
    let e = u * WG + t;
    let j = e / HD;
    let d = e % HD;
    if (e < TB * HD && k0 + j < p.sk) {
      dk[p.dk_off + kvb * p.dk_bs + (k0 + j) * p.dk_ss + h * HD + d] = {{T}}(acck[u] * p.scale);
      store_dv(p.dv_off + kvb * p.dv_bs + (k0 + j) * p.dv_ss + h * HD + d, accv[u]);
    }
  }
//#else
  if (g >= p.batch * p.heads * p.blocks) { return; }
  let qblk = g % p.blocks;
  let bh = g / p.blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qblk * TB;
  stage_queries(t, b, h, q0);

  var accq: array<f32, NPT>;
  for (var u = 0u; u < npt; u++) { accq[u] = 0.0; }
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + TB); }
  for (var k0 = 0u; k0 < k_end; k0 += TB) {
    workgroupBarrier();
    stage_keys(t, b, h, k0);
    workgroupBarrier();
    tile_scores(t, b, q0, k0);
    workgroupBarrier();
    for (var u = 0u; u < npt; u++) {
      let e = u * WG + t;
      if (e < TB * HD) {
        let i = e / HD;
        let d = e % HD;
        var s = accq[u];
        for (var j = 0u; j < tb; j++) { s += dst[i * TB + j] * ks[j * HD + d]; }
        accq[u] = s;
      }
    }
  }
  for (var u = 0u; u < npt; u++) {
    let e = u * WG + t;
    let i = e / HD;
    let d = e % HD;
    if (e < TB * HD && q0 + i < p.sq) {
      dq[p.dq_off + b * p.dq_bs + (q0 + i) * p.dq_ss + h * HD + d] = {{T}}(accq[u] * p.scale);
    }
  }
//#endif
}
//#endif
//#endif
