// Writes a tiny CRAFT checkpoint (what `curate --text-detector FILE` loads, engine/model/craft.ts) with seeded random
// weights in the real key layout (craft-layout.ts: "module.basenet.slice1.0.weight", ..., BatchNorm running stats and
// an int64 num_batches_tracked, as craft_mlt_25k.pth converted to safetensors) at reduced, deliberately uneven
// widths; the model reads the widths from the shapes. `head` fixes the last conv (zero weights, given biases) so that
// the score maps are known constants (CLI tests: everything or nothing is text).

import { writeSafetensors, type WriteTensor } from './safetensors.js';
import { mulberry32 } from '../mulberry32.js';
import { CRAFT_CONVS, craftKeys, type CraftWidths } from '../model/craft-layout.js';

/** Reduced widths, in CRAFT_CONVS order: VGG 12 convs, fc6, fc7, upconv1..4 (mid, out), conv_cls (the last must be 2). */
export const TINY_CRAFT_WIDTHS: CraftWidths = {
  out: Object.fromEntries(CRAFT_CONVS.map((c, i) => [c.key, [4, 5, 6, 6, 7, 7, 8, 8, 9, 9, 8, 10, 12, 11, 9, 7, 7, 6, 6, 5, 5, 4, 4, 5, 3, 3, 2][i]!])),
};

export interface TinyCraftOptions {
  seed?: number;
  widths?: CraftWidths;
  /** Key prefix: 'module.' (the released checkpoint, saved from DataParallel; default) or ''. */
  prefix?: string;
  /** Zero conv_cls.8 weights and these biases [region, affinity]: constant score maps (sigmoid-free raw values). */
  head?: [number, number];
}

export async function makeTinyCraft(path: string, o: TinyCraftOptions = {}): Promise<CraftWidths> {
  const widths = o.widths ?? TINY_CRAFT_WIDTHS;
  const prefix = o.prefix ?? 'module.';
  const r = mulberry32(o.seed ?? 2024);
  const normal = (n: number, std: number, mean = 0) =>
    Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
  const tensors: [string, WriteTensor][] = craftKeys(widths, prefix).map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const name = s.key.slice(prefix.length);
    if (s.integer) return [s.key, { dtype: 'I64', shape: s.shape, data: BigInt64Array.from([25000n]) }];
    let data: Float32Array;
    if (o.head && name.startsWith('conv_cls.8.')) data = name.endsWith('weight') ? new Float32Array(n) : Float32Array.from(o.head);
    else if (s.shape.length === 4) data = normal(n, 1.4 / Math.sqrt(s.shape[1]! * s.shape[2]! * s.shape[3]!));
    else if (name.endsWith('running_var')) data = Float32Array.from({ length: n }, () => 0.3 + r());
    else if (name.endsWith('running_mean')) data = normal(n, 0.2);
    else if (name.endsWith('.weight')) data = normal(n, 0.2, 1); // BatchNorm gamma (conv weights are 4-D)
    else data = normal(n, 0.1);
    return [s.key, { dtype: 'F32', shape: s.shape, data }];
  });
  await writeSafetensors(path, tensors, { format: 'pt' });
  return widths;
}
