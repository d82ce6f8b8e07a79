// Timing script (not a test) for the normalisation kernels at Vchitect sizes: LayerNorm + adaLN modulation
// [F, 1629, 1536], RMSNorm [256, 4096], GroupNorm + SiLU [512, 108, 192], softmax and row sum; every variant,
// f32 and f16; and the backwards (LayerNorm + adaLN with dscale/dshift, RMSNorm with dweight, softmax). Reports GPU time (timestamp queries when available, else wall clock) and effective GB/s counting
// one read and one write of the tensor. Run: node --import tsx bench/norms.ts [--frames 1,4] [--iters 5] [--only OPS]

import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { groupNorm } from '../engine/ops/groupnorm.js';
import { layerNormBackward, rmsNormBackward, type NormBackwardResult } from '../engine/ops/norm-backward.js';
import { layerNorm, rmsNorm } from '../engine/ops/norm.js';
import { reduce } from '../engine/ops/reduce.js';
import { variants } from '../engine/ops/registry.js';
import { softmaxBackward } from '../engine/ops/softmax-backward.js';
import { softmax } from '../engine/ops/softmax.js';
import { Tensor } from '../engine/tensor.js';
import { checkOnly, parseBenchArgs } from './cli.js';

const NORM_OPS = ['layernorm', 'softmax', 'rmsnorm', 'reduce', 'groupnorm', 'layernorm_backward', 'rmsnorm_backward', 'softmax_backward'];
const args = parseBenchArgs({
  command: 'node --import tsx bench/norms.ts',
  summary: 'Every variant of the normalisation kernels at Vchitect sizes, f32 and f16: GPU time and GB/s. Writes no file.',
  options: {
    frames: { type: 'string', value: 'LIST', help: 'frames of the [F, 1629, 1536] LayerNorm/softmax cases (default 1,4)' },
    iters: { type: 'string', value: 'N', help: 'timed iterations (default 5)' },
    only: { type: 'string', value: 'OPS', help: `comma-separated ops from ${NORM_OPS.join(', ')} (default: all)` },
  },
});
const frames = (args.list('frames') ?? ['1', '4']).map(Number);
const iters = args.num('iters', 5);
const only = args.list('only');
checkOnly('op', only, NORM_OPS);
const want = (op: string) => !only || only.includes(op);

const device = await Device.create({ profile: true });
console.log(`adapter: ${device.adapter.description || device.adapter.vendor} (timestamps: ${device.profilingEnabled})`);
const dtypes: DType[] = device.f16 ? ['f32', 'f16'] : ['f32'];

/** Disposes every tensor of a backward's result (the time loop's run() returns one tensor). */
function all(r: NormBackwardResult): Tensor {
  for (const t of [r.dweight, r.dbias, r.dscale, r.dshift]) if (t && t !== r.dx) t.dispose();
  return r.dx;
}

async function time(label: string, bytes: number, run: () => Tensor): Promise<void> {
  run().dispose(); // compile + warm up
  await device.sync();
  await device.takeProfile();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) run().dispose();
  await device.sync();
  const wall = (performance.now() - t0) / iters;
  const prof = await device.takeProfile();
  const gpu = prof.length ? prof.reduce((a, p) => a + p.ms, 0) / iters : wall;
  console.log(`${label.padEnd(58)} ${gpu.toFixed(2).padStart(9)} ms  ${(bytes / gpu / 1e6).toFixed(2).padStart(7)} GB/s  (wall ${wall.toFixed(1)} ms)`);
}

function filled(shape: number[], dtype: DType): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 2 + 0.5;
  return Tensor.from(device, data, shape, dtype);
}

const bpe = (d: DType) => (d === 'f16' ? 2 : 4);
for (const dtype of dtypes) {
  for (const f of frames) {
    const shape = [f, 1629, 1536];
    const x = filled(shape, dtype);
    const sc = filled([1536], dtype);
    const sh = filled([1536], dtype);
    const bytes = 2 * x.numel * bpe(dtype);
    for (const v of want('layernorm') ? variants('layernorm', device) : []) {
      await time(`layernorm+mod ${v.name} ${dtype} [${shape}]`, bytes, () => layerNorm(x, { eps: 1e-6, modulation: { scale: sc, shift: sh }, variant: v.name }));
    }
    for (const v of want('softmax') ? variants('softmax', device) : []) {
      await time(`softmax ${v.name} ${dtype} [${shape}]`, bytes, () => softmax(x, -1, { variant: v.name }));
    }
    // Backwards: dx pass reads x, dy and writes dx; the partials pass reads x and dy again (5 tensor passes).
    for (const v of want('layernorm_backward') ? variants('layernorm_backward', device) : []) {
      await time(`layernorm+mod backward ${v.name} ${dtype} [${shape}]`, (5 / 2) * bytes,
        () => all(layerNormBackward(x, x, { eps: 1e-6, modulation: { scale: sc, shift: sh }, variant: v.name })));
    }
    for (const v of want('softmax_backward') ? variants('softmax_backward', device) : []) {
      await time(`softmax backward ${v.name} ${dtype} [${shape}]`, (3 / 2) * bytes, () => softmaxBackward(x, x, -1, { variant: v.name }));
    }
    x.dispose();
  }
  {
    const x = filled([256, 4096], dtype);
    const w = filled([4096], dtype);
    for (const v of want('rmsnorm') ? variants('rmsnorm', device) : []) {
      await time(`rmsnorm ${v.name} ${dtype} [256,4096]`, 2 * x.numel * bpe(dtype), () => rmsNorm(x, w, 1e-6, { variant: v.name }));
    }
    for (const v of want('rmsnorm_backward') ? variants('rmsnorm_backward', device) : []) {
      await time(`rmsnorm backward ${v.name} ${dtype} [256,4096]`, 5 * x.numel * bpe(dtype), () => all(rmsNormBackward(x, x, w, 1e-6, { variant: v.name })));
    }
    for (const v of want('reduce') ? variants('reduce', device) : []) {
      await time(`sum ${v.name} ${dtype} [256,4096] (read only)`, x.numel * bpe(dtype), () => reduce('sum', x, { variant: v.name }));
    }
    x.dispose();
  }
  {
    const shape = [512, 108, 192];
    const x = filled(shape, dtype);
    const w = filled([512], dtype);
    const b = filled([512], dtype);
    for (const v of want('groupnorm') ? variants('groupnorm', device) : []) {
      await time(`groupnorm32+silu ${v.name} ${dtype} [${shape}]`, 2 * x.numel * bpe(dtype), () => groupNorm(x, 32, 1e-6, w, b, { silu: true, variant: v.name }));
    }
    x.dispose();
  }
}
device.destroy();
