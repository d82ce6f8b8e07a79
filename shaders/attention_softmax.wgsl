// Softmax step of the attention matmul route (attention_matmul in engine/ops/attention.ts): in place on the f32
// scores S[h, i, j] = q_i·k_j of one query batch b (QK^T done by the matmul op), writes the probabilities
// softmax_j(S * scale + bias[b, j] + mask[b, i, j]) with the attention masking rules: a logit <= -1e30 (e.g. -inf)
// hides the key, causal hides j > i, a row whose keys are all hidden becomes all 0 (never NaN).
// Contract:
//   binding 0: Params { rows (= heads * sq), sq, sk, causal, bias_off (= b * bias batch stride), mask_off
//   (= b * mask batch stride), scale: f32, zero } (uniform); binding 1: scores f32 [rows, sk] (read_write);
//   then bias f32 (HAS_BIAS), mask f32 (HAS_MASK).
//   grid: ceil(rows / 64) workgroups of 64, folded 2-D (linear id = wid.x + wid.y * nwg.x); thread = one row,
//   query index i = row % sq.
// Defines: HAS_BIAS, HAS_MASK.

struct Params { rows: u32, sq: u32, sk: u32, causal: u32, bias_off: u32, mask_off: u32, scale: f32, zero: u32 }

const NEG: f32 = -3.0e38;
const MASKED: f32 = -1.0e30;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
//#if HAS_BIAS
//#if HAS_MASK
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
//#else
@group(0) @binding(2) var<storage, read> bias: array<f32>;
//#endif
//#elif HAS_MASK
@group(0) @binding(2) var<storage, read> mask: array<f32>;
//#endif

fn logit(row: u32, i: u32, j: u32) -> f32 {
  var x = s[row * p.sk + j] * p.scale;
//#if HAS_BIAS
  x += bias[p.bias_off + j];
//#endif
//#if HAS_MASK
  x += mask[p.mask_off + i * p.sk + j];
//#endif
  let visible = !(p.causal != 0u && j > i) && x > MASKED;
  return select(NEG, x, visible);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + li;
  if (row >= p.rows) { return; }
  let i = row % p.sq;
  var m = NEG;
  for (var j = 0u; j < p.sk; j++) { m = max(m, logit(row, i, j)); }
  var l = 0.0;
  for (var j = 0u; j < p.sk; j++) {
    let x = logit(row, i, j);
    let e = select(0.0, exp(x - m), x > MASKED);
    s[row * p.sk + j] = e;
    l += e;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var j = 0u; j < p.sk; j++) { s[row * p.sk + j] *= inv; }
}
