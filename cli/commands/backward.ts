// `parallax backward`: one training forward/backward of the transformer (engine/train/vchitect-backward.ts) on the
// GPU in f32 with loss = mean((sample - target)^2); writes every parameter's gradient under its checkpoint name, the
// gradient of hidden_states and the loss to a safetensors file (for comparison with PyTorch autograd).
import type { Command } from 'commander';
import { openCheckpointParts, validateTransformer } from '../../engine/io/checkpoint.js';
import { openSafetensors, writeSafetensors, type WriteTensor } from '../../engine/io/safetensors.js';
import { LN_EPS } from '../../engine/model/vchitect.js';
import { Tensor } from '../../engine/tensor.js';
import { compareGradients, GRAD_TOLERANCE } from '../../engine/train/grad-compare.js';
import { disposeModelSaved, modelBackward, modelForward } from '../../engine/train/vchitect-backward.js';
import { fmtMs, requireModelDir } from '../options.js';

/** loss = mean((sample - target)^2) in float64 and its gradient 2 (sample - target) / N. */
export function mseLoss(sample: ArrayLike<number>, target: ArrayLike<number>): { loss: number; dOut: Float32Array } {
  if (sample.length !== target.length) throw new Error(`target has ${target.length} values but the sample has ${sample.length}: give target the shape of hidden_states`);
  const n = sample.length;
  const dOut = new Float32Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = sample[i]! - target[i]!;
    s += d * d;
    dOut[i] = (2 * d) / n;
  }
  return { loss: s / n, dOut };
}

export function registerBackward(program: Command): void {
  program.command('backward')
    .description('one transformer forward/backward on the GPU (f32): loss = mean((sample - target)^2); writes each parameter\'s gradient under its checkpoint name, "hidden_states" (its gradient) and "loss" [1]')
    .requiredOption('--model <dir>', 'diffusers folder (only transformer/ is read), or a transformer folder itself')
    .requiredOption('--inputs <file.safetensors>', 'hidden_states [1,F,C,H,W], timestep [1], encoder_hidden_states [1,T,J], pooled_projections [1,P], target [1,F,C,H,W] (any float dtype)')
    .requiredOption('--out <file.safetensors>', 'output file of F32 gradients')
    .option('--compare <ref.safetensors>', `compare with reference gradients of the same names (e.g. bench/torch_vchitect_grad.py's): relative L2 over all (must be <= ${GRAD_TOLERANCE.overall}) and per tensor against max(its norm, 1% of the mean tensor norm) (<= ${GRAD_TOLERANCE.perTensor}); exits 1 when outside`)
    .action(async (o: { model: string; inputs: string; out: string; compare?: string }) => {
      await requireModelDir(o.model);
      const ckpt = await openCheckpointParts(o.model, ['transformer'], '`parallax backward`');
      const { Device } = await import('../../engine/gpu/device.js');
      const device = await Device.create({ label: 'backward' });
      const params = new Map<string, Tensor>();
      try {
        const sub = ckpt.transformer!;
        const d = validateTransformer(sub);
        for (const k of sub.weights.keys()) params.set(k, Tensor.from(device, await sub.weights.readFloat32(k), [...sub.weights.info(k).shape], 'f32'));
        const r = await openSafetensors(o.inputs);
        const read = async (name: string, want: number[]) => {
          if (!r.has(name)) throw new Error(`${o.inputs}: missing tensor "${name}" (expected shape [${want.map((x) => (x < 0 ? 'N' : x)).join(',')}]; has ${r.keys().join(', ') || 'none'})`);
          const shape = [...r.info(name).shape];
          if (shape.length !== want.length || want.some((x, i) => x >= 0 && x !== shape[i])) {
            throw new Error(`${o.inputs}: tensor "${name}" has shape [${shape.join(',')}], expected [${want.map((x) => (x < 0 ? 'N' : x)).join(',')}]`);
          }
          return { shape, data: Float32Array.from(await r.readFloat32(name)) };
        };
        let hs, ts, ehs, pooled, target;
        try {
          hs = await read('hidden_states', [1, -1, d.inChannels, -1, -1]);
          ts = await read('timestep', [1]);
          ehs = await read('encoder_hidden_states', [1, -1, d.jointAttentionDim]);
          pooled = await read('pooled_projections', [1, d.pooledProjectionDim]);
          target = await read('target', hs.shape);
        } finally {
          await r.close();
        }
        const t0 = performance.now();
        const inp = {
          hidden: Tensor.from(device, hs.data, hs.shape, 'f32'),
          timestep: Tensor.from(device, ts.data, [1], 'f32'),
          context: Tensor.from(device, ehs.data, ehs.shape, 'f32'),
          pooled: Tensor.from(device, pooled.data, pooled.shape, 'f32'),
        };
        const { out, saved } = modelForward(params, { numLayers: d.numLayers, heads: d.heads, patchSize: d.patchSize, eps: LN_EPS }, inp);
        const { loss, dOut } = mseLoss(await out.read(), target.data);
        const dO = Tensor.from(device, dOut, out.shape, 'f32');
        const { grads, dHidden } = modelBackward(saved, dO);
        const tensors: Record<string, WriteTensor> = {};
        for (const [k, g] of grads) tensors[k] = { dtype: 'F32', shape: [...g.shape], data: Float32Array.from(await g.read()) };
        tensors.hidden_states = { dtype: 'F32', shape: hs.shape, data: Float32Array.from(await dHidden.read()) };
        tensors.loss = { dtype: 'F32', shape: [1], data: Float32Array.of(loss) };
        const ms = performance.now() - t0;
        for (const g of grads.values()) g.dispose();
        disposeModelSaved(saved);
        for (const t of [out, dO, dHidden, ...Object.values(inp)]) t.dispose();
        await writeSafetensors(o.out, tensors);
        console.error(`backward ${fmtMs(ms)}: loss ${loss.toPrecision(6)}, ${grads.size} parameter gradients + hidden_states -> ${o.out}`);
        if (o.compare) {
          const ref = await openSafetensors(o.compare);
          const want = new Map<string, Float32Array>();
          try {
            for (const k of ref.keys()) if (k !== 'loss' && k !== 'hidden_states') want.set(k, Float32Array.from(await ref.readFloat32(k)));
          } finally {
            await ref.close();
          }
          const got = new Map(Object.entries(tensors).filter(([k]) => k !== 'loss' && k !== 'hidden_states').map(([k, t]) => [k, t.data as Float32Array]));
          const a = compareGradients(got, want);
          console.log(`against ${o.compare}: relative L2 over all ${a.overall.toExponential(2)} (limit ${GRAD_TOLERANCE.overall}); worst tensors:`);
          for (const x of a.perTensor.slice(0, 5)) console.log(`  ${x.rel.toExponential(2)}  ${x.name} (norm ${x.norm.toExponential(2)})`);
          if (a.missing.length) console.log(`  missing here: ${a.missing.join(', ')}`);
          if (a.extra.length) console.log(`  not in the reference: ${a.extra.join(', ')}`);
          if (!a.ok) {
            console.error(`gradients differ from ${o.compare} beyond the limits (overall ${GRAD_TOLERANCE.overall}, per tensor ${GRAD_TOLERANCE.perTensor})`);
            process.exitCode = 1;
          }
        }
      } finally {
        for (const t of params.values()) t.dispose();
        device.destroy();
        await ckpt.close();
      }
    });
}
