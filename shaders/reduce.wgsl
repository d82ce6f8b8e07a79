// Segmented reductions: out[s] = POST(COMBINE over i in segment s of PRE(x[i])) for contiguous segments of segV loads.
// Row reductions use segments = rows; full reductions run this twice (chunk partials, then one segment of them).
// Contract (engine/ops/reduce.ts):
//   binding 0: Params { nv, segV, segs, scale } (uniform): nv loads in all, segments [s*segV, min((s+1)*segV, nv)),
//     scale multiplies the result (1/count for mean).
//   binding 1: x [nv * VEC] T; binding 2: out [segs] TO
//   grid: ceil(segs / ROWS) workgroups of ROWS * TPR threads (TPR threads per segment), folded 2-D.
// Defines: T, TO (f32 | f16), VEC (1 | 4, needs the element count % 4 == 0 and segment length % 4 == 0), ROWS, TPR,
//   MAX (combine by max, else sum), SQUARE (PRE = x^2, else x), SQRT (POST = sqrt(scale * r), else scale * r),
//   SUBGROUP (segment reduction by subgroup shuffles, see shaders/norm.wgsl for the layout it needs).
//   SEGTABLE (sum-of-squares norms of many tensors in one flat buffer, engine/ops/reduce.ts segmentNorms): segment s
//     is [seg[s].x, seg[s].y) in loads with seg[s].z its output index and seg[s].w & 1 set for a final value:
//     out[z] = sqrt(scale * r) (binding 2, the norms) when final, else part[z] = scale * r (binding 4, partials for
//     the next pass); binding 3: seg [segs] vec4u. The per-element math and the lane tree are the plain mode's, so a
//     segment gives the same bits as reducing it alone.
// Math in f32; empty segments give 0 for sums and -3.4e38 for max.

//#if SUBGROUP
enable subgroups;
//#endif

struct Params { nv: u32, segV: u32, segs: u32, scale: f32 }

//#if VEC4
alias VS = vec4<{{T}}>;
alias VF = vec4f;
fn hsum(v: VF) -> f32 { return v.x + v.y + v.z + v.w; }
fn hmax(v: VF) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
//#else
alias VS = {{T}};
alias VF = f32;
fn hsum(v: VF) -> f32 { return v; }
fn hmax(v: VF) -> f32 { return v; }
//#endif

const ROWS = {{ROWS}}u;
const TPR = {{TPR}}u;
const WG = ROWS * TPR;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VS>;
@group(0) @binding(2) var<storage, read_write> out: array<{{TO}}>;
//#if SEGTABLE
@group(0) @binding(3) var<storage, read> seg_table: array<vec4u>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
//#endif

//#if !SUBGROUP
var<workgroup> sh: array<f32, WG>;
//#endif

//#if MAX
const IDENTITY = -3.4028234e38;
fn combine(a: f32, b: f32) -> f32 { return max(a, b); }
fn fold(v: VF) -> f32 { return hmax(v); }
//#else
const IDENTITY = 0.0;
fn combine(a: f32, b: f32) -> f32 { return a + b; }
fn fold(v: VF) -> f32 { return hsum(v); }
//#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let slot = li / TPR;
  let lane = li % TPR;
  let seg = (wid.x + wid.y * nwg.x) * ROWS + slot;
  let valid = seg < p.segs;
//#if SEGTABLE
  let entry = seg_table[min(seg, p.segs - 1u)];
  let start = entry.x;
  let end = select(start, entry.y, valid);
//#else
  let start = seg * p.segV;
  let end = select(start, min(start + p.segV, p.nv), valid);
//#endif
  var acc = IDENTITY;
  for (var i = start + lane; i < end; i += TPR) {
    var v = VF(x[i]);
//#if SQUARE
    v = v * v;
//#endif
    acc = combine(acc, fold(v));
  }
//#if SUBGROUP
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    acc = combine(acc, subgroupShuffleXor(acc, s));
  }
  let r = acc;
//#else
  sh[li] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { sh[li] = combine(sh[li], sh[li + s]); }
    workgroupBarrier();
  }
  let r = sh[li];
//#endif
  if (lane == 0u && valid) {
//#if SEGTABLE
    if ((entry.w & 1u) != 0u) {
      out[entry.z] = {{TO}}(sqrt(p.scale * r));
    } else {
      part[entry.z] = p.scale * r;
    }
//#elif SQRT
    out[seg] = {{TO}}(sqrt(p.scale * r));
//#else
    out[seg] = {{TO}}(p.scale * r);
//#endif
  }
}
