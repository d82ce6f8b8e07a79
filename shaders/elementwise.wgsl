// Elementwise kernels: out[i] = EXPR(x, y, z) with x = a[i], y = b[i % nb], z = c[i % nc].
// Contract (engine/ops/elementwise.ts):
//   binding 0: Params { n, nb, nc, alpha, beta } (uniform)
//   binding 1: a [n] TA; binding 2: b [nb] TB (ARITY >= 2); binding 3: c [nc] TC (ARITY 3); last: out [n] TO
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Preconditions: nb and nc divide n (trailing broadcast); math in f32 whatever the storage types.
// Defines: TA, TB, TC, TO (f32 | f16), ARITY (1 | 2 | 3), EXPR (WGSL expression in x, y, z, p.alpha, p.beta).

struct Params { n: u32, nb: u32, nc: u32, alpha: f32, beta: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<{{TA}}>;
//#if ARITY2
@group(0) @binding(2) var<storage, read> b: array<{{TB}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{TO}}>;
//#elif ARITY3
@group(0) @binding(2) var<storage, read> b: array<{{TB}}>;
@group(0) @binding(3) var<storage, read> c: array<{{TC}}>;
@group(0) @binding(4) var<storage, read_write> out: array<{{TO}}>;
//#else
@group(0) @binding(2) var<storage, read_write> out: array<{{TO}}>;
//#endif

fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn gelu_tanh(x: f32) -> f32 {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.n) { return; }
  let x = f32(a[i]);
//#if ARITY2
  let y = f32(b[i % p.nb]);
  let z = 0.0;
//#elif ARITY3
  let y = f32(b[i % p.nb]);
  let z = f32(c[i % p.nc]);
//#else
  let y = 0.0;
  let z = 0.0;
//#endif
  out[i] = {{TO}}({{EXPR}});
}
