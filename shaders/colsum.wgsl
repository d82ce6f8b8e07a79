// Deterministic column sums over rows, in two passes without atomics (training.md section 2): pass 1 writes
// per-block partials (a workgroup's thread owns one column and adds a block of rows in row order), pass 2 adds each
// segment's partials in block order. Same inputs -> bit-identical sums, whatever the adapter.
// Contract (engine/ops/colsum.ts):
//   PASS 1 (!FINISH): binding 0: Params { rows, d, rowsPerItem, blockRows, blocksPerItem, nb, outOff, outStride, aux }
//     binding 1: a [rows, d] TA; binding 2: b (PRODUCT: [rows, d] TB, summand a*b); last: partials [nb, d] f32.
//     Rows split into items of rowsPerItem rows, each into blocksPerItem blocks of blockRows rows (a block never
//     crosses an item); nb = items * blocksPerItem. grid: (ceil(d / 64), nb) workgroups of 64.
//   PASS 2 (FINISH): binding 0: the same Params, where blocksPerItem = partials per segment, nb = segments,
//     outOff / outStride place segment s's d sums at out[outOff + s * outStride ..]; aux = element offset of the
//     partials read. binding 1: partials f32; binding 2: out TO (ACCUMULATE: out += sum, else out = sum).
//     grid: (ceil(d / 64), segments) workgroups of 64.
// Math in f32.
// Defines: TA, TB, TO (f32 | f16), PRODUCT, FINISH, ACCUMULATE.

struct Params { rows: u32, d: u32, rowsPerItem: u32, blockRows: u32, blocksPerItem: u32, nb: u32, outOff: u32, outStride: u32, aux: u32 }

@group(0) @binding(0) var<uniform> p: Params;
//#if FINISH
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<{{TO}}>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let seg = gid.y;
  if (col >= p.d || seg >= p.nb) { return; }
  var s = 0.0;
  let base = p.aux + seg * p.blocksPerItem * p.d + col;
  for (var j = 0u; j < p.blocksPerItem; j++) { s += partials[base + j * p.d]; }
  let o = p.outOff + seg * p.outStride + col;
//#if ACCUMULATE
  out[o] = {{TO}}(f32(out[o]) + s);
//#else
  out[o] = {{TO}}(s);
//#endif
}
//#else
@group(0) @binding(1) var<storage, read> a: array<{{TA}}>;
//#if PRODUCT
@group(0) @binding(2) var<storage, read> b: array<{{TB}}>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
//#else
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
//#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let blk = gid.y;
  if (col >= p.d || blk >= p.nb) { return; }
  let item = blk / p.blocksPerItem;
  let r0 = item * p.rowsPerItem + (blk % p.blocksPerItem) * p.blockRows;
  let r1 = min(r0 + p.blockRows, (item + 1u) * p.rowsPerItem);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * p.d + col;
//#if PRODUCT
    s += f32(a[i]) * f32(b[i]);
//#else
    s += f32(a[i]);
//#endif
  }
  partials[blk * p.d + col] = s;
}
//#endif
