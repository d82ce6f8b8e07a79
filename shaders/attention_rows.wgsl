// Row attention for short key sequences (temporal attention: Sk = frames <= ~64): one thread per
// (batch, head, query) holds its query row and output accumulator in registers and streams the keys straight from
// global memory one at a time with an online softmax. Neighbouring threads share (batch, head), so each key row
// is read by many threads at once (cache / broadcast); no workgroup memory, no barriers.
// Contract: as shaders/attention_flash.wgsl (same Params struct, bindings array<vec4<T>>, masking rules, fully
//   masked row -> 0) with grid ceil(batch * heads * Sq / 64) workgroups of 64, folded 2-D;
//   thread id = ((b * heads) + h) * Sq + i.
// Preconditions: HD % 4 == 0, every offset and stride a multiple of 4.
// Defines: ZERO ('p.zero' for runtime loop bounds: LLVM-based CPU adapters compile fully unrolled loops very
//   slowly; '0u' elsewhere), T (f32 | f16), HD, HAS_BIAS, HAS_MASK, HAS_LSE (+ LSE_BINDING: also write the row's
//   log-sum-exp m + log(l) to lse[(b * heads + h) * Sq + i], -3e38 for a fully masked row).

//#include attention_params

const HD4: u32 = {{HD}}u / 4u;
const NEG: f32 = -3.0e38;
const MASKED: f32 = -1.0e30;

//#include attention_bindings

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let hd4 = HD4 + {{ZERO}};
  let id = (wid.x + wid.y * nwg.x) * 64u + li;
  if (id >= p.batch * p.heads * p.sq) { return; }
  let qi = id % p.sq;
  let bh = id / p.sq;
  let h = bh % p.heads;
  let b = bh / p.heads;

  let q_base = (p.q_off + b * p.q_bs + qi * p.q_ss + h * {{HD}}u) / 4u;
  var qr: array<vec4<f32>, HD4>;
  var acc: array<vec4<f32>, HD4>;
  for (var d = 0u; d < hd4; d++) {
    qr[d] = vec4<f32>(q[q_base + d]) * p.scale;
    acc[d] = vec4<f32>(0.0);
  }
  let k_base = (p.k_off + b * p.k_bs + h * {{HD}}u) / 4u;
  let v_base = (p.v_off + b * p.v_bs + h * {{HD}}u) / 4u;
  let k_ss4 = p.k_ss / 4u;
  let v_ss4 = p.v_ss / 4u;
  var k_end = p.sk;
  if (p.causal != 0u) { k_end = min(p.sk, qi + 1u); }

  var m = NEG;
  var l = 0.0;
  for (var key = 0u; key < k_end; key++) {
    var dot4 = vec4<f32>(0.0);
    let kb = k_base + key * k_ss4;
    for (var d = 0u; d < hd4; d++) { dot4 += qr[d] * vec4<f32>(k[kb + d]); }
    var s = dot4.x + dot4.y + dot4.z + dot4.w;
//#if HAS_BIAS
    s += bias[b * p.bias_bs + key];
//#endif
//#if HAS_MASK
    s += mask[b * p.mask_bs + qi * p.sk + key];
//#endif
    if (s > MASKED) {
      let m_new = max(m, s);
      let alpha = exp(m - m_new);
      let pr = exp(s - m_new);
      m = m_new;
      l = l * alpha + pr;
      let vb = v_base + key * v_ss4;
      for (var d = 0u; d < hd4; d++) { acc[d] = acc[d] * alpha + pr * vec4<f32>(v[vb + d]); }
    }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let o_base = (p.o_off + b * p.o_bs + qi * p.o_ss + h * {{HD}}u) / 4u;
  for (var d = 0u; d < hd4; d++) { out[o_base + d] = vec4<{{T}}>(acc[d] * inv); }
//#if HAS_LSE
  lse[bh * p.sq + qi] = select(NEG, m + log(max(l, 1e-30)), l > 0.0);
//#endif
}
