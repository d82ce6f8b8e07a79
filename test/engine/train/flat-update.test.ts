// flat-update.ts: tensorNorms, flatAdamw and flatEma over flat group buffers give exactly the bits of the per-tensor
// kernels (reduce l2norm, adamwStep, emaUpdate tensor by tensor) on awkward shapes, with groups split by a small cap
// and a tensor larger than the cap; planGroups' packing; mismatched tensors named.

import { describe, expect, it } from 'vitest';
import { adamwStep, emaUpdate } from '../../../engine/ops/optim.js';
import { reduce } from '../../../engine/ops/reduce.js';
import { Tensor } from '../../../engine/tensor.js';
import { flatAdamw, flatEma, planGroups, tensorNorms } from '../../../engine/train/flat-update.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const SHAPES = [[7, 5], [3], [16], [1], [9, 13], [4, 4], [61], [2, 2, 3]];
const sameBits = (a: Float32Array, b: Float32Array, what: string) => {
  expect(a.length, what).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const bad = x.findIndex((v, i) => v !== y[i]);
  expect(bad, `${what}: first differing element`).toBe(-1);
};
const tensors = (seed: number, scale = 1, shift = 0) => SHAPES.map((s, i) => {
  const n = s.reduce((a, b) => a * b, 1);
  return Tensor.from(device, normal(n, seed + i, scale).map((z) => z + shift), s, 'f32', `t${i}`);
});
const readAll = (ts: Tensor[]) => Promise.all(ts.map((t) => t.read()));

describe('planGroups', () => {
  it('packs tensors at multiples of 4 up to the cap; a larger tensor gets a group of its own', () => {
    const g = planGroups([5, 3, 8, 100, 2, 2], 20);
    expect(g.map((x) => x.members)).toEqual([[0, 1, 2], [3], [4, 5]]);
    expect(g[0]!.segs).toEqual([{ offset: 0, length: 5 }, { offset: 8, length: 3 }, { offset: 12, length: 8 }]);
    expect(g[0]!.total).toBe(20);
    expect(g[2]!.segs).toEqual([{ offset: 0, length: 2 }, { offset: 4, length: 2 }]);
  });
});

describe('flat optimizer updates against the per-tensor kernels', () => {
  for (const cap of [40, 1 << 18]) {
    it(`tensorNorms: the bits of reduce('l2norm') per tensor (group cap ${cap})`, async () => {
      const g = tensors(1);
      const want = await Promise.all(g.map((t) => reduce('l2norm', t, { axis: 'all' }).read()));
      const got = await tensorNorms(g, cap).read();
      sameBits(got, Float32Array.from(want.map((w) => w[0]!)), 'norms');
    });

    it(`flatAdamw and flatEma: the bits of adamwStep and emaUpdate per tensor, two steps (group cap ${cap})`, async () => {
      const decay = SHAPES.map((s) => s.length >= 2);
      const mk = () => ({ p: tensors(10), m: tensors(20, 0.1), v: tensors(30, 0.01).map((t) => t), e: tensors(40) });
      // v must be >= 0: square it on the host
      const a = mk(), b = mk();
      for (const side of [a, b]) {
        side.v = await Promise.all(side.v.map(async (t, i) => Tensor.from(device, (await t.read()).map((x) => x * x), SHAPES[i]!, 'f32')));
      }
      const grads = tensors(50, 0.5);
      const norm = Tensor.from(device, [3.7], [1], 'f32');
      for (const step of [1, 2]) {
        const o = { lr: 1e-3, step, weightDecay: 0.1, clip: 1, norm };
        SHAPES.forEach((_, i) => adamwStep(a.p[i]!, grads[i]!, a.m[i]!, a.v[i]!, { ...o, weightDecay: decay[i] ? 0.1 : 0 }));
        SHAPES.forEach((_, i) => emaUpdate(a.e[i]!, a.p[i]!, 0.9));
        flatAdamw(SHAPES.map((_, i) => ({ param: b.p[i]!, grad: grads[i]!, m: b.m[i]!, v: b.v[i]!, decay: decay[i]! })), o, cap);
        flatEma(SHAPES.map((_, i) => ({ ema: b.e[i]!, param: b.p[i]! })), 0.9, cap);
      }
      for (const k of ['p', 'm', 'v', 'e'] as const) {
        const [x, y] = [await readAll(a[k]), await readAll(b[k])];
        x.forEach((xi, i) => sameBits(y[i]!, xi, `${k} of tensor ${i} [${SHAPES[i]!.join(', ')}]`));
      }
      // and the update did something
      expect((await readAll(b.p))[0]).not.toEqual((await readAll(tensors(10)))[0]);
    });
  }

  it('names a moment that does not match its parameter', () => {
    const [p, g, m] = tensors(1);
    expect(() => flatAdamw([{ param: p!, grad: p!, m: g!, v: p!, decay: true }], { lr: 1, step: 1 })).toThrow(/t1 \[3\] does not match its parameter t0 \[7, 5\]/);
    expect(() => flatEma([{ ema: m!, param: p! }], 0.9)).toThrow(/does not match its parameter \[7, 5\]/);
  });
});

describe('flatAddInto and addGrads', () => {
  it('sums in place with the bits of add() per tensor; a gradient sharing its buffer with another gets a new tensor', async () => {
    const { addGrads } = await import('../../../engine/train/update.js');
    const { add } = await import('../../../engine/ops/elementwise.js');
    const a = tensors(60), b = tensors(70);
    const want = await Promise.all(a.map((t, i) => add(t, b[i]!).read()));
    const acc = new Map(a.map((t, i) => [`p${i}`, t]));
    // p8 is a view of p0's buffer: it must not be summed in place
    const view = a[0]!.reshape([35]);
    acc.set('p8', view);
    const extra = Tensor.from(device, normal(35, 99), [35], 'f32');
    const g = new Map([...b.map((t, i) => [`p${i}`, t] as const), ['p8', extra] as const, ['new', Tensor.zeros(device, [2], 'f32')] as const]);
    const viewWant = await add(view, extra).read();
    addGrads(acc, g);
    for (const [i, w] of want.entries()) if (i !== 0) sameBits(await acc.get(`p${i}`)!.read(), w, `p${i}`);
    sameBits(await acc.get('p8')!.read(), viewWant, 'the view');
    sameBits(await acc.get('p0')!.read(), want[0]!, 'the tensor the view shares');
    expect(acc.has('new')).toBe(true);
    expect(b[1]!.disposed, 'the added gradients are disposed').toBe(true);
  });
});
