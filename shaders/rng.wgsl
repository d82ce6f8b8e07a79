// Counter-based random numbers: Philox4x32-10 (Salmon et al. 2011, Random123) keyed by a 64-bit seed.
// Element e (global index g = offset + e, a u64 as two u32 words) draws (r0, r1, r2, r3) =
// philox4x32_10(counter = (g_lo, g_hi, 0, 0), key = (seed_lo, seed_hi)) and uses:
//   u1 = f32(2*(r0 >> 9) + 1) * 2^-24, u2 = f32(2*(r1 >> 9) + 1) * 2^-24   (exact in f32, both in (0, 1))
//   RANDN:   z = sqrt(-2 ln u1) * cos(pi * (2 u2 - 1));  out = mean + std * z
//   UNIFORM: out = mean + std * u1
//   BITS:    out[4e + k] = r_k (u32 output, 4 words per element; for exactness tests)
// So a tensor generated whole equals the concatenation of its shards generated with offsets.
// Contract (engine/ops/random.ts):
//   binding 0: Params { n, off_lo, off_hi, key0, key1, mean, sdev } (uniform); binding 1: out [n] T (BITS: [4n] u32)
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Defines: T (f32 | f16), one of RANDN | UNIFORM | BITS.

struct Params { n: u32, off_lo: u32, off_hi: u32, key0: u32, key1: u32, mean: f32, sdev: f32 }

@group(0) @binding(0) var<uniform> p: Params;
//#if BITS
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
//#else
@group(0) @binding(1) var<storage, read_write> out: array<{{T}}>;
//#endif

// (hi, lo) words of the 64-bit product a * b, from 16-bit halves (WGSL has no u64).
fn mulhilo(a: u32, b: u32) -> vec2u {
  let al = a & 0xffffu; let ah = a >> 16u;
  let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let lh = al * bh; let hl = ah * bl; let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2u(hi, a * b);
}

fn philox4x32_10(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2u(0x9E3779B9u, 0xBB67AE85u); }
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

fn unit(r: u32) -> f32 { return f32(2u * (r >> 9u) + 1u) * 5.9604644775390625e-8; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + li;
  if (e >= p.n) { return; }
  let g_lo = p.off_lo + e;
  let g_hi = p.off_hi + select(0u, 1u, g_lo < e);
  let r = philox4x32_10(vec4u(g_lo, g_hi, 0u, 0u), vec2u(p.key0, p.key1));
//#if BITS
  out[4u * e] = r.x; out[4u * e + 1u] = r.y; out[4u * e + 2u] = r.z; out[4u * e + 3u] = r.w;
//#elif UNIFORM
  out[e] = {{T}}(p.mean + p.sdev * unit(r.x));
//#else
  let z = sqrt(-2.0 * log(unit(r.x))) * cos(3.14159265358979 * (2.0 * unit(r.y) - 1.0));
  out[e] = {{T}}(p.mean + p.sdev * z);
//#endif
}
