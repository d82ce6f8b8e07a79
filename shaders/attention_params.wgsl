// Snippet of the attention family: the params struct (view offsets and strides, sizes, scale), spliced by
// `//#include` into attention_flash.wgsl, attention_rows.wgsl and attention_naive.wgsl.

struct Params {
  q_off: u32, q_bs: u32, q_ss: u32,
  k_off: u32, k_bs: u32, k_ss: u32,
  v_off: u32, v_bs: u32, v_ss: u32,
  o_off: u32, o_bs: u32, o_ss: u32,
  batch: u32, heads: u32, sq: u32, sk: u32,
  q_blocks: u32, causal: u32, bias_bs: u32, mask_bs: u32,
  scale: f32,
  zero: u32,   // always 0: added to loop bounds under DYN_LOOPS so the compiler cannot fully unroll them
}
