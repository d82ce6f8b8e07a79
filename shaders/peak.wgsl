// Micro-kernels that measure an adapter's practical peaks for the benchmark tables.
// Contract (bench/peak.ts):
//   entry `fma`:  binding 0 Params { iters }, binding 1 out [n] f32; each thread runs 8 independent FMA chains of
//                 `iters` steps (16 * iters flops per thread) and writes one value so nothing is optimised away.
//   entry `copy`: binding 0 Params { n4 }, binding 1 src [n4] vec4<f32>, binding 2 dst [n4] vec4<f32>; dst = src.
//   grid: ceil(threads / 256) workgroups of 256, folded 2-D (linear id = wid.x + wid.y * nwg.x).

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
//#if FMA
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn fma_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  var a = vec4<f32>(f32(i) * 1e-9, 0.5, 0.25, 0.125);
  var b = vec4<f32>(0.75, f32(li) * 1e-9, 0.375, 0.625);
  let m = vec4<f32>(0.9999, 0.9998, 0.9997, 0.9996);
  let c = vec4<f32>(1e-4, 2e-4, 3e-4, 4e-4);
  for (var k = 0u; k < p.n; k++) {
    a = fma(a, m, c);
    b = fma(b, m, c);
  }
  out[i] = dot(a, b);
}
//#else
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn copy_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i < p.n) { dst[i] = src[i]; }
}
//#endif
