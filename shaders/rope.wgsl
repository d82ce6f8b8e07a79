// Rotary position embedding with interleaved pairs (Vchitect / LLaMA complex form): for each pair
// (x[2j], x[2j+1]) of every head (channel c = h*hd + 2j + {0,1}), with a = f32(pos * freq[j]):
//   out[2j] = x[2j] cos a - x[2j+1] sin a,  out[2j+1] = x[2j] sin a + x[2j+1] cos a.
// x is viewed as [outer, npos, inner, D] (D = H*hd the last axis, npos the position axis); the position of a row
// is pos[(row / inner) % npos]. freq [hd/2] f32 comes from the host (theta^(-2j/hd) in float64, rounded to f32);
// the angle product is f32 like PyTorch's; cos/sin take it reduced to [-pi, pi] (3-part Cody-Waite 2*pi).
// Contract (engine/ops/rope.ts):
//   binding 0: Params { npairs (= numel/2), half_d (= D/2), half_hd (= hd/2), inner, npos }
//   binding 1: x [.., D] vec2<T> (read_write when INPLACE); binding 2: pos [npos] TP; binding 3: freq [hd/2] f32;
//   binding 4: out (absent when INPLACE)
//   grid: ceil(npairs / 256) workgroups of 256 (one thread per pair), folded into 2-D.
//   ROWS (variant rope_rows, CPU adapters): one thread per row of D channels, grid ceil(rows / 64) workgroups of 64;
//   the row's position is found by division once, and each pair's cos/sin once per j for all heads (the angle
//   depends on the position and j only): the same arithmetic per pair, so the same bits, without per-pair division
//   (llvmpipe runs u32 division lane by lane) and with 1/H of the trigonometry.
// Defines: T (f32 | f16), TP (u32 | i32 | f32), INPLACE, INVERSE (rotate by -a: the backward, R^T dy), ROWS.

struct Params { npairs: u32, half_d: u32, half_hd: u32, inner: u32, npos: u32 }

@group(0) @binding(0) var<uniform> p: Params;
//#if INPLACE
@group(0) @binding(1) var<storage, read_write> x: array<vec2<{{T}}>>;
//#else
@group(0) @binding(1) var<storage, read> x: array<vec2<{{T}}>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec2<{{T}}>>;
//#endif
@group(0) @binding(2) var<storage, read> pos: array<{{TP}}>;
@group(0) @binding(3) var<storage, read> freq: array<f32>;

fn reduce_2pi(a: f32) -> f32 {
  let k = round(a * 0.15915493667125702);
  return ((a - k * 6.28125) - k * 0.0019350051879882812) - k * 3.019916050561733e-7;
}

//#if ROWS
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + li;
  if (row >= p.npairs / p.half_d) { return; }
  let ps = f32(pos[(row / p.inner) % p.npos]);
  let heads = p.half_d / p.half_hd;
  for (var j = 0u; j < p.half_hd; j++) {
    let a = reduce_2pi(ps * freq[j]);
    let c = cos(a);
//#if INVERSE
    let s = -sin(a);
//#else
    let s = sin(a);
//#endif
    var q = row * p.half_d + j;
    for (var h = 0u; h < heads; h++) {
      let v = vec2f(x[q]);
      let r = vec2<{{T}}>(vec2f(v.x * c - v.y * s, v.x * s + v.y * c));
//#if INPLACE
      x[q] = r;
//#else
      out[q] = r;
//#endif
      q += p.half_hd;
    }
  }
}
//#else
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q = (wid.x + wid.y * nwg.x) * 256u + li;
  if (q >= p.npairs) { return; }
  let row = q / p.half_d;
  let j = (q % p.half_d) % p.half_hd;
  let a = reduce_2pi(f32(pos[(row / p.inner) % p.npos]) * freq[j]);
  let c = cos(a);
//#if INVERSE
  let s = -sin(a);
//#else
  let s = sin(a);
//#endif
  let v = vec2f(x[q]);
  let r = vec2<{{T}}>(vec2f(v.x * c - v.y * s, v.x * s + v.y * c));
//#if INPLACE
  x[q] = r;
//#else
  out[q] = r;
//#endif
}
//#endif
