// Snippet of the conv2d family (params, bindings, and the zero-padded input read with optional nearest-2x
// upsampling, or DILATE: zeros inserted between input elements), spliced by `//#include` into conv2d.wgsl,
// conv2d_tiled128.wgsl and conv2d_regs.wgsl; defines as in conv2d.wgsl (DILATE: conv2d_regs only).

struct Params { Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, pad_top: u32, pad_left: u32, K: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> w: array<{{T}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{T}}>;
//#if RES
@group(0) @binding(4) var<storage, read> res: array<{{T}}>;
//#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{T}}>;

fn load_x(base: u32, iy: i32, ix: i32) -> f32 {
//#if UPSAMPLE
  if (iy < 0 || ix < 0 || iy >= i32(2u * p.H) || ix >= i32(2u * p.W)) { return 0.0; }
  return f32(x[base + (u32(iy) / 2u) * p.W + u32(ix) / 2u]);
//#elif DILATE
  // The input seen with DILATE - 1 zeros between neighbours (the strided conv's dX, engine/ops/conv2d-backward.ts).
  if (iy < 0 || ix < 0) { return 0.0; }
  let uy = u32(iy);
  let ux = u32(ix);
  if (uy % {{DILATE}}u != 0u || ux % {{DILATE}}u != 0u || uy / {{DILATE}}u >= p.H || ux / {{DILATE}}u >= p.W) { return 0.0; }
  return f32(x[base + (uy / {{DILATE}}u) * p.W + ux / {{DILATE}}u]);
//#else
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return f32(x[base + u32(iy) * p.W + u32(ix)]);
//#endif
}
