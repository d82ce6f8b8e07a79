// Naive attention: one thread per (batch, head, query), two passes over the keys (max, then exp-sum and P·V),
// scalar loads. Slow but simple and always correct: the reference variant, and the fallback for unaligned layouts.
// Contract: as shaders/attention_flash.wgsl (same Params struct and bindings) except the storage arrays are
//   array<T> (no vec4, so offsets and strides need no alignment) and the grid is
//   ceil(batch * heads * Sq / 64) workgroups of 64, folded 2-D; thread id = ((b * heads) + h) * Sq + i.
// Masking: logits <= -1e30 (e.g. -inf) are skipped; causal hides key j > query i; a fully masked row outputs 0.
// Defines: ZERO ('p.zero' for runtime loop bounds: LLVM-based CPU adapters compile fully unrolled loops very
//   slowly; '0u' elsewhere), T (f32 | f16), HD (any head dim), HAS_BIAS, HAS_MASK, HAS_LSE (+ LSE_BINDING: also write
//   the row's log-sum-exp m + log(l) to lse[(b * heads + h) * Sq + i], -3e38 for a fully masked row).

//#include attention_params

const HD: u32 = {{HD}}u;
const NEG: f32 = -3.0e38;
const MASKED: f32 = -1.0e30;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<{{T}}>;
@group(0) @binding(2) var<storage, read> k: array<{{T}}>;
@group(0) @binding(3) var<storage, read> v: array<{{T}}>;
//#if HAS_BIAS
//#if HAS_MASK
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<{{T}}>;
//#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<{{T}}>;
//#endif
//#elif HAS_MASK
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<{{T}}>;
//#else
@group(0) @binding(4) var<storage, read_write> out: array<{{T}}>;
//#endif
//#if HAS_LSE
@group(0) @binding({{LSE_BINDING}}) var<storage, read_write> lse: array<f32>;
//#endif

fn logit(hd: u32, b: u32, h: u32, qi: u32, j: u32, q_base: u32) -> f32 {
  let k_base = p.k_off + b * p.k_bs + j * p.k_ss + h * HD;
  var s = 0.0;
  for (var d = 0u; d < hd; d++) { s += f32(q[q_base + d]) * f32(k[k_base + d]); }
  s *= p.scale;
//#if HAS_BIAS
  s += bias[b * p.bias_bs + j];
//#endif
//#if HAS_MASK
  s += mask[b * p.mask_bs + qi * p.sk + j];
//#endif
  let visible = !(p.causal != 0u && j > qi) && s > MASKED;
  return select(NEG, s, visible);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let hd = HD + {{ZERO}};
  let id = (wid.x + wid.y * nwg.x) * 64u + li;
  if (id >= p.batch * p.heads * p.sq) { return; }
  let qi = id % p.sq;
  let bh = id / p.sq;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let q_base = p.q_off + b * p.q_bs + qi * p.q_ss + h * HD;

  var m = NEG;
  for (var j = 0u; j < p.sk; j++) { m = max(m, logit(hd, b, h, qi, j, q_base)); }

  var acc: array<f32, HD>;
  for (var d = 0u; d < hd; d++) { acc[d] = 0.0; }
  var l = 0.0;
  for (var j = 0u; j < p.sk; j++) {
    let s = logit(hd, b, h, qi, j, q_base);
    if (s > MASKED) {
      let pr = exp(s - m);
      l += pr;
      let v_base = p.v_off + b * p.v_bs + j * p.v_ss + h * HD;
      for (var d = 0u; d < hd; d++) { acc[d] += pr * f32(v[v_base + d]); }
    }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let o_base = p.o_off + b * p.o_bs + qi * p.o_ss + h * HD;
  for (var d = 0u; d < hd; d++) { out[o_base + d] = {{T}}(acc[d] * inv); }
//#if HAS_LSE
  lse[bh * p.sq + qi] = select(NEG, m + log(max(l, 1e-30)), l > 0.0);
//#endif
}
