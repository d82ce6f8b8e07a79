// The runtime: pooled buffers and peak accounting, the pipeline cache, batched submits, typed errors for
// validation failures and limits, per-op timestamps, several devices at once.

import { describe, expect, it } from 'vitest';
import { Device } from '../../../engine/gpu/device.js';
import { GPUValidationError, LimitExceededError, ShapeError } from '../../../engine/gpu/errors.js';
import { sizeClass } from '../../../engine/gpu/pool.js';
import { registerShaderSources } from '../../../engine/gpu/shader-source.js';
import { elementwise } from '../../../engine/ops/elementwise.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDevice } from '../../helpers/gpu.js';

describe('buffer pool', () => {
  it('rounds to size classes within 12.5%', () => {
    for (const n of [1, 255, 256, 1000, 4097, 1e6, 3e8]) {
      const c = sizeClass(n);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c % 4).toBe(0);
      if (n > 2048) expect(c / n).toBeLessThanOrEqual(1.126);
    }
  });

  it('reuses freed buffers and tracks live and peak bytes', async () => {
    const d = await testDevice();
    const s = d.pool.stats;
    const live0 = s.liveBytes;
    d.pool.resetPeak();
    const a = Tensor.empty(d, [1000]);
    const b = Tensor.empty(d, [1000]);
    expect(s.liveBytes - live0).toBe(2 * sizeClass(4000));
    a.dispose();
    b.dispose();
    expect(s.liveBytes).toBe(live0);
    expect(s.peakBytes - live0).toBe(2 * sizeClass(4000));
    const reused = s.reused;
    const c = Tensor.empty(d, [990]);
    expect(s.reused).toBe(reused + 1);
    c.dispose();
  });

  it('shares storage between reshape views until both are disposed', async () => {
    const d = await testDevice();
    const a = Tensor.from(d, [1, 2, 3, 4, 5, 6], [2, 3]);
    const v = a.reshape([3, 2]);
    a.dispose();
    expect(Array.from(await v.read())).toEqual([1, 2, 3, 4, 5, 6]);
    v.dispose();
    expect(() => v.buffer).toThrow(/after dispose/);
    expect(() => a.reshape([6])).toThrow(/disposed/);
  });
});

describe('dispatch', () => {
  it('caches pipelines per kernel and defines', async () => {
    const d = await testDevice();
    const x = Tensor.from(d, [1, 2, 3], [3]);
    elementwise('silu', [x]).dispose();
    const compiled = d.counters.pipelinesCompiled;
    elementwise('silu', [x]).dispose();
    expect(d.counters.pipelinesCompiled).toBe(compiled);
    elementwise('exp', [x]).dispose();
    expect(d.counters.pipelinesCompiled).toBe(compiled + 1);
    await d.sync();
  });

  it('batches many dispatches per submit', async () => {
    const d = await Device.create({ label: 'batch', maxDispatchesPerSubmit: 64 });
    const x = Tensor.from(d, new Float32Array(37).fill(1), [37]);
    const submits = d.counters.submits;
    let y = x;
    for (let i = 0; i < 200; i++) y = elementwise('scale', [y], { alpha: 1, beta: 1 });
    expect(d.counters.submits - submits).toBe(3); // 200 dispatches at 64 per submit
    const got = await y.read();
    expect(got.every((v) => v === 201)).toBe(true);
    d.destroy();
  });

  it('turns WebGPU validation errors into typed errors naming the op and shapes', async () => {
    registerShaderSources({
      'test_bad_binding.wgsl': '@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = 1.0; }',
    });
    const d = await Device.create({ label: 'errors' });
    const t = Tensor.empty(d, [7]);
    // Binding 0 is given where the shader declares binding 1: a validation error, reported at sync().
    expect(() => d.dispatch({ op: 'bad_op', kernel: 'test_bad_binding', bindings: [t], workgroups: [1] })).not.toThrow();
    const err = await d.sync().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(GPUValidationError);
    expect(String((err as Error).message)).toMatch(/bad_op f32\[7\]/);
    d.destroy();
  });

  it('refuses bindings over the storage-binding limit with the limit named', async () => {
    const d = await testDevice();
    const t = Tensor.empty(d, [64]);
    const big = { buffer: t.buffer, byteLength: d.caps.maxStorageBufferBindingSize + 4, shape: [1, 2] };
    expect(() => d.dispatch({ op: 'huge', kernel: 'elementwise', bindings: [big], workgroups: [1] })).toThrow(LimitExceededError);
    expect(() => d.dispatch({ op: 'huge', kernel: 'elementwise', bindings: [big], workgroups: [1] })).toThrow(/maxStorageBufferBindingSize/);
    expect(() => Tensor.empty(d, [d.caps.maxBufferSize, 2])).toThrow(ShapeError);
    t.dispose();
  });

  it('records per-op GPU time with timestamp queries', async () => {
    const probe = await testDevice();
    if (!probe.caps.timestampQuery) return;
    const d = await Device.create({ label: 'profile', profile: true });
    const x = Tensor.from(d, new Float32Array(4096).fill(2), [4096]);
    elementwise('exp', [x]);
    elementwise('silu', [x]);
    await d.sync();
    const prof = await d.takeProfile();
    expect(prof.map((p) => p.op)).toEqual(['exp', 'silu']);
    for (const p of prof) expect(p.ms).toBeGreaterThanOrEqual(0);
    d.destroy();
  });

  it('drives several devices at once', async () => {
    const devs = await Device.createMany(3, { label: 'multi' });
    const outs = devs.map((d, i) => elementwise('scale', [Tensor.from(d, [1, 2, 3], [3])], { alpha: i + 1 }));
    const got = await Promise.all(outs.map((o) => o.read()));
    expect(got.map((g) => Array.from(g))).toEqual([[1, 2, 3], [2, 4, 6], [3, 6, 9]]);
    devs.forEach((d) => d.destroy());
  });
});
