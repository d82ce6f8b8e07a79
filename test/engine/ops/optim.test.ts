// AdamW and EMA kernels against their float64 references: several steps, element ranges (untouched outside),
// weight decay on and off, the global-norm clip read from the GPU, awkward sizes, bad arguments.
import { describe, expect, it } from 'vitest';
import { l2norm } from '../../../engine/ops/reduce.js';
import { ADAMW_DEFAULTS, adamwStep, emaUpdate } from '../../../engine/ops/optim.js';
import { adamwRef, emaRef } from '../../../engine/ops/optim.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const f32s = (a: ArrayLike<number>) => Float64Array.from(a, (x) => Math.fround(x));

describe('adamw', () => {
  for (const c of [
    { name: 'all elements, weight decay, no clip', n: 1237, start: 0, count: undefined as number | undefined, wd: 1e-2, clip: 0 },
    { name: 'a range of a flat buffer, no decay', n: 1000, start: 213, count: 517, wd: 0, clip: 0 },
    { name: 'clipped by the global norm computed on the GPU', n: 777, start: 0, count: undefined, wd: 1e-4, clip: 0.5 },
    { name: 'clip threshold above the norm leaves the gradient as it is', n: 301, start: 5, count: 290, wd: 1e-4, clip: 1e6 },
  ]) {
    it(c.name, async () => {
      const device = await testDevice();
      const p0 = f32s(normal(c.n, 1)), m0 = new Float64Array(c.n), v0 = new Float64Array(c.n);
      const ref = { param: Float64Array.from(p0), m: Float64Array.from(m0), v: Float64Array.from(v0) };
      const param = Tensor.from(device, p0, [c.n]), m = Tensor.zeros(device, [c.n]), v = Tensor.zeros(device, [c.n]);
      for (let step = 1; step <= 3; step++) {
        const g = f32s(normal(c.n, 10 + step, 0.3));
        const grad = Tensor.from(device, g, [c.n]);
        const norm = c.clip ? l2norm(grad, { axis: 'all' }) : undefined;
        adamwStep(param, grad, m, v, { lr: 1e-2, step, weightDecay: c.wd, clip: c.clip, norm, start: c.start, count: c.count });
        let n2 = 0;
        for (const x of g) n2 += x * x;
        adamwRef(ref, g, { ...ADAMW_DEFAULTS, lr: 1e-2, step, weightDecay: c.wd, clip: c.clip, norm: Math.sqrt(n2), start: c.start, count: c.count });
        grad.dispose();
        norm?.dispose();
      }
      const [gp, gm, gv] = [await param.read(), await m.read(), await v.read()];
      expectClose(gp, ref.param, { rtol: 1e-6, atol: 1e-6 }, 'param');
      expectClose(gm, ref.m, { rtol: 1e-5, atol: 1e-7 }, 'm');
      expectClose(gv, ref.v, { rtol: 1e-5, atol: 1e-9 }, 'v');
      // Outside the range nothing moved (bit for bit).
      const end = c.start + (c.count ?? c.n - c.start);
      for (let i = 0; i < c.n; i++) if (i < c.start || i >= end) expect([gp[i], gm[i], gv[i]], `element ${i}`).toEqual([Math.fround(p0[i]!), 0, 0]);
      // The clipped case really clipped (the unclipped update would differ).
      if (c.clip === 0.5) {
        const unclipped = { param: Float64Array.from(p0), m: new Float64Array(c.n), v: new Float64Array(c.n) };
        adamwRef(unclipped, f32s(normal(c.n, 11, 0.3)), { ...ADAMW_DEFAULTS, lr: 1e-2, step: 1, weightDecay: c.wd });
        expect(Math.abs(unclipped.m[0]! - ref.m[0]!)).toBeGreaterThan(0);
      }
      for (const t of [param, m, v]) t.dispose();
    });
  }

  it('refuses mismatched sizes, ranges outside, f16 state, a clip without a norm', async () => {
    const device = await testDevice();
    const a = Tensor.zeros(device, [10]), b = Tensor.zeros(device, [9]), h = Tensor.zeros(device, [10], device.f16 ? 'f16' : 'u32');
    expect(() => adamwStep(a, b, a, a, { lr: 1, step: 1 })).toThrow(/must have 10 elements/);
    expect(() => adamwStep(a, a, a, a, { lr: 1, step: 1, start: 4, count: 7 })).toThrow(/range \[4, 11\) is outside/);
    expect(() => adamwStep(h, a, a, a, { lr: 1, step: 1 })).toThrow(/f32 \(master weights\)/);
    expect(() => adamwStep(a, a, a, a, { lr: 1, step: 1, clip: 1 })).toThrow(/needs the global gradient norm/);
    expect(() => adamwStep(a, a, a, a, { lr: 1, step: 0 })).toThrow(/step must be an integer >= 1/);
    for (const t of [a, b, h]) t.dispose();
  });
});

describe('ema', () => {
  it('matches the reference over a range and leaves the rest untouched', async () => {
    const device = await testDevice();
    const n = 1031, e0 = f32s(normal(n, 3)), p = f32s(normal(n, 4));
    const ema = Tensor.from(device, e0, [n]), param = Tensor.from(device, p, [n]);
    const ref = Float64Array.from(e0);
    for (const decay of [0.5, 0.9, 0.9999]) {
      emaUpdate(ema, param, decay, 17, 1000);
      emaRef(ref, p, decay, 17, 1000);
    }
    expectClose(await ema.read(), ref, { rtol: 1e-6, atol: 1e-7 }, 'ema');
    // With decay 0.9999 the step is (1 - decay) = 1e-4 of the difference: it must move by that, not by f32's 1.00017e-4.
    const e1 = Tensor.from(device, [0], [1]), p1 = Tensor.from(device, [1], [1]);
    emaUpdate(e1, p1, 0.9999);
    expect(Math.abs((await e1.read())[0]! - 1e-4)).toBeLessThan(1e-9);
    e1.dispose();
    p1.dispose();
    expect(() => emaUpdate(ema, param, 1.5)).toThrow(/decay must be in \[0, 1\]/);
    ema.dispose();
    param.dispose();
  });
});
