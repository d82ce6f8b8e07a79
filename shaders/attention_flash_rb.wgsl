// Register-blocked flash attention: out = softmax(Q K^T * scale + bias + mask) V per (batch, head).
// Contract: as shaders/attention_flash.wgsl (same Params struct, bindings array<vec4<T>>, masking rules, fully
//   masked row -> 0) with grid batch * heads * q_blocks workgroups of WG invocations, q_blocks = ceil(Sq / (WG*QPI)),
//   folded 2-D (linear = wid.x + wid.y * nwg.x), query block fastest.
// Per workgroup: WG*QPI queries of ONE (batch, head), so every key and value address depends on the workgroup id
// and the loop counters only (uniform): on LLVM-based CPU adapters a uniform load is one scalar load broadcast to
// the SIMD lanes instead of a gather, on GPUs it is one broadcast transaction per warp.
// Invocation t owns queries q0 + t + r*WG (r < QPI): their scaled query rows, output accumulators, running max and
// sum live in private arrays indexed only by constants after unrolling (static loop bounds: HD, QPI and BK are
// pipeline-creation constants), i.e. in registers. Keys go by blocks of BK: the QPI x BK scores of a block are
// computed into registers, one max / rescale per block and query (not per key), then P·V.
// STAGE (GPUs): the workgroup first copies the block's K and V rows into workgroup memory (coalesced, one barrier
// pair per block) and reads them from there; without STAGE (CPU adapters) they are read straight from global
// memory (cache-resident: every invocation reads the same rows).
// Masking: a logit (after bias and mask) <= -1e30 (e.g. -inf) hides the key; causal hides key j > i; keys past Sk in
// the last block are hidden. A row with every key masked outputs 0 (l = 0), never NaN.
// Preconditions: HD % 4 == 0, every offset and stride a multiple of 4.
// Defines: ZERO ('0u' or 'p.zero', as in attention_rows.wgsl), T (f32 | f16 storage), HD, QPI (queries per
//   invocation), BK (keys per block), WG (workgroup size),
//   STAGE (bool), HAS_BIAS, HAS_MASK.

//#include attention_params

const HD4: u32 = {{HD}}u / 4u;
const QPI: u32 = {{QPI}}u;
const BK: u32 = {{BK}}u;
const WG: u32 = {{WG}}u;
const NEG: f32 = -3.0e38;     // finite "minus infinity" for the running max
const MASKED: f32 = -1.0e30;  // logits at or below this are masked keys

//#include attention_bindings

//#if STAGE
var<workgroup> ks: array<vec4<f32>, BK * HD4>;
var<workgroup> vs: array<vec4<f32>, BK * HD4>;
//#endif

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let g = wid.x + wid.y * nwg.x;
  // Overshoot workgroups of a folded grid exit as a whole (uniform), before any barrier.
  if (g >= p.batch * p.heads * p.q_blocks) { return; }
  let qb = g % p.q_blocks;
  let bh = g / p.q_blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qb * (WG * QPI);
  // Loop bounds: constants on GPUs (ZERO = 0u: fully unrolled, private arrays in registers); on LLVM-based CPU
  // adapters ZERO is the uniform p.zero (unrolling these loops costs tens of seconds of JIT per pipeline there for
  // no measured gain, see docs/kernels/attention.md).
  let hd4 = HD4 + {{ZERO}};
  let bk = BK + {{ZERO}};

  var qr: array<array<vec4<f32>, HD4>, QPI>;
  var acc: array<array<vec4<f32>, HD4>, QPI>;
  var m: array<f32, QPI>;
  var l: array<f32, QPI>;
  var qi: array<u32, QPI>;
  for (var r = 0u; r < QPI; r++) {
    qi[r] = q0 + t + r * WG;
    // Rows past Sq compute on the last row (in bounds) and are not stored.
    let qbase = (p.q_off + b * p.q_bs + min(qi[r], p.sq - 1u) * p.q_ss + h * {{HD}}u) / 4u;
    for (var d = 0u; d < hd4; d++) {
      qr[r][d] = vec4<f32>(q[qbase + d]) * p.scale;
      acc[r][d] = vec4<f32>(0.0);
    }
    m[r] = NEG;
    l[r] = 0.0;
  }

  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + WG * QPI); }
  let k_base = (p.k_off + b * p.k_bs + h * {{HD}}u) / 4u;
  let v_base = (p.v_off + b * p.v_bs + h * {{HD}}u) / 4u;
  let k_ss4 = p.k_ss / 4u;
  let v_ss4 = p.v_ss / 4u;

  var s: array<array<f32, BK>, QPI>;
  for (var k0 = 0u; k0 < k_end; k0 += BK) {
//#if STAGE
    workgroupBarrier();
    for (var e = t; e < BK * HD4; e += WG) {
      let j = e / HD4;
      let key = min(k0 + j, p.sk - 1u);
      ks[e] = vec4<f32>(k[k_base + key * k_ss4 + e % HD4]);
      vs[e] = vec4<f32>(v[v_base + key * v_ss4 + e % HD4]);
    }
    workgroupBarrier();
//#endif
    // Scores of the block: s[r][j] = q_r · k_j (+ bias + mask), hidden keys -> NEG.
    for (var j = 0u; j < bk; j++) {
      let key = min(k0 + j, p.sk - 1u);
      let kb = k_base + key * k_ss4;
      var dot4: array<vec4<f32>, QPI>;
      for (var r = 0u; r < QPI; r++) { dot4[r] = vec4<f32>(0.0); }
      for (var d = 0u; d < hd4; d++) {
//#if STAGE
        let kv = ks[j * HD4 + d];
//#else
        let kv = vec4<f32>(k[kb + d]);
//#endif
        for (var r = 0u; r < QPI; r++) { dot4[r] = fma(qr[r][d], kv, dot4[r]); }
      }
      var add = 0.0;
//#if HAS_BIAS
      add += bias[b * p.bias_bs + key];
//#endif
      for (var r = 0u; r < QPI; r++) {
        var sc = dot4[r].x + dot4[r].y + dot4[r].z + dot4[r].w + add;
//#if HAS_MASK
        sc += mask[b * p.mask_bs + min(qi[r], p.sq - 1u) * p.sk + key];
//#endif
        let visible = k0 + j < p.sk && !(p.causal != 0u && k0 + j > qi[r]) && sc > MASKED;
        s[r][j] = select(NEG, sc, visible);
      }
    }
    // Online softmax, once per block: new max, rescale, probabilities (in place of the scores).
    for (var r = 0u; r < QPI; r++) {
      var mb = m[r];
      for (var j = 0u; j < bk; j++) { mb = max(mb, s[r][j]); }
      let alpha = exp(m[r] - mb);
      m[r] = mb;
      var lb = 0.0;
      for (var j = 0u; j < bk; j++) {
        let pr = select(0.0, exp(s[r][j] - mb), s[r][j] > MASKED);
        s[r][j] = pr;
        lb += pr;
      }
      l[r] = l[r] * alpha + lb;
      for (var d = 0u; d < hd4; d++) { acc[r][d] *= alpha; }
    }
    // P·V.
    for (var j = 0u; j < bk; j++) {
      let key = min(k0 + j, p.sk - 1u);
      let vb = v_base + key * v_ss4;
      for (var d = 0u; d < hd4; d++) {
//#if STAGE
        let vv = vs[j * HD4 + d];
//#else
        let vv = vec4<f32>(v[vb + d]);
//#endif
        for (var r = 0u; r < QPI; r++) { acc[r][d] = fma(vec4<f32>(s[r][j]), vv, acc[r][d]); }
      }
    }
  }

  for (var r = 0u; r < QPI; r++) {
    if (qi[r] < p.sq) {
      let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
      let obase = (p.o_off + b * p.o_bs + qi[r] * p.o_ss + h * {{HD}}u) / 4u;
      for (var d = 0u; d < hd4; d++) { out[obase + d] = vec4<{{T}}>(acc[r][d] * inv); }
    }
  }
}
