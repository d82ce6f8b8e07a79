// Patch (un)embedding rearrangements of Vchitect's 2x2 stride-2 patch conv (patch size P, any P >= 1).
// patchify:   x [F, C, H, W] -> out [F, h*w, C*P*P], out[f, r*w + s, (c*P + i)*P + j] = x[f, c, r*P + i, s*P + j]
//             ((c, p, q) order: a linear with the conv weight reshaped [D, C*P*P] then does the conv).
// unpatchify: x [F, h*w, P*P*C] -> out [F, C, H, W], out[f, c, r*P + i, s*P + j] = x[f, r*w + s, (i*P + j)*C + c]
//             (einsum nhwpqc -> nchpwq of the proj_out tokens).
// h = H / P, w = W / P (odd h, w fine). One thread per OUTPUT element (coalesced writes).
// Contract (engine/ops/patch.ts):
//   binding 0: Params { n (= F*C*H*W), C, H, W, P } (uniform); binding 1: x T; binding 2: out T
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// SWAP exchanges the token channel orders ((c, p, q) <-> (p, q, c)), which turns each entry into the other's
// backward: unpatchify + SWAP = patchify's backward, patchify + SWAP = unpatchify's backward (both ops only move values).
// Preconditions: H and W multiples of P. Defines: T (f32 | f16), SWAP. Entries: patchify, unpatchify.

struct Params { n: u32, C: u32, H: u32, W: u32, P: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn patchify(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
  let P = p.P; let w = p.W / P; let K = p.C * P * P; let L = (p.H / P) * w;
  let k = o % K; let t = o / K; let l = t % L; let f = t / L;
//#if SWAP
  let i = k / (P * p.C); let j = (k / p.C) % P; let c = k % p.C;
//#else
  let c = k / (P * P); let i = (k / P) % P; let j = k % P;
//#endif
  let y = (l / w) * P + i; let xx = (l % w) * P + j;
  out[o] = x[((f * p.C + c) * p.H + y) * p.W + xx];
}

@compute @workgroup_size(256)
fn unpatchify(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
  let P = p.P; let w = p.W / P; let L = (p.H / P) * w;
  let xx = o % p.W; let t = o / p.W; let y = t % p.H; let t2 = t / p.H; let c = t2 % p.C; let f = t2 / p.C;
  let l = (y / P) * w + xx / P;
//#if SWAP
  out[o] = x[(f * L + l) * (P * P * p.C) + (c * P + y % P) * P + xx % P];
//#else
  out[o] = x[(f * L + l) * (P * P * p.C) + ((y % P) * P + xx % P) * p.C + c];
//#endif
}
