// Elementwise kernels: out[i] = EXPR(x, y, z) with x = a[i], y = b[i % nb], z = c[i % nc].
// Contract (engine/ops/elementwise.ts):
//   binding 0: Params { n, nb, nc, alpha, beta } (uniform)
//   binding 1: a [n] TA; binding 2: b [nb] TB (ARITY >= 2); binding 3: c [nc] TC (ARITY 3); last: out [n] TO
//   grid: ceil(n / (256 * W)) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x), W = 4 with
//   VEC4 (each thread handles 4 consecutive elements; n, nb, nc then count vec4s) else 1.
// Preconditions: nb and nc divide n (trailing broadcast); with VEC4 all three are multiples of 4.
// Math in f32 whatever the storage types.
// Defines: TA, TB, TC, TO (f32 | f16), ARITY2 / ARITY3 (else unary), VEC4, EXPR (WGSL expression in x, y, z,
// p.alpha, p.beta; with VEC4 x, y, z are vec4<f32>).

struct Params { n: u32, nb: u32, nc: u32, alpha: f32, beta: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<{{VTA}}>;
//#if ARITY2
@group(0) @binding(2) var<storage, read> b: array<{{VTB}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{VTO}}>;
//#elif ARITY3
@group(0) @binding(2) var<storage, read> b: array<{{VTB}}>;
@group(0) @binding(3) var<storage, read> c: array<{{VTC}}>;
@group(0) @binding(4) var<storage, read_write> out: array<{{VTO}}>;
//#else
@group(0) @binding(2) var<storage, read_write> out: array<{{VTO}}>;
//#endif

fn silu(x: {{F}}) -> {{F}} { return x / (1.0 + exp(-x)); }
fn gelu_tanh(x: {{F}}) -> {{F}} {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), {{F}}(-15.0), {{F}}(15.0));
  return 0.5 * x * (1.0 + tanh(u));
}
// Derivatives (backward ops): silu' = s (1 + x (1 - s)); gelu_tanh' = 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x).
fn silu_grad(x: {{F}}) -> {{F}} {
  let s = 1.0 / (1.0 + exp(-x));
  return s * (1.0 + x * (1.0 - s));
}
fn gelu_tanh_grad(x: {{F}}) -> {{F}} {
  let t = tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), {{F}}(-15.0), {{F}}(15.0)));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}
// clamp to [alpha, beta] as min(max(., alpha), beta); its gradient passes dy where alpha <= x <= beta.
fn clamp_ab(x: {{F}}) -> {{F}} { return min(max(x, {{F}}(p.alpha)), {{F}}(p.beta)); }
fn clamp_grad(x: {{F}}, dy: {{F}}) -> {{F}} { return select({{F}}(0.0), dy, (x >= {{F}}(p.alpha)) & (x <= {{F}}(p.beta))); }
fn quick_gelu(x: {{F}}) -> {{F}} { return x / (1.0 + exp(-1.702 * x)); }
// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), odd extension.
fn erf_as(x: {{F}}) -> {{F}} {
  let ax = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(x) * (1.0 - poly * exp(-ax * ax));
}
fn gelu_erf(x: {{F}}) -> {{F}} { return 0.5 * x * (1.0 + erf_as(x * 0.7071067811865476)); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.n) { return; }
  let x = {{F}}(a[i]);
//#if ARITY2
  let y = {{F}}(b[select(i % p.nb, i, p.nb == p.n)]);
  let z = {{F}}(0.0);
//#elif ARITY3
  let y = {{F}}(b[select(i % p.nb, i, p.nb == p.n)]);
  let z = {{F}}(c[select(i % p.nc, i, p.nc == p.n)]);
//#else
  let y = {{F}}(0.0);
  let z = {{F}}(0.0);
//#endif
  out[i] = {{VTO}}({{EXPR}});
}
