// Portable kernel checks that run unchanged in Node and in the browser: each runs an op on random data and
// compares it with the op's float64 reference. The browser suite (test/browser) runs this list in Chromium.

import type { Device } from '../../engine/gpu/device.js';
import { ELEMENTWISE_ARITY, ELEMENTWISE_EXPR, elementwise, type ElementwiseOp } from '../../engine/ops/elementwise.js';
import { elementwiseRef } from '../../engine/ops/elementwise.ref.js';
import { Tensor } from '../../engine/tensor.js';
import { normal } from '../helpers/random.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Check {
  name: string;
  run(device: Device): Promise<CheckResult>;
}

/** Worst error relative to the reference's largest magnitude; NaN counts as infinite. */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxRef = Math.max(maxRef, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!);
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
  }
  return maxErr / (maxRef || 1);
}

export function verdict(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number): CheckResult {
  const err = got.length === want.length ? maxRelError(got, want) : Infinity;
  return { name, ok: err <= rtol, detail: `max rel err ${err.toExponential(2)} (limit ${rtol})` };
}


// [5, 43] takes the scalar path, [6, 20] the vec4 path.
const elementwiseChecks: Check[] = ([[5, 43], [6, 20]] as const).flatMap(([r, d]) => (Object.keys(ELEMENTWISE_EXPR) as ElementwiseOp[]).map((op) => ({
  name: `elementwise ${op} f32 [${r},${d}]`,
  async run(device: Device) {
    const n = r * d;
    const sizes = [n, d, n].slice(0, ELEMENTWISE_ARITY[op]);
    const data = sizes.map((s, i) => Float64Array.from(normal(s, 7 + i), Math.fround));
    const ins = data.map((x, i) => Tensor.from(device, x, i === 0 ? [r, d] : [x.length]));
    const out = Tensor.empty(device, [r, d]).poison();
    elementwise(op, ins, { alpha: 1.25, beta: 0.5, out });
    const got = await out.read();
    return verdict(`elementwise ${op} f32 [${r},${d}]`, got, elementwiseRef(op, data, 1.25, 0.5), op === 'exp' ? 1e-5 : 2e-6);
  },
})));

export const portableChecks: Check[] = [...elementwiseChecks];
