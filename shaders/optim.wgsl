// Optimizer kernels over flat f32 buffers (training.md section 3), one thread per element of [start, start + count).
// Contract (engine/ops/optim.ts):
//   adamw: binding 0: Params (uniform); 1: param [*] f32 (read_write); 2: grad [*] f32; 3: m [*] f32 (read_write);
//     4: v [*] f32 (read_write); 5: norm [1] f32 (the global gradient L2 norm, read when clip > 0).
//     g' = g * s with s = min(1, clip / norm) when clip > 0 (llm.c's clipping folded into the update), then
//     m = b1 m + omb1 g'; v = b2 v + omb2 g'^2 (omb = 1 - b); mhat = m / bc1; vhat = v / bc2;
//     param -= lr (mhat / (sqrt(vhat) + eps) + wd param)   (decoupled weight decay, torch.optim.AdamW order).
//   ema: binding 0: Params; 1: ema [*] f32 (read_write); 2: param [*] f32; ema = decay ema + (1 - decay) param.
//   grid: ceil(count / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x).
// Preconditions: start + count <= the length of every binding; bc1 = 1 - b1^t and bc2 = 1 - b2^t for step t >= 1.
// Math in f32; the order of operations is fixed, so the same inputs give bit-identical results run to run.

// omb1 = 1 - b1, omb2 = 1 - b2 and omdecay = 1 - decay come from the host in float64 (1.0 - f32(0.999) in f32 is off by 1.3e-5 relative).
struct Params { start: u32, count: u32, lr: f32, b1: f32, b2: f32, omb1: f32, omb2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, clip: f32, decay: f32, omdecay: f32 }

@group(0) @binding(0) var<uniform> p: Params;

//#if ADAMW
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> norm: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = gid.x + gid.y * nwg.x * 256u;
  if (k >= p.count) { return; }
  let i = p.start + k;
  var s = 1.0;
  if (p.clip > 0.0) {
    let n = norm[0];
    if (n > p.clip) { s = p.clip / n; }
  }
  let g = grad[i] * s;
  let mi = p.b1 * m[i] + p.omb1 * g;
  let vi = p.b2 * v[i] + p.omb2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi / p.bc1;
  let vhat = vi / p.bc2;
  let w = param[i];
  param[i] = w - p.lr * (mhat / (sqrt(vhat) + p.eps) + p.wd * w);
}
//#else
@group(0) @binding(1) var<storage, read_write> ema: array<f32>;
@group(0) @binding(2) var<storage, read> param: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = gid.x + gid.y * nwg.x * 256u;
  if (k >= p.count) { return; }
  let i = p.start + k;
  ema[i] = p.decay * ema[i] + p.omdecay * param[i];
}
//#endif
