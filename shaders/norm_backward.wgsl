// Backward of the row normalisations of shaders/norm.wgsl (training.md section 2), in two kinds of pass:
// Contract (engine/ops/norm-backward.ts):
//   binding 0: Params { rows, d, eps, rowsPerItem, modStride, scaleOff, blockRows, blocksPerItem, nb, dElems }
//     d, modStride and scaleOff count loads (VEC elements), dElems = the row length in elements.
//   binding 1: x [rows, d] T; binding 2: dy [rows, d] TD; then, when defined: weight [d] TW (AFFINE_W),
//     bias [d] TW (AFFINE_B), scale (MOD: item b's D values at scaleOff + b * modStride) TM; then
//   PASS_DX: dx [rows, d] TD, and stats [rows, 2] f32 (STATS: mean and rstd of every row, for the partials pass).
//     grid: ceil(rows / ROWS) workgroups of ROWS * TPR threads, folded 2-D (linear id = wid.x + wid.y * nwg.x).
//     Statistics are recomputed in one pass over x shifted by the row's first element (no E[x^2] - E[x]^2
//     cancellation for rows with a large mean), the row sums reduced by a shared-memory tree; VEC = 4 loads when d
//     and the modulation offsets / strides are multiples of 4.
//     LN:  g = dy [* (1 + scale)] [* w]; dx = rstd (g - mean(g) - xhat mean(g xhat))
//     RMS: g = dy [* w];                 dx = rstd (g - x rstd^2 mean(g x))
//   PASS_PARTIALS: stats [rows, 2] f32 (read), partials [NQ, nb, d] f32: quantity q's block partials at q * nb * d.
//     Thread per column, a block of blockRows rows of one item added in row order (no atomics: deterministic).
//     Quantities (slot numbers Q_W, Q_B, Q_SCALE, Q_SHIFT given by defines): dweight = sum g' xhat,
//     dbias = sum g', dscale = sum dy (xhat w + b), dshift = sum dy, with g' = dy (1 + scale).
//     grid: (ceil(d / 64), nb) workgroups of 64. shaders/colsum.wgsl (FINISH) then adds the partials in order.
// Math in f32 whatever the storage. Preconditions: TPR a power of two; blocks never cross an item.
// Defines: T, TD, TW, TM (f32 | f16), VEC (1 | 4; PASS_PARTIALS runs with 1), ROWS, TPR, RMS, AFFINE_W, AFFINE_B, MOD, PASS_DX | PASS_PARTIALS, STATS,
//   B_W, B_B, B_SCALE, B_DX, B_STATS, B_PART (binding numbers), Q_W, Q_B, Q_SCALE, Q_SHIFT.

struct Params { rows: u32, d: u32, eps: f32, rowsPerItem: u32, modStride: u32, scaleOff: u32, blockRows: u32, blocksPerItem: u32, nb: u32, dElems: u32 }

//#if VEC4
alias VS = vec4<{{T}}>;
alias VD = vec4<{{TD}}>;
alias VW = vec4<{{TW}}>;
alias VM = vec4<{{TM}}>;
alias VF = vec4f;
fn hsum(v: VF) -> f32 { return v.x + v.y + v.z + v.w; }
fn first(v: VS) -> f32 { return f32(v.x); }
//#else
alias VS = {{T}};
alias VD = {{TD}};
alias VW = {{TW}};
alias VM = {{TM}};
alias VF = f32;
fn hsum(v: VF) -> f32 { return v; }
fn first(v: VS) -> f32 { return f32(v); }
//#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VS>;
@group(0) @binding(2) var<storage, read> dy: array<VD>;
//#if AFFINE_W
@group(0) @binding({{B_W}}) var<storage, read> w: array<VW>;
//#endif
//#if AFFINE_B
@group(0) @binding({{B_B}}) var<storage, read> b: array<VW>;
//#endif
//#if MOD
@group(0) @binding({{B_SCALE}}) var<storage, read> mscale: array<VM>;
//#endif

fn weightAt(i: u32) -> VF {
//#if AFFINE_W
  return VF(w[i]);
//#else
  return VF(1.0);
//#endif
}

fn biasAt(i: u32) -> VF {
//#if AFFINE_B
  return VF(b[i]);
//#else
  return VF(0.0);
//#endif
}

/** 1 + scale of the item (1 without modulation). */
fn modAt(item: u32, i: u32) -> VF {
//#if MOD
  return VF(1.0) + VF(mscale[p.scaleOff + item * p.modStride + i]);
//#else
  return VF(1.0);
//#endif
}

//#if PASS_DX
@group(0) @binding({{B_DX}}) var<storage, read_write> dx: array<VD>;
//#if STATS
@group(0) @binding({{B_STATS}}) var<storage, read_write> stats: array<f32>;
//#endif

const ROWS = {{ROWS}}u;
const TPR = {{TPR}}u;
const WG = ROWS * TPR;
var<workgroup> sh_a: array<f32, WG>;
var<workgroup> sh_b: array<f32, WG>;

/** Sums (a, b) over the TPR lanes of each row (every thread of the workgroup must call it). */
fn rowSums(li: u32, lane: u32, a: f32, bb: f32) -> vec2f {
  sh_a[li] = a;
  sh_b[li] = bb;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      sh_a[li] += sh_a[li + s];
      sh_b[li] += sh_b[li + s];
    }
    workgroupBarrier();
  }
  let head = li - lane;
  let r = vec2f(sh_a[head], sh_b[head]);
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let slot = li / TPR;
  let lane = li % TPR;
  let row = (wid.x + wid.y * nwg.x) * ROWS + slot;
  let valid = row < p.rows;
  let base = row * p.d;
  let count = select(0u, p.d, valid);
  let fd = f32(p.dElems);
  let item = select(0u, row / p.rowsPerItem, valid);

//#if RMS
  var ss = 0.0;
  var sgx = 0.0;
  for (var i = lane; i < count; i += TPR) {
    let xv = VF(x[base + i]);
    ss += hsum(xv * xv);
    sgx += hsum(VF(dy[base + i]) * weightAt(i) * xv);
  }
  let s1 = rowSums(li, lane, ss, sgx);
  let mean = 0.0;
  let rstd = inverseSqrt(s1.x / fd + p.eps);
  let k = rstd * rstd * s1.y / fd;
  for (var i = lane; i < count; i += TPR) {
    let g = VF(dy[base + i]) * weightAt(i);
    dx[base + i] = VD(rstd * (g - VF(x[base + i]) * k));
  }
//#else
  // One pass over x shifted by its first element: mean = K + S1/d, var = S2/d - (S1/d)^2.
  var shift = 0.0;
  if (valid) { shift = first(x[base]); }
  var s1 = 0.0;
  var s2 = 0.0;
  for (var i = lane; i < count; i += TPR) {
    let c = VF(x[base + i]) - VF(shift);
    s1 += hsum(c);
    s2 += hsum(c * c);
  }
  let st = rowSums(li, lane, s1, s2) / fd;
  let mean = shift + st.x;
  let rstd = inverseSqrt(max(st.y - st.x * st.x, 0.0) + p.eps);
  var m1 = 0.0;
  var m2 = 0.0;
  for (var i = lane; i < count; i += TPR) {
    let xhat = (VF(x[base + i]) - VF(mean)) * rstd;
    let g = VF(dy[base + i]) * modAt(item, i) * weightAt(i);
    m1 += hsum(g);
    m2 += hsum(g * xhat);
  }
  let m = rowSums(li, lane, m1, m2) / fd;
  for (var i = lane; i < count; i += TPR) {
    let xhat = (VF(x[base + i]) - VF(mean)) * rstd;
    let g = VF(dy[base + i]) * modAt(item, i) * weightAt(i);
    dx[base + i] = VD(rstd * (g - VF(m.x) - xhat * m.y));
  }
//#endif
//#if STATS
  if (valid && lane == 0u) {
    stats[2u * row] = mean;
    stats[2u * row + 1u] = rstd;
  }
//#endif
}
//#endif

//#if PASS_PARTIALS
@group(0) @binding({{B_STATS}}) var<storage, read> stats: array<f32>;
@group(0) @binding({{B_PART}}) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let blk = gid.y;
  if (col >= p.d || blk >= p.nb) { return; }
  let item = blk / p.blocksPerItem;
  let r0 = item * p.rowsPerItem + (blk % p.blocksPerItem) * p.blockRows;
  let r1 = min(r0 + p.blockRows, (item + 1u) * p.rowsPerItem);
  let wv = weightAt(col);
  let bv = biasAt(col);
  let mv = modAt(item, col);
  var sw = 0.0;
  var sb = 0.0;
  var sscale = 0.0;
  var sshift = 0.0;
  for (var r = r0; r < r1; r++) {
    let xhat = (f32(x[r * p.d + col]) - stats[2u * r]) * stats[2u * r + 1u];
    let g = f32(dy[r * p.d + col]);
    sshift += g;
    sscale += g * (xhat * wv + bv);
    let gm = g * mv;
    sb += gm;
    sw += gm * xhat;
  }
  let plane = p.nb * p.d;
  let o = blk * p.d + col;
//#if Q_W
  partials[({{Q_W}}u - 1u) * plane + o] = sw;
//#endif
//#if Q_B
  partials[({{Q_B}}u - 1u) * plane + o] = sb;
//#endif
//#if Q_SCALE
  partials[({{Q_SCALE}}u - 1u) * plane + o] = sscale;
//#endif
//#if Q_SHIFT
  partials[({{Q_SHIFT}}u - 1u) * plane + o] = sshift;
//#endif
}
//#endif
