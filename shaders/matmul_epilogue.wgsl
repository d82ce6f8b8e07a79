// Snippet of the matmul family (activations and the fused epilogue: bias, GELU-tanh / SiLU, gated residual),
// spliced by `//#include` into every matmul variant. p.act: 0 none, 1 GELU-tanh, 2 SiLU.
// It uses the including kernel's defines and its params struct `p`.

fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn gelu_tanh(x: f32) -> f32 {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}

fn epilogue(acc: f32, m: u32, n: u32, z: u32) -> f32 {
  var v = acc;
//#if HAS_BIAS
  v += f32(bias[n]);
//#endif
  // The activation is a runtime flag (uniform across the dispatch, so the branch is free): one pipeline fewer
  // per activation.
  if (p.act == 1u) {
    v = gelu_tanh(v);
  } else if (p.act == 2u) {
    v = silu(v);
  }
//#if HAS_RES
//#if HAS_GATE
  v *= f32(gate[((m + p.m_base) / p.gate_rows) * p.N + n]);
//#endif
  v += f32(res[z * p.c_bs + m * p.N + n]);
//#endif
  return v;
}
