// Sinusoidal timestep embedding (Vchitect / diffusers get_timestep_embedding with flip_sin_to_cos, shift 0):
//   half = dim / 2, e_i = exp(-ln(max_period) * i / half), a_i = f32(t[b] * e_i) (f32 like PyTorch)
//   out[b, i] = cos(a_i) for i < half, out[b, half + i] = sin(a_i)   (cos first)
// cos/sin run on the argument reduced to [-pi, pi] with a 3-part Cody-Waite 2*pi (exact for |a| < 2^13*pi),
// since WGSL only bounds their error inside [-pi, pi].
// Contract (engine/ops/timestep-embedding.ts):
//   binding 0: Params { n (= B*dim), half, neg_log_period_over_half (= -ln(max_period)/half) }
//   binding 1: t [B] TI (timesteps); binding 2: out [B, dim] T
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Defines: TI (f32 | f16 | u32 | i32), T (f32 | f16). dim must be even.

struct Params { n: u32, half: u32, k: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> t: array<{{TI}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

// a - k*2pi in [-pi, pi] (Cody-Waite: 6.28125 + 0.0019350051879882812 + 3.0199160e-7 = 2pi to 7e-15).
fn reduce_2pi(a: f32) -> f32 {
  let k = round(a * 0.15915493667125702);
  return ((a - k * 6.28125) - k * 0.0019350051879882812) - k * 3.019916050561733e-7;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
  let dim = 2u * p.half;
  let b = o / dim;
  let j = o % dim;
  let i = select(j, j - p.half, j >= p.half);
  let a = reduce_2pi(f32(t[b]) * exp(p.k * f32(i)));
  out[o] = {{T}}(select(cos(a), sin(a), j >= p.half));
}
