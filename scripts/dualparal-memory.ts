// Peak GPU memory and latency per rank of DualParal (runDualParal: the whole block queue) against the video length
// and the rank count N, on a make-tiny checkpoint (default config: 3 layers), latents 16x16 (64 patches), T = 8 text
// tokens, blocks of B = 4 + C = 2 context frames, 2 steps, CFG on, f32. Ranks are in-process, one Dawn device each,
// so each device's pool peak is one rank's. Prints, per length: the wall time of the run and, rank 0 first, the pool
// peak and the peak above the rank's loaded weights and text (activations + K/V cache), in KiB.
//   node --import tsx scripts/dualparal-memory.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { DualParalVchitect } from '../engine/parallel/dualparal.js';
import { blockLayout, splitLayers } from '../engine/parallel/dualparal-plan.js';
import { runDualParal } from '../engine/parallel/dualparal-run.js';
import { Tensor } from '../engine/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'parallax-dpmem-'));
await makeTinyCheckpoint(dir, { seed: 1 });
const ck = await openCheckpoint(dir);
const c = ck.transformer.config;
const [Hl, Wl, T, B, C] = [16, 16, 8, 4, 2];
console.log('blocks  latent frames  N  run (s)  pool peak per rank (KiB)  activations + cache per rank (KiB)');
for (const n of [4, 16, 64]) {
  for (const N of [1, 2, 3]) {
    const devices = await Device.createMany(N, { label: 'rank' });
    const layout = blockLayout(n * B + C, B, C);
    const world = createInProcessWorld(N, { timeoutMs: 600_000 });
    const t0 = performance.now();
    const peaks = await Promise.all(world.map(async (t, r) => {
      const d = devices[r]!;
      const m = await DualParalVchitect.loadPart(d, ck.transformer, splitLayers(c.num_layers, N)[r]!);
      const text = [0.1, 0.2].map((v) => ({
        context: Tensor.from(d, new Float32Array(T * c.joint_attention_dim).fill(v), [1, T, c.joint_attention_dim]),
        pooled: Tensor.from(d, new Float32Array(c.pooled_projection_dim).fill(v), [1, c.pooled_projection_dim]),
      }));
      const loaded = d.pool.stats.liveBytes;
      d.pool.resetPeak();
      await runDualParal(m, N > 1 ? ProcessGroup.world(t) : null, text, {
        layout, steps: 2, shift: 3, numTrainTimesteps: 1000, guidance: 5, guidanceMode: 'constant', seed: 1, latent: { channels: c.in_channels, height: Hl, width: Wl },
      });
      const peak = d.pool.stats.peakBytes;
      text.forEach((x) => [x.context, x.pooled].forEach((y) => y.dispose()));
      m.dispose();
      return [peak, peak - loaded] as const;
    }));
    const secs = (performance.now() - t0) / 1000;
    const kib = (i: 0 | 1) => peaks.map((p) => (p[i] / 1024).toFixed(0)).join(',');
    console.log(`${n}  ${layout.latentFrames}  ${N}  ${secs.toFixed(1)}  ${kib(0)}  ${kib(1)}`);
    await Promise.allSettled(world.map((t) => t.close()));
    devices.forEach((d) => d.destroy());
  }
}
await ck.close();
rmSync(dir, { recursive: true, force: true });
