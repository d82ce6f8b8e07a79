// GroupNorm over x [N, C, S] (S = H*W, channels of a group contiguous), fused affine and optional SiLU, in three
// stages so it scales to large S (the VAE decoder: C = 512, S = 432*768):
//   STATS:   one workgroup per (group, chunk): Chan/Welford partials {n, mean, M2} of chunkV loads of one group.
//   COMBINE: one workgroup per group: merges the group's chunk partials, writes {mean, rstd}.
//   APPLY:   y = (x - mean) * a + b[c] with a = rstd * w[c] per plane, then SiLU when SILU.
// Contract (engine/ops/groupnorm.ts):
//   binding 0: Params { groupLenV, chunkV, chunks, groups, s, c, cpg, totalV, eps, count } (uniform); lengths in loads
//     (VEC elements): groupLenV = cpg*S/VEC, chunkV loads per STATS workgroup, chunks per group, groups = N*G,
//     totalV = N*C*S/VEC, count = cpg*S (elements per group, f32).
//   STATS:   binding 1: x [N*C*S] T, binding 2: partials [groups*chunks] vec4f {n, mean, M2, 0}
//   COMBINE: binding 1: partials, binding 2: stats [groups] vec2f {mean, rstd}
//   APPLY:   binding 1: x, binding 2: stats, binding 3: weight [C] TW (AFFINE), binding 4: bias [C] TW (AFFINE),
//            last: out [N*C*S] T
//   grid: STATS groups*chunks and COMBINE groups workgroups of WG; APPLY [ceil(S / VEC / 2048), N*C planes] of 256
//     threads, 8 loads each (or FLAT); all folded 2-D.
// Preconditions: VEC = 4 needs cpg*S % 4 == 0 for STATS and S % 4 == 0 for APPLY. Variance biased, stats in f32.
// Defines: STATS | COMBINE | APPLY, T, TW (f32 | f16), VEC (1 | 4), WG, AFFINE, SILU, FLAT (APPLY for small planes:
//   grid ceil(totalV / 2048) folded 2-D, channel computed per load).

struct Params { groupLenV: u32, chunkV: u32, chunks: u32, groups: u32, s: u32, c: u32, cpg: u32, totalV: u32, eps: f32, count: f32 }

//#if VEC4
alias VS = vec4<{{T}}>;
alias VW = vec4<{{TW}}>;
alias VF = vec4f;
fn hsum(v: VF) -> f32 { return v.x + v.y + v.z + v.w; }
//#else
alias VS = {{T}};
alias VW = {{TW}};
alias VF = f32;
fn hsum(v: VF) -> f32 { return v; }
//#endif

const WG = {{WG}}u; // STATS / COMBINE threads (a power of two)
const APPLY_WG = 256u;
const APPLY_LOADS = 8u; // loads per APPLY thread

@group(0) @binding(0) var<uniform> p: Params;

// Running statistics {n, mean, M2} merged with Chan's formula (stable for large means).
struct Stat { n: f32, mean: f32, m2: f32 }
fn merge(a: Stat, b: Stat) -> Stat {
  let nn = a.n + b.n;
  if (b.n == 0.0) { return a; }
  let delta = b.mean - a.mean;
  let f = b.n / nn;
  return Stat(nn, a.mean + delta * f, a.m2 + b.m2 + delta * delta * a.n * f);
}

//#if !APPLY
var<workgroup> sh: array<Stat, WG>;
// Tree merge of the workgroup's WG per-thread stats; the result is in sh[0].
fn reduceWorkgroup(li: u32, s: Stat) {
  sh[li] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (li < k) { sh[li] = merge(sh[li], sh[li + k]); }
    workgroupBarrier();
  }
}
//#endif

//#if STATS
@group(0) @binding(1) var<storage, read> x: array<VS>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let w = wid.x + wid.y * nwg.x;
  let valid = w < p.groups * p.chunks;
  let grp = w / p.chunks;
  let ch = w % p.chunks;
  let start = ch * p.chunkV;
  let end = select(0u, min(start + p.chunkV, p.groupLenV), valid);
  let base = grp * p.groupLenV;
  var s = Stat(0.0, 0.0, 0.0);
  for (var i = start + li; i < end; i += WG) {
    let v = VF(x[base + i]);
    let nb = f32({{VEC}});
    let mb = hsum(v) / nb;
    let dv = v - VF(mb);
    s = merge(s, Stat(nb, mb, hsum(dv * dv)));
  }
  reduceWorkgroup(li, s);
  if (li == 0u && valid) {
    let r = sh[0];
    partials[w] = vec4f(r.n, r.mean, r.m2, 0.0);
  }
}
//#endif

//#if COMBINE
@group(0) @binding(1) var<storage, read> partials: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> stats: array<vec2f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let grp = wid.x + wid.y * nwg.x;
  let valid = grp < p.groups;
  var s = Stat(0.0, 0.0, 0.0);
  let n = select(0u, p.chunks, valid);
  for (var i = li; i < n; i += WG) {
    let q = partials[grp * p.chunks + i];
    s = merge(s, Stat(q.x, q.y, q.z));
  }
  reduceWorkgroup(li, s);
  if (li == 0u && valid) {
    let r = sh[0];
    stats[grp] = vec2f(r.mean, inverseSqrt(max(r.m2, 0.0) / p.count + p.eps));
  }
}
//#endif

//#if APPLY
@group(0) @binding(1) var<storage, read> x: array<VS>;
@group(0) @binding(2) var<storage, read> stats: array<vec2f>;
//#if AFFINE
@group(0) @binding(3) var<storage, read> weight: array<{{TW}}>;
@group(0) @binding(4) var<storage, read> bias: array<{{TW}}>;
@group(0) @binding(5) var<storage, read_write> out: array<VS>;
//#else
@group(0) @binding(3) var<storage, read_write> out: array<VS>;
//#endif

//#if FLAT
// Small planes (S / VEC < 512): one flat range of APPLY_WG * APPLY_LOADS loads per workgroup, channel per load.
@compute @workgroup_size(APPLY_WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let first = (wid.x + wid.y * nwg.x) * (APPLY_WG * APPLY_LOADS) + li;
  let end = min(first + APPLY_WG * APPLY_LOADS, p.totalV);
  for (var i = first; i < end; i += APPLY_WG) {
    let plane = (i * {{VEC}}u) / p.s;
    let c = plane % p.c;
    let st = stats[(plane / p.c) * (p.c / p.cpg) + c / p.cpg];
    var y = (VF(x[i]) - VF(st.x)) * st.y;
//#if AFFINE
    y = y * f32(weight[c]) + f32(bias[c]);
//#endif
//#if SILU
    y = y / (VF(1.0) + exp(-y));
//#endif
    out[i] = VS(y);
  }
}
//#else
@compute @workgroup_size(APPLY_WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  // Workgroup (x, y) covers APPLY_WG * APPLY_LOADS loads of one (item, channel) plane: no per-element
  // integer division (CPU adapters scalarise it), and neighbouring threads read neighbouring loads.
  let plane = wid.y;
  let sv = p.s / {{VEC}}u;
  if (plane * sv >= p.totalV) { return; }
  let c = plane % p.c;
  let st = stats[(plane / p.c) * (p.c / p.cpg) + c / p.cpg];
//#if AFFINE
  let a = st.y * f32(weight[c]);
  let b0 = f32(bias[c]);
//#else
  let a = st.y;
  let b0 = 0.0;
//#endif
  let base = plane * sv;
  let first = wid.x * (APPLY_WG * APPLY_LOADS) + li;
  let end = min(first + APPLY_WG * APPLY_LOADS, sv);
  for (var i = first; i < end; i += APPLY_WG) {
    var y = (VF(x[base + i]) - VF(st.x)) * a + VF(b0);
//#if SILU
    y = y / (VF(1.0) + exp(-y));
//#endif
    out[base + i] = VS(y);
  }
}
//#endif
//#endif
