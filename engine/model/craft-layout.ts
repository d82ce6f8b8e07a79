// CRAFT's layout (clovaai/CRAFT-pytorch, the text detector EasyOCR uses; checkpoint craft_mlt_25k.pth) as data:
// the VGG16-BN slices, slice5 (3x3 max pool stride 1, 3x3 conv dilation 6, 1x1 conv), the four U-net double_conv
// blocks and the conv_cls head, with the checkpoint's parameter names. The channel widths are read from the
// checkpoint's shapes (real: 64 ... 512, fc 1024, U-net 512/256 ... 64/32, head 32-32-16-16-2), so reduced test
// models use the same code. Shared by the GPU model (craft.ts), the float64 reference and the tiny-model writer.

import type { KeySpec } from '../io/keys.js';

/** One conv of the network: its key prefix, the BatchNorm after it (folded at load), a ReLU after that. */
export interface CraftConv {
  key: string;
  bn?: string;
  k: number;
  dilation: number;
  relu: boolean;
}

/** The network as steps over one running tensor; `out` records a U-net source (pre-ReLU, as CRAFT's slices end). */
export type CraftStep = { op: 'conv'; conv: CraftConv } | { op: 'relu' } | { op: 'pool'; k: number; s: number; p: number } | { op: 'out' };

/** Output channels of every conv, in the order of CRAFT_CONVS. */
export interface CraftWidths {
  /** Output channels per conv key. */
  out: Record<string, number>;
}

const vgg = (slice: number, idx: number, relu: boolean): CraftStep => ({ op: 'conv', conv: { key: `basenet.slice${slice}.${idx}`, bn: `basenet.slice${slice}.${idx + 1}`, k: 3, dilation: 1, relu } });
const pool2: CraftStep = { op: 'pool', k: 2, s: 2, p: 0 };

/** The VGG16-BN backbone (features 0..38 split as CRAFT does: each slice ends on a BatchNorm, the next starts with its ReLU) and slice5. */
export const CRAFT_BACKBONE: readonly CraftStep[] = [
  vgg(1, 0, true), vgg(1, 3, true), pool2, vgg(1, 7, true), vgg(1, 10, false), { op: 'out' }, // relu2_2 (pre-ReLU), 1/2
  { op: 'relu' }, pool2, vgg(2, 14, true), vgg(2, 17, false), { op: 'out' }, // relu3_2, 1/4
  { op: 'relu' }, vgg(3, 20, true), pool2, vgg(3, 24, true), vgg(3, 27, false), { op: 'out' }, // relu4_3, 1/8
  { op: 'relu' }, vgg(4, 30, true), pool2, vgg(4, 34, true), vgg(4, 37, false), { op: 'out' }, // relu5_3, 1/16
  { op: 'pool', k: 3, s: 1, p: 1 },
  { op: 'conv', conv: { key: 'basenet.slice5.1', k: 3, dilation: 6, relu: false } }, // fc6
  { op: 'conv', conv: { key: 'basenet.slice5.2', k: 1, dilation: 1, relu: false } }, // fc7
  { op: 'out' },
];

/** upconv1..4: 1x1 conv + BN + ReLU, 3x3 conv + BN + ReLU, on [upsampled previous, skip source]. */
export const CRAFT_UPCONVS: readonly (readonly CraftConv[])[] = [1, 2, 3, 4].map((i) => [
  { key: `upconv${i}.conv.0`, bn: `upconv${i}.conv.1`, k: 1, dilation: 1, relu: true },
  { key: `upconv${i}.conv.3`, bn: `upconv${i}.conv.4`, k: 3, dilation: 1, relu: true },
]);

/** conv_cls: 3x3 32, 3x3 32, 3x3 16, 1x1 16 (each + ReLU), 1x1 2 (region score, affinity score). */
export const CRAFT_HEAD: readonly CraftConv[] = [
  { key: 'conv_cls.0', k: 3, dilation: 1, relu: true },
  { key: 'conv_cls.2', k: 3, dilation: 1, relu: true },
  { key: 'conv_cls.4', k: 3, dilation: 1, relu: true },
  { key: 'conv_cls.6', k: 1, dilation: 1, relu: true },
  { key: 'conv_cls.8', k: 1, dilation: 1, relu: false },
];

export const CRAFT_CONVS: readonly CraftConv[] = [
  ...CRAFT_BACKBONE.flatMap((s) => (s.op === 'conv' ? [s.conv] : [])),
  ...CRAFT_UPCONVS.flat(),
  ...CRAFT_HEAD,
];

/** craft_mlt_25k.pth's widths. */
export const CRAFT_REAL_WIDTHS: CraftWidths = {
  out: Object.fromEntries(CRAFT_CONVS.map((c, i) => [c.key, [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 1024, 1024, 512, 256, 256, 128, 128, 64, 64, 32, 32, 32, 16, 16, 2][i]!])),
};

/** The BatchNorm epsilon of torch.nn.BatchNorm2d (CRAFT keeps the default). */
export const CRAFT_BN_EPS = 1e-5;

/** Input channels of every conv for the given widths (3 for the first; the U-net concatenations). */
export function craftInputChannels(w: CraftWidths): Record<string, number> {
  const cin: Record<string, number> = {};
  let c = 3;
  const sources: number[] = [];
  for (const s of CRAFT_BACKBONE) {
    if (s.op === 'conv') {
      cin[s.conv.key] = c;
      c = w.out[s.conv.key]!;
    } else if (s.op === 'out') sources.push(c);
  }
  // sources: relu2_2, relu3_2, relu4_3, relu5_3, fc7; upconv1 takes [fc7, relu5_3], upconv{i} [previous, source].
  let prev = sources[4]!;
  CRAFT_UPCONVS.forEach(([a, b], i) => {
    cin[a!.key] = prev + sources[3 - i]!;
    cin[b!.key] = w.out[a!.key]!;
    prev = w.out[b!.key]!;
  });
  for (const h of CRAFT_HEAD) {
    cin[h.key] = prev;
    prev = w.out[h.key]!;
  }
  return cin;
}

/** Every checkpoint key with its shape for these widths (prefix 'module.' for the DataParallel checkpoint). */
export function craftKeys(w: CraftWidths, prefix = ''): KeySpec[] {
  const cin = craftInputChannels(w);
  const k: KeySpec[] = [];
  for (const c of CRAFT_CONVS) {
    const co = w.out[c.key]!;
    k.push({ key: `${prefix}${c.key}.weight`, shape: [co, cin[c.key]!, c.k, c.k] }, { key: `${prefix}${c.key}.bias`, shape: [co] });
    if (c.bn) {
      for (const p of ['weight', 'bias', 'running_mean', 'running_var']) k.push({ key: `${prefix}${c.bn}.${p}`, shape: [co] });
      k.push({ key: `${prefix}${c.bn}.num_batches_tracked`, shape: [], optional: true, integer: true });
    }
  }
  return k;
}

/** The widths a checkpoint has (each conv weight's first dimension; the real width where a key is missing, so the key check names it). */
export function craftWidthsFrom(shapeOf: (key: string) => readonly number[] | undefined, prefix = ''): CraftWidths {
  return { out: Object.fromEntries(CRAFT_CONVS.map((c) => [c.key, shapeOf(`${prefix}${c.key}.weight`)?.[0] ?? CRAFT_REAL_WIDTHS.out[c.key]!])) };
}
