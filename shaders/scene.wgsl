// Per-pixel colour conversion and per-frame difference sums for shot detection and the static filter (the
// PySceneDetect content score, ../shared/spec/data.md sections 2 and 4). All integer math: results are exact.
// Frames arrive as packed rgb24 bytes (frame-major, pixel-major, R G B), 4 bytes per u32 word, little-endian.
// Two stages, chosen by a define:
//   CONVERT: hsvg[f*P + p] = H | S << 8 | V << 16 | GRAY << 24 with OpenCV's 8-bit COLOR_RGB2HSV (H 0..179,
//     S and V 0..255; sdiv = round(255*2^12 / v), hdiv = round(180*2^12 / (6 diff)), rounding done in integers since
//     neither table has a tie) and OpenCV 4's gray (9798 R + 19235 G + 3735 B + 16384) >> 15.
//     grid: ceil(N*P / 256) workgroups of 256, folded 2-D.
//   DIFF: for frame t and tile b of TILE pixels, partials[(t*tiles + b)*6 + c] = sums over the tile's pixels of
//     c=0..3: |dH|, |dS|, |dV|, |dGray| between frame t and t-1 (0 for t = 0), c=4: R+G+B of frame t, c=5: gray.
//     grid: (tiles, N) workgroups of 256; the host adds the tiles (u32 per tile: TILE*765 < 2^32).
// Contract (engine/ops/scene.ts): binding 0: Params { P (pixels per frame), N (frames), tiles, total = N*P }
//   binding 1: rgb [ceil(N*P*3/4)] u32; CONVERT: binding 2: hsvg [N*P] u32 (written)
//   DIFF: binding 2: hsvg [N*P] u32 (read), binding 3: partials [N*tiles*6] u32 (written)
// Defines: CONVERT | DIFF, TILE (pixels per workgroup in DIFF, a multiple of 256).

struct Params { P: u32, N: u32, tiles: u32, total: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rgb: array<u32>;

fn byte_at(k: u32) -> i32 {
  return i32((rgb[k >> 2u] >> ((k & 3u) * 8u)) & 255u);
}

//#if CONVERT
@group(0) @binding(2) var<storage, read_write> hsvg: array<u32>;

fn convert_pixel(r: i32, g: i32, b: i32) -> u32 {
  let v = max(max(r, g), b);
  let vmin = min(min(r, g), b);
  let diff = v - vmin;
  var s = 0;
  if (v > 0) {
    let sdiv = (2 * 1044480 + v) / (2 * v);
    s = (diff * sdiv + 2048) >> 12u;
  }
  var h = 0;
  if (diff > 0) {
    var hn: i32;
    if (v == r) {
      hn = g - b;
    } else if (v == g) {
      hn = b - r + 2 * diff;
    } else {
      hn = r - g + 4 * diff;
    }
    let hdiv = (2 * 122880 + diff) / (2 * diff);
    h = (hn * hdiv + 2048) >> 12u;
    if (h < 0) { h += 180; }
  }
  let gray = (9798 * r + 19235 * g + 3735 * b + 16384) >> 15u;
  return u32(h) | (u32(s) << 8u) | (u32(v) << 16u) | (u32(gray) << 24u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.total) { return; }
  let k = i * 3u;
  hsvg[i] = convert_pixel(byte_at(k), byte_at(k + 1u), byte_at(k + 2u));
}
//#endif

//#if DIFF
@group(0) @binding(2) var<storage, read> hsvg: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<u32>;

const TILE = {{TILE}}u;
var<workgroup> sh_a: array<vec4u, 256>;
var<workgroup> sh_b: array<vec2u, 256>;

fn absdiff(a: u32, b: u32) -> u32 { return select(b - a, a - b, a >= b); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let tile = wid.x;
  let t = wid.y;
  var d = vec4u(0u);
  var s = vec2u(0u);
  let end = min((tile + 1u) * TILE, p.P);
  for (var px = tile * TILE + li; px < end; px += 256u) {
    let i = t * p.P + px;
    let c = hsvg[i];
    if (t > 0u) {
      let q = hsvg[i - p.P];
      d += vec4u(absdiff(c & 255u, q & 255u), absdiff((c >> 8u) & 255u, (q >> 8u) & 255u),
                 absdiff((c >> 16u) & 255u, (q >> 16u) & 255u), absdiff(c >> 24u, q >> 24u));
    }
    let k = i * 3u;
    s += vec2u(u32(byte_at(k) + byte_at(k + 1u) + byte_at(k + 2u)), c >> 24u);
  }
  sh_a[li] = d;
  sh_b[li] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (li < w) {
      sh_a[li] += sh_a[li + w];
      sh_b[li] += sh_b[li + w];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let o = (t * p.tiles + tile) * 6u;
    let a = sh_a[0];
    let b = sh_b[0];
    partials[o] = a.x;
    partials[o + 1u] = a.y;
    partials[o + 2u] = a.z;
    partials[o + 3u] = a.w;
    partials[o + 4u] = b.x;
    partials[o + 5u] = b.y;
  }
}
//#endif
