// Flash attention (tiled, online softmax): out = softmax(Q K^T * scale + bias + mask) V per (batch, head).
// Contract (engine/ops/attention.ts, docs/kernels/attention.md):
//   binding 0: Params (uniform, below; offsets and strides in ELEMENTS of the storage type)
//   binding 1: q, 2: k, 3: v (array<vec4<T>>, may be the same buffer); then bias [B?, Sk] f32 (HAS_BIAS),
//   mask [B?, Sq, Sk] f32 (HAS_MASK); last: out (array<vec4<T>>, must not alias an input)
//   element (b, s, h, d) of tensor X lives at X.off + b*X.bs + s*X.ss + h*HD + d
//   grid: batch * heads * ceil(Sq / BQ) workgroups of WG = BQ * HD/4 threads, folded 2-D (linear = wid.x +
//   wid.y*nwg.x), query block fastest so consecutive workgroups share one (batch, head)'s keys in cache.
// Per workgroup: BQ queries of one (b, h). Thread t owns query row r = t / HD4 and output column vec4 c = t % HD4,
// so its accumulator is ONE vec4 (no private arrays: good for GPUs and for LLVM-based CPU adapters). Key tiles of
// BK keys are staged in workgroup memory (f32); per tile: scores (thread c scores keys c, c+HD4, ... of its row)
// -> row max -> probabilities (per-thread partial sums l) -> P·V. Running max m per row, partial sums combined once
// at the end. Masking: a logit (after bias and mask) <= -1e30 (e.g. -inf) hides the key; causal hides key j > i.
// A row with every key masked outputs 0 (l = 0), never NaN.
// Preconditions: HD % 4 == 0, every offset and stride a multiple of 4.
// Defines: ZERO, T (f32 | f16 storage), HD, BQ, BK, WG (= BQ * HD/4), HAS_BIAS, HAS_MASK, HAS_LSE (+ LSE_BINDING: also
//   write the row's log-sum-exp m + log(l) to lse[(b * heads + h) * Sq + i], -3e38 for a fully masked row).

//#include attention_params

const HD4: u32 = {{HD}}u / 4u;
const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;
const NEG: f32 = -3.0e38;     // finite "minus infinity" for the running max
const MASKED: f32 = -1.0e30;  // logits at or below this are masked keys

//#include attention_bindings

var<workgroup> qs: array<vec4<f32>, BQ * HD4>;
var<workgroup> ks: array<vec4<f32>, BK * HD4>;
var<workgroup> vs: array<vec4<f32>, BK * HD4>;
var<workgroup> ss: array<f32, BQ * BK>;   // scores of the tile
var<workgroup> ps: array<f32, BQ * BK>;   // probabilities of the tile
var<workgroup> lsum: array<f32, {{WG}}>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let z = {{ZERO}};
  let hd4 = HD4 + z;
  let bk = BK + z;
  let g = wid.x + wid.y * nwg.x;
  // Overshoot workgroups of a folded grid exit as a whole (uniform), before any barrier.
  if (g >= p.batch * p.heads * p.q_blocks) { return; }
  let qb = g % p.q_blocks;
  let bh = g / p.q_blocks;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q0 = qb * BQ;
  let r = t / HD4;
  let c = t % HD4;
  let qi = q0 + r;
  let qrow = min(qi, p.sq - 1u);

  // Stage the (pre-scaled) query block: thread (r, c) loads its own vec4.
  var qx = vec4<f32>(0.0);
  if (qi < p.sq) { qx = vec4<f32>(q[(p.q_off + b * p.q_bs + qi * p.q_ss + h * {{HD}}u) / 4u + c]) * p.scale; }
  qs[t] = qx;

  var m = NEG;
  var l = 0.0;
  var acc = vec4<f32>(0.0);
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, q0 + BQ); }
  let k_base = (p.k_off + b * p.k_bs + h * {{HD}}u) / 4u;
  let v_base = (p.v_off + b * p.v_bs + h * {{HD}}u) / 4u;
  let k_ss4 = p.k_ss / 4u;
  let v_ss4 = p.v_ss / 4u;

  for (var k0 = 0u; k0 < k_end; k0 += BK) {
    workgroupBarrier();
    for (var e = t; e < BK * HD4; e += {{WG}}u) {
      let j = e / HD4;
      let d = e % HD4;
      var kx = vec4<f32>(0.0);
      var vx = vec4<f32>(0.0);
      if (k0 + j < p.sk) {
        kx = vec4<f32>(k[k_base + (k0 + j) * k_ss4 + d]);
        vx = vec4<f32>(v[v_base + (k0 + j) * v_ss4 + d]);
      }
      ks[e] = kx;
      vs[e] = vx;
    }
    workgroupBarrier();

    // Scores of this thread's keys j = c, c + HD4, ... of row r.
    for (var j = c; j < bk; j += HD4) {
      let key = k0 + j;
      var dot4 = vec4<f32>(0.0);
      for (var d = 0u; d < hd4; d++) { dot4 += qs[r * HD4 + d] * ks[j * HD4 + d]; }
      var s = dot4.x + dot4.y + dot4.z + dot4.w;
      let kk = min(key, p.sk - 1u);
//#if HAS_BIAS
      s += bias[b * p.bias_bs + kk];
//#endif
//#if HAS_MASK
      s += mask[b * p.mask_bs + qrow * p.sk + kk];
//#endif
      let visible = key < p.sk && !(p.causal != 0u && key > qi) && s > MASKED;
      ss[r * BK + j] = select(NEG, s, visible);
    }
    workgroupBarrier();

    var m_new = m;
    for (var j = 0u; j < bk; j++) { m_new = max(m_new, ss[r * BK + j]); }
    let alpha = exp(m - m_new);
    m = m_new;
    var lt = 0.0;
    for (var j = c; j < bk; j += HD4) {
      let s = ss[r * BK + j];
      let pr = select(0.0, exp(s - m_new), s > MASKED);
      lt += pr;
      ps[r * BK + j] = pr;
    }
    l = l * alpha + lt;
    acc *= alpha;
    workgroupBarrier();

    for (var j = 0u; j < bk; j++) { acc += ps[r * BK + j] * vs[j * HD4 + c]; }
  }

  // Each thread of a row holds a partial sum l over its keys (same running max): combine.
  lsum[t] = l;
  workgroupBarrier();
  var lrow = 0.0;
  for (var i = 0u; i < hd4; i++) { lrow += lsum[r * HD4 + i]; }
  if (qi < p.sq) {
    let inv = select(0.0, 1.0 / lrow, lrow > 0.0);
    out[(p.o_off + b * p.o_bs + qi * p.o_ss + h * {{HD}}u) / 4u + c] = vec4<{{T}}>(acc * inv);
//#if HAS_LSE
    if (c == 0u) { lse[bh * p.sq + qi] = select(NEG, m + log(max(lrow, 1e-30)), lrow > 0.0); }
//#endif
  }
}
