// Row normalisations over the last axis: LayerNorm (optional affine, optional fused adaLN modulation) and RMSNorm.
// Contract (engine/ops/norm.ts):
//   binding 0: Params { rows, dv, d, eps, rowsPerItem, modStrideV, scaleOffV, shiftOffV } (uniform)
//     dv = d / VEC (row length in loads), rowsPerItem = rows sharing one modulation vector,
//     modStrideV / scaleOffV / shiftOffV: modulation layout in VEC units (vector of item b starts at off + b*stride).
//   binding 1: x [rows, d] T; then, when defined: weight [d] TW (AFFINE_W), bias [d] TW (AFFINE_B),
//     scale, shift (MOD: [items, modStride] TM); last: out [rows, d] T.
//   grid: ceil(rows / ROWS) workgroups of ROWS * TPR threads, folded 2-D (linear id = wid.x + wid.y * nwg.x).
// Math: f32 whatever the storage. LayerNorm statistics by per-thread Chan/Welford merging (stable for large
// means, no E[x^2] - E[x]^2 cancellation), then a tree merge across the row's TPR threads; variance is biased.
//   LN:  y = (x - mean) * rsqrt(var + eps) [* w] [+ b] [* (1 + scale) + shift]
//   RMS: y = x * rsqrt(mean(x^2) + eps) [* w]
// Preconditions: TPR a power of two; VEC = 4 needs d % 4 == 0 and 4-aligned modulation offsets/strides.
// Defines: T, TW, TM (f32 | f16), VEC (1 | 4), ROWS, TPR, RMS, AFFINE_W, AFFINE_B, MOD, SUBGROUP (reduce with
//   subgroupShuffleXor instead of shared memory; needs subgroups whose size is a multiple of TPR, laid out over
//   consecutive local_invocation_index values, which every known implementation does for 1-D workgroups).

//#if SUBGROUP
enable subgroups;
//#endif

struct Params { rows: u32, dv: u32, d: u32, eps: f32, rowsPerItem: u32, modStrideV: u32, scaleOffV: u32, shiftOffV: u32 }

//#if VEC4
alias VS = vec4<{{T}}>;
alias VW = vec4<{{TW}}>;
alias VM = vec4<{{TM}}>;
alias VF = vec4f;
fn hsum(v: VF) -> f32 { return v.x + v.y + v.z + v.w; }
//#else
alias VS = {{T}};
alias VW = {{TW}};
alias VM = {{TM}};
alias VF = f32;
fn hsum(v: VF) -> f32 { return v; }
//#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VS>;
//#if AFFINE_W
@group(0) @binding({{B_W}}) var<storage, read> w: array<VW>;
//#endif
//#if AFFINE_B
@group(0) @binding({{B_B}}) var<storage, read> b: array<VW>;
//#endif
//#if MOD
@group(0) @binding({{B_SCALE}}) var<storage, read> mscale: array<VM>;
@group(0) @binding({{B_SHIFT}}) var<storage, read> mshift: array<VM>;
//#endif
@group(0) @binding({{B_OUT}}) var<storage, read_write> out: array<VS>;

const ROWS = {{ROWS}}u;
const TPR = {{TPR}}u;
const WG = ROWS * TPR;

//#if !SUBGROUP
// Per thread: count, mean, M2 (LayerNorm) or sum of squares in m2 (RMSNorm).
var<workgroup> sh_n: array<f32, WG>;
var<workgroup> sh_mean: array<f32, WG>;
var<workgroup> sh_m2: array<f32, WG>;
//#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let slot = li / TPR;
  let lane = li % TPR;
  let row = (wid.x + wid.y * nwg.x) * ROWS + slot;
  let valid = row < p.rows;
  let base = row * p.dv;
  let count = select(0u, p.dv, valid);

  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var i = lane; i < count; i += TPR) {
    let v = VF(x[base + i]);
//#if RMS
    m2 += hsum(v * v);
//#else
    // Merge this load's {VEC, local mean, local M2} into the running (n, mean, m2).
    let nb = f32({{VEC}});
    let mb = hsum(v) / nb;
    let dv = v - VF(mb);
    let m2b = hsum(dv * dv);
    let nn = n + nb;
    let delta = mb - mean;
    mean += delta * (nb / nn);
    m2 += m2b + delta * delta * (n * nb / nn);
    n = nn;
//#endif
  }
//#if SUBGROUP
  // Butterfly over the row's TPR lanes (an aligned block of one subgroup): no barriers, no shared memory. The lower
  // lane's value always goes first, so every lane ends with bit-identical statistics.
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    let m2o = subgroupShuffleXor(m2, s);
//#if RMS
    m2 += m2o;
//#else
    let no = subgroupShuffleXor(n, s);
    let meano = subgroupShuffleXor(mean, s);
    let upper = (lane & s) != 0u;
    let na = select(n, no, upper);
    let nb = select(no, n, upper);
    let ma = select(mean, meano, upper);
    let mb = select(meano, mean, upper);
    let m2a = select(m2, m2o, upper);
    let m2b = select(m2o, m2, upper);
    let nn = na + nb;
    let f = select(0.0, nb / nn, nn > 0.0);
    let delta = mb - ma;
    mean = ma + delta * f;
    m2 = m2a + m2b + delta * delta * na * f;
    n = nn;
//#endif
  }
  let rowMean = mean;
  let rowM2 = m2;
//#else
  sh_n[li] = n;
  sh_mean[li] = mean;
  sh_m2[li] = m2;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      let o = li + s;
//#if RMS
      sh_m2[li] += sh_m2[o];
//#else
      let na = sh_n[li];
      let nb = sh_n[o];
      let nn = na + nb;
      if (nb > 0.0) {
        let delta = sh_mean[o] - sh_mean[li];
        sh_mean[li] += delta * (nb / nn);
        sh_m2[li] += sh_m2[o] + delta * delta * (na * nb / nn);
        sh_n[li] = nn;
      }
//#endif
    }
    workgroupBarrier();
  }
  let head = slot * TPR;
  let rowMean = sh_mean[head];
  let rowM2 = sh_m2[head];
//#endif
//#if RMS
  let rstd = inverseSqrt(rowM2 / f32(p.d) + p.eps);
//#else
  let rstd = inverseSqrt(max(rowM2, 0.0) / f32(p.d) + p.eps);
//#endif
//#if MOD
  let item = row / p.rowsPerItem;
  let scaleBase = p.scaleOffV + item * p.modStrideV;
  let shiftBase = p.shiftOffV + item * p.modStrideV;
//#endif
  for (var i = lane; i < count; i += TPR) {
//#if RMS
    var y = VF(x[base + i]) * rstd;
//#else
    var y = (VF(x[base + i]) - VF(rowMean)) * rstd;
//#endif
//#if AFFINE_W
    y *= VF(w[i]);
//#endif
//#if AFFINE_B
    y += VF(b[i]);
//#endif
//#if MOD
    y = y * (VF(1.0) + VF(mscale[scaleBase + i])) + VF(mshift[shiftBase + i]);
//#endif
    out[base + i] = VS(y);
  }
}
