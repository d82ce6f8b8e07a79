// Weight (and bias) gradient of linear in one pass, without a transpose copy or workgroup memory: dw = dz^T x and
// db = column sums of dz, every sum over the rows m in row order (bit-identical run to run). For CPU adapters such as
// lavapipe: each invocation owns TN rows n of dw (from the workgroup id) x 4 adjacent columns k (a vec4 load of x per
// row when K % 4 == 0), so each loaded value feeds TN or 4 FMAs (lavapipe loads storage buffers lane by lane with a
// bounds check per value: loads, not FMAs, bound these kernels), and db adds up the dz values already loaded.
// Out-of-range rows and columns are clamped to the last valid ones (their results are never stored).
// Contract (engine/ops/linear-dw.ts):
//   binding 0: Params { M, N, K }; binding 1: dz [M, N] TA; binding 2: x [M, K] TB; binding 3: dw [N, K] f32;
//   binding 4 (HAS_DB): db [N] f32.
//   dw[n, k] = sum_m dz[m, n] * x[m, k]; db[n] = sum_m dz[m, n] (written by invocation 0 of column block 0).
//   grid (ceil(K / (4 * WG)), ceil(N / TN)), workgroup WG.
// Defines: TA, TB (f32 | f16); VEC_X (K % 4 == 0); HAS_DB; TN (rows of dw per invocation), WG; FMA (explicit fma());
//   SG (CPU adapters with subgroups of 8 to WG lanes and TN == 8: every lane of a subgroup needs the same TN values of
//   dz per row, so lane j loads the j-th and subgroupBroadcast hands it to the others; same arithmetic, same bits).

//#if SG
enable subgroups;
//#endif

struct Params { M: u32, N: u32, K: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dz: array<{{TA}}>;
//#if VEC_X
@group(0) @binding(2) var<storage, read> x: array<vec4<{{TB}}>>;
//#else
@group(0) @binding(2) var<storage, read> x: array<{{TB}}>;
//#endif
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
//#if HAS_DB
@group(0) @binding(4) var<storage, read_write> db: array<f32>;
//#endif

const TN = {{TN}}u;
const WG = {{WG}}u;

//#if SG
// dz[row zr + n0 + i] for i < 8 from lane i (the broadcast lane must be a constant expression).
fn dzRow(g: ptr<function, array<f32, TN>>, mine: f32) {
  (*g)[0] = subgroupBroadcast(mine, 0u);
  (*g)[1] = subgroupBroadcast(mine, 1u);
  (*g)[2] = subgroupBroadcast(mine, 2u);
  (*g)[3] = subgroupBroadcast(mine, 3u);
  (*g)[4] = subgroupBroadcast(mine, 4u);
  (*g)[5] = subgroupBroadcast(mine, 5u);
  (*g)[6] = subgroupBroadcast(mine, 6u);
  (*g)[7] = subgroupBroadcast(mine, 7u);
}
//#endif

@compute @workgroup_size(WG)
//#if SG
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
  let myN = min(wid.y * TN + sgid % TN, p.N - 1u);
//#else
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
//#endif
  let n0 = wid.y * TN;
  let k0 = (wid.x * WG + lid.x) * 4u;
  // Clamped rows of dw (uniform) and the clamped first column of this invocation's vec4 (K >= 1).
//#if VEC_X
  let kc = min(k0, p.K - 4u) / 4u;
  let kq = p.K / 4u;
//#else
  var kc: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { kc[j] = min(k0 + j, p.K - 1u); }
//#endif
  var acc: array<vec4<f32>, TN>;
//#if HAS_DB
  // The bias gradient rides along on the dz values already loaded (adds only; every lane keeps the same sums).
  var s: array<f32, TN>;
//#endif
  for (var m = 0u; m < p.M; m++) {
//#if VEC_X
    let xv = vec4<f32>(x[m * kq + kc]);
//#else
    let xr = m * p.K;
    let xv = vec4<f32>(f32(x[xr + kc[0]]), f32(x[xr + kc[1]]), f32(x[xr + kc[2]]), f32(x[xr + kc[3]]));
//#endif
    let zr = m * p.N;
//#if SG
    var gs: array<f32, TN>;
    dzRow(&gs, f32(dz[zr + myN]));
//#endif
    for (var i = 0u; i < TN; i++) {
//#if SG
      let g = gs[i];
//#else
      let g = f32(dz[zr + min(n0 + i, p.N - 1u)]);
//#endif
//#if FMA
      acc[i] = fma(vec4<f32>(g), xv, acc[i]);
//#else
      acc[i] += g * xv;
//#endif
//#if HAS_DB
      s[i] += g;
//#endif
    }
  }
  for (var i = 0u; i < TN; i++) {
    let n = n0 + i;
    if (n >= p.N) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (k0 + j < p.K) { dw[n * p.K + k0 + j] = acc[i][j]; }
    }
  }
//#if HAS_DB
  if (wid.x == 0u && lid.x == 0u) {
    for (var i = 0u; i < TN; i++) {
      if (n0 + i < p.N) { db[n0 + i] = s[i]; }
    }
  }
//#endif
}
