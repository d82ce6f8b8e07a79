// timm's EfficientNet classifier (efficientnet_b3a with LAION's watermark head) on the GPU, composed of engine ops
// on channels-last activations [N, H, W, C]: the stem as conv2d (NCHW) + permute + SiLU, every 1x1 conv as `linear`
// (the projection with the skip fused as its residual), conv_dw as depthwiseConv2d (SiLU fused), squeezeExcite,
// conv_head + SiLU, channelMean and the classifier's linears (ReLU between). Each BatchNorm is folded into the conv
// before it at load time, in float64: w' = w g / sqrt(var + eps), b' = beta - mean g / sqrt(var + eps).
// The config comes from the weight shapes (engine/io/efficientnet-config.ts). Float64 reference:
// engine/reference/efficientnet.ts.

import { basename, dirname } from 'node:path';
import type { Device } from '../gpu/device.js';
import type { EfficientNetConfig } from '../io/configs.js';
import { efficientNetConfigOf } from '../io/efficientnet-config.js';
import { NodeFileStore } from '../io/node-files.js';
import { SingleFileWeights, type WeightStore } from '../io/sharded.js';
import { conv2d } from '../ops/conv2d.js';
import { depthwiseConv2d, symmetricPadding } from '../ops/depthwise-conv2d.js';
import { relu, silu } from '../ops/elementwise.js';
import { permute } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { channelMean, squeezeExcite, type SqueezeExciteWeights } from '../ops/squeeze-excite.js';
import { Tensor } from '../tensor.js';

interface Conv {
  w: Tensor;
  b: Tensor;
}
interface Block {
  expand?: Conv; // ir: conv_pw + bn1, [mid, in]
  dw: Conv; // [k, k, mid]
  se: SqueezeExciteWeights;
  project: Conv; // [out, mid]
}

/** A conv weight [O, ...] and its BatchNorm folded in float64: [O, rest] weights and [O] bias. */
async function foldBn(w: WeightStore, conv: string, bn: string, eps: number): Promise<{ w: Float64Array; b: Float64Array; out: number; rest: number }> {
  const cw = await w.readFloat32(`${conv}.weight`);
  const [g, beta, mean, v] = await Promise.all(['weight', 'bias', 'running_mean', 'running_var'].map((p) => w.readFloat32(`${bn}.${p}`)));
  const out = g!.length;
  const rest = cw.length / out;
  const fw = new Float64Array(cw.length);
  const fb = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    const s = g![o]! / Math.sqrt(v![o]! + eps);
    for (let i = 0; i < rest; i++) fw[o * rest + i] = cw[o * rest + i]! * s;
    fb[o] = beta![o]! - mean![o]! * s;
  }
  return { w: fw, b: fb, out, rest };
}

export class EfficientNet {
  private constructor(
    readonly device: Device,
    readonly config: EfficientNetConfig,
    readonly name: string,
    private readonly stem: Conv,
    private readonly blocks: Block[],
    private readonly head: Conv,
    private readonly classifier: Conv[],
  ) {}

  /** Loads a timm EfficientNet state dict (safetensors, timm's key names); the config is read from the shapes. */
  static async load(device: Device, path: string): Promise<EfficientNet> {
    const store = new NodeFileStore(dirname(path));
    if (!(await store.exists(basename(path)))) throw new Error(`${path}: no such file (expected the watermark model as safetensors; see docs/data.md for the one-line conversion from the .pt)`);
    const w = await SingleFileWeights.open(store, basename(path));
    const made: Tensor[] = [];
    const up = (data: Float64Array | Float32Array, shape: number[], label: string) => {
      const t = Tensor.from(device, data instanceof Float64Array ? Float32Array.from(data) : data, shape, 'f32', label);
      made.push(t);
      return t;
    };
    try {
      const cfg = efficientNetConfigOf(w, path);
      const eps = cfg.bnEps;
      const conv = async (c: string, bn: string, shape: (out: number, rest: number) => number[], perm?: (f: Float64Array, out: number, rest: number) => Float64Array): Promise<Conv> => {
        const f = await foldBn(w, c, bn, eps);
        return { w: up(perm ? perm(f.w, f.out, f.rest) : f.w, shape(f.out, f.rest), c), b: up(f.b, [f.out], `${bn} folded`) };
      };
      // [C, 1, k, k] -> [k, k, C] (channels last)
      const dwLayout = (f: Float64Array, C: number, kk: number) => {
        const o = new Float64Array(f.length);
        for (let c = 0; c < C; c++) for (let i = 0; i < kk; i++) o[i * C + c] = f[c * kk + i]!;
        return o;
      };
      const stem = await conv('conv_stem', 'bn1', (o) => [o, 3, 3, 3]);
      const blocks: Block[] = [];
      for (const [s, stage] of cfg.stages.entries()) {
        for (const [j, b] of stage.entries()) {
          const p = `blocks.${s}.${j}`;
          const ir = b.type === 'ir';
          const k = b.kernel;
          const se = async (): Promise<SqueezeExciteWeights> => ({
            reduceW: up(await w.readFloat32(`${p}.se.conv_reduce.weight`), [b.se, b.mid], `${p}.se.conv_reduce`),
            reduceB: up(await w.readFloat32(`${p}.se.conv_reduce.bias`), [b.se], `${p}.se.conv_reduce.bias`),
            expandW: up(await w.readFloat32(`${p}.se.conv_expand.weight`), [b.mid, b.se], `${p}.se.conv_expand`),
            expandB: up(await w.readFloat32(`${p}.se.conv_expand.bias`), [b.mid], `${p}.se.conv_expand.bias`),
          });
          blocks.push({
            expand: ir ? await conv(`${p}.conv_pw`, `${p}.bn1`, (o, r) => [o, r]) : undefined,
            dw: await conv(`${p}.conv_dw`, `${p}.${ir ? 'bn2' : 'bn1'}`, (o) => [k, k, o], dwLayout),
            se: await se(),
            project: await conv(`${p}.${ir ? 'conv_pwl' : 'conv_pw'}`, `${p}.${ir ? 'bn3' : 'bn2'}`, (o, r) => [o, r]),
          });
        }
      }
      const head = await conv('conv_head', 'bn2', (o, r) => [o, r]);
      const classifier: Conv[] = [];
      for (const l of cfg.classifier) {
        classifier.push({ w: up(await w.readFloat32(`${l.key}.weight`), [l.out, l.in], l.key), b: up(await w.readFloat32(`${l.key}.bias`), [l.out], `${l.key}.bias`) });
      }
      return new EfficientNet(device, cfg, path, stem, blocks, head, classifier);
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    } finally {
      await w.close();
    }
  }

  /** Logits of images [3, height, width] (already normalised), all in one batch; one Float32Array per image. */
  async logits(images: readonly Float32Array[], height: number, width: number): Promise<Float32Array[]> {
    const N = images.length;
    if (!N) return [];
    const px = new Float32Array(N * 3 * height * width);
    images.forEach((im, i) => {
      if (im.length !== 3 * height * width) throw new Error(`${this.name}: image ${i} has ${im.length} values, expected 3 x ${height} x ${width}`);
      px.set(im, i * 3 * height * width);
    });
    const live: Tensor[] = [];
    const keep = (t: Tensor) => (live.push(t), t);
    try {
      const x0 = keep(Tensor.from(this.device, px, [N, 3, height, width], 'f32', 'watermark pixels'));
      const s = keep(conv2d(x0, this.stem.w, { bias: this.stem.b, stride: 2, padding: symmetricPadding(3, 2) }));
      let x = silu(keep(permute(s, [0, 2, 3, 1]))); // [N, H, W, C]
      let bi = 0;
      for (const stage of this.config.stages) {
        for (const b of stage) {
          const blk = this.blocks[bi++]!;
          const e = blk.expand ? linear(x, blk.expand.w, blk.expand.b, { epilogue: 'silu' }) : x;
          const pad = symmetricPadding(b.kernel, b.stride);
          const d = depthwiseConv2d(e, blk.dw.w, { bias: blk.dw.b, stride: b.stride, padding: pad, act: 'silu' });
          if (e !== x) e.dispose();
          const g = squeezeExcite(d, blk.se);
          d.dispose();
          const skip = b.stride === 1 && b.in === b.out;
          const y = linear(g, blk.project.w, blk.project.b, skip ? { residual: { x } } : {});
          g.dispose();
          x.dispose();
          x = y;
        }
      }
      const h = linear(x, this.head.w, this.head.b, { epilogue: 'silu' });
      x.dispose();
      let v = keep(channelMean(h)); // [N, head]
      h.dispose();
      this.classifier.forEach((l, i) => {
        const o = keep(linear(v, l.w, l.b));
        v = i < this.classifier.length - 1 ? keep(relu(o)) : o;
      });
      const out = await v.read();
      const C = v.shape[1]!;
      return Array.from({ length: N }, (_, i) => out.slice(i * C, (i + 1) * C));
    } finally {
      for (const t of live) if (!t.disposed) t.dispose();
    }
  }

  dispose(): void {
    for (const c of [this.stem, this.head, ...this.classifier, ...this.blocks.flatMap((b) => [b.dw, b.project, ...(b.expand ? [b.expand] : [])])]) {
      c.w.dispose();
      c.b.dispose();
    }
    for (const b of this.blocks) for (const t of Object.values(b.se)) t.dispose();
  }
}
