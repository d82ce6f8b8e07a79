// Peak GPU memory per rank of clip parallelism (ClipParallelVchitect, one transformer forward) against the video
// length F and the rank count N, on a make-tiny checkpoint (default config), latents 16x16 (64 patches), T = 8 text
// tokens, dual-scope p = 2, top-k = 4, f32. Ranks are in-process, one Dawn device each, so each device's pool peak is
// one rank's. Prints the pool peak and the peak above the loaded weights (activations), in KiB, rank 0 first.
//   node --import tsx scripts/clip-memory.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { clipLayout } from '../engine/parallel/clip-layout.js';
import { ClipParallelVchitect } from '../engine/parallel/clip-parallel.js';
import { Tensor } from '../engine/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'parallax-clipmem-'));
await makeTinyCheckpoint(dir, { seed: 1 });
const ck = await openCheckpoint(dir);
const c = ck.transformer.config;
const [Hl, Wl, T] = [16, 16, 8];
console.log('F  N  pool peak per rank (KiB)  activations per rank (KiB)');
for (const F of [16, 32, 64]) {
  for (const N of [1, 2, 4]) {
    const devices = await Device.createMany(N, { label: 'rank' });
    const layout = clipLayout(F, N, { window: 2, topK: 4 });
    const world = createInProcessWorld(N, { timeoutMs: 120_000 });
    const peaks = await Promise.all(world.map(async (t, r) => {
      const d = devices[r]!;
      const m = await ClipParallelVchitect.loadClipParallel(d, ck.transformer, N > 1 ? ProcessGroup.world(t) : null);
      const weights = d.pool.stats.liveBytes;
      d.pool.resetPeak();
      const n = layout.lengths[r]!;
      const hidden = Tensor.from(d, new Float32Array(n * c.in_channels * Hl * Wl).fill(0.1), [1, n, c.in_channels, Hl, Wl]);
      const context = Tensor.from(d, new Float32Array(T * c.joint_attention_dim).fill(0.1), [1, T, c.joint_attention_dim]);
      const pooled = Tensor.from(d, new Float32Array(c.pooled_projection_dim), [1, c.pooled_projection_dim]);
      const out = await m.forwardClips({ hidden, timestep: 500, context, pooled }, layout);
      await out.read();
      const peak = d.pool.stats.peakBytes;
      [out, hidden, context, pooled].forEach((x) => x.dispose());
      m.dispose();
      return [peak, peak - weights] as const;
    }));
    const kib = (i: 0 | 1) => peaks.map((p) => (p[i] / 1024).toFixed(0)).join(',');
    console.log(`${F} ${N}  ${kib(0)}  ${kib(1)}`);
    devices.forEach((d) => d.destroy());
  }
}
await ck.close();
rmSync(dir, { recursive: true, force: true });
