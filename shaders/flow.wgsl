// Dense optical flow by pyramidal Lucas-Kanade (a classical stand-in for RAFT, ../shared/spec/data.md section 4),
// f32 images of gray levels (0..255). Three stages, chosen by a define:
//   DOWN: out[y, x] = mean of in[2y + {0,1}, 2x + {0,1}] (indices clamped to the source): the next pyramid level.
//   UP:   out[y, x] = 2 * coarse[min(y/2, Hc-1), min(x/2, Wc-1)] (flow vectors doubled for the finer level).
//   LK:   one Lucas-Kanade iteration at every pixel with the current flow f = (u, v): over the (2R+1)^2 window
//         (coordinates clamped) with Ix, Iy central differences of I0 (clamped) and It = I1(p + f) (bilinear,
//         clamped) - I0(p), solve (G + lambda I) d = -b, G = [[sum IxIx, sum IxIy], [sum IxIy, sum IyIy]],
//         b = [sum IxIt, sum IyIt]; out = f + d.
// Contract (engine/ops/flow.ts): binding 0: Params { W, H, Ws, Hs, lambda } (W x H: output size; Ws x Hs: source
//   size for DOWN/UP); DOWN: binding 1 src [Hs*Ws] f32, binding 2 out [H*W] f32; UP: binding 1 coarse [Hs*Ws*2],
//   binding 2 out [H*W*2]; LK: binding 1 I0 [H*W], binding 2 I1 [H*W], binding 3 flow in [H*W*2] (u, v interleaved),
//   binding 4 flow out [H*W*2]. grid: (ceil(W/16), ceil(H/16)) workgroups of 16x16.
// Defines: DOWN | UP | LK, R (window radius, LK).

struct Params { W: u32, H: u32, Ws: u32, Hs: u32, lambda: f32 }
@group(0) @binding(0) var<uniform> p: Params;

//#if DOWN
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
fn at(x: u32, y: u32) -> f32 { return src[min(y, p.Hs - 1u) * p.Ws + min(x, p.Ws - 1u)]; }
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.W || g.y >= p.H) { return; }
  let x = 2u * g.x;
  let y = 2u * g.y;
  dst[g.y * p.W + g.x] = 0.25 * ((at(x, y) + at(x + 1u, y)) + (at(x, y + 1u) + at(x + 1u, y + 1u)));
}
//#endif

//#if UP
@group(0) @binding(1) var<storage, read> coarse: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.W || g.y >= p.H) { return; }
  let s = (min(g.y / 2u, p.Hs - 1u) * p.Ws + min(g.x / 2u, p.Ws - 1u)) * 2u;
  let o = (g.y * p.W + g.x) * 2u;
  dst[o] = 2.0 * coarse[s];
  dst[o + 1u] = 2.0 * coarse[s + 1u];
}
//#endif

//#if LK
@group(0) @binding(1) var<storage, read> i0: array<f32>;
@group(0) @binding(2) var<storage, read> i1: array<f32>;
@group(0) @binding(3) var<storage, read> fin: array<f32>;
@group(0) @binding(4) var<storage, read_write> fout: array<f32>;
const R = {{R}};

fn img0(x: i32, y: i32) -> f32 {
  return i0[u32(clamp(y, 0, i32(p.H) - 1)) * p.W + u32(clamp(x, 0, i32(p.W) - 1))];
}
fn img1(x: i32, y: i32) -> f32 {
  return i1[u32(clamp(y, 0, i32(p.H) - 1)) * p.W + u32(clamp(x, 0, i32(p.W) - 1))];
}
fn bilinear1(x: f32, y: f32) -> f32 {
  let cx = clamp(x, 0.0, f32(p.W - 1u));
  let cy = clamp(y, 0.0, f32(p.H - 1u));
  let x0 = floor(cx);
  let y0 = floor(cy);
  let fx = cx - x0;
  let fy = cy - y0;
  let ix = i32(x0);
  let iy = i32(y0);
  let top = img1(ix, iy) * (1.0 - fx) + img1(ix + 1, iy) * fx;
  let bot = img1(ix, iy + 1) * (1.0 - fx) + img1(ix + 1, iy + 1) * fx;
  return top * (1.0 - fy) + bot * fy;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.W || g.y >= p.H) { return; }
  let o = (g.y * p.W + g.x) * 2u;
  let u = fin[o];
  let v = fin[o + 1u];
  var sxx = 0.0; var sxy = 0.0; var syy = 0.0; var sxt = 0.0; var syt = 0.0;
  for (var dy = -R; dy <= R; dy++) {
    for (var dx = -R; dx <= R; dx++) {
      let px = clamp(i32(g.x) + dx, 0, i32(p.W) - 1);
      let py = clamp(i32(g.y) + dy, 0, i32(p.H) - 1);
      let ix = 0.5 * (img0(px + 1, py) - img0(px - 1, py));
      let iy = 0.5 * (img0(px, py + 1) - img0(px, py - 1));
      let it = bilinear1(f32(px) + u, f32(py) + v) - img0(px, py);
      sxx += ix * ix; sxy += ix * iy; syy += iy * iy; sxt += ix * it; syt += iy * it;
    }
  }
  let a = sxx + p.lambda;
  let d = syy + p.lambda;
  let det = a * d - sxy * sxy;
  fout[o] = u + (-d * sxt + sxy * syt) / det;
  fout[o + 1u] = v + (sxy * sxt - a * syt) / det;
}
//#endif
