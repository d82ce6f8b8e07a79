// linear_dw (dw = dz^T x and db = column sums of dz, engine/ops/linear-dw.ts) against float64 sums: every variant x
// dtype on awkward shapes (K and N not multiples of 4, one row, one column, more rows than a tile), every value of
// every tuning setting, poisoned outputs, no bias, bit-identical reruns, and the choice rule.
import { describe, expect, it } from 'vitest';
import { chooseLinearDwVariant, linearDwVariants, linearWeightGrad } from '../../../engine/ops/linear-dw.js';
import { isCpuAdapter } from '../../../engine/ops/row-variants.js';
import type { TuneSettings, TuneValue } from '../../../engine/ops/registry.js';
import type { DType } from '../../../engine/dtype.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dtypes = await testDTypes();
/** [M, N, K] */
const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 5, 3], [65, 63, 67], [130, 9, 129], [3, 131, 64], [1, 384, 64], [33, 17, 68]];

let seed = 1;
async function check(variant: string, dtype: DType, M: number, N: number, K: number, bias: boolean, settings?: TuneSettings): Promise<void> {
  const dz = upload(device, normal(M * N, seed++), [M, N], dtype);
  const x = upload(device, normal(M * K, seed++), [M, K], dtype);
  const dwOut = Tensor.empty(device, [N, K], 'f32').poison();
  const dbOut = Tensor.empty(device, [N], 'f32').poison();
  const g = linearWeightGrad(dz.t, x.t, { variant, settings, bias, dwOut, dbOut: bias ? dbOut : undefined });
  const wantW = new Float64Array(N * K);
  const wantB = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const g0 = dz.stored[m * N + n]!;
      wantB[n] += g0;
      for (let k = 0; k < K; k++) wantW[n * K + k] += g0 * x.stored[m * K + k]!;
    }
  }
  const t = tol(dtype, Math.max(1, Math.sqrt(M) / 2));
  const label = `${variant} ${dtype} M=${M} N=${N} K=${K}${settings ? ` ${JSON.stringify(settings)}` : ''}`;
  expect(g.dw).toBe(dwOut);
  expectClose(await g.dw.read(), wantW, t, `${label} dw`);
  if (bias) expectClose(await g.db!.read(), wantB, t, `${label} db`);
  else expect(g.db).toBeUndefined();
  // Bit-identical rerun.
  const g2 = linearWeightGrad(dz.t, x.t, { variant, settings, bias });
  expect(Buffer.from(await g2.dw.readRaw()).equals(Buffer.from(await g.dw.readRaw())), `${label} rerun dw`).toBe(true);
  if (bias) expect(Buffer.from(await g2.db!.readRaw()).equals(Buffer.from(await g.db!.readRaw())), `${label} rerun db`).toBe(true);
  for (const x2 of [dz.t, x.t, dwOut, dbOut, g2.dw, g2.db]) x2?.dispose();
}

describe('linear_dw', () => {
  for (const v of linearDwVariants(device)) {
    for (const dtype of dtypes) {
      it(`${v.name} ${dtype} awkward shapes, with and without bias`, async () => {
        for (const [i, [M, N, K]] of SHAPES.entries()) await check(v.name, dtype, M, N, K, i % 3 !== 1);
      });
    }
    const p = v.tune?.params;
    const space = !p ? {} : typeof p === 'function' ? p(device) : p;
    for (const [k, vals] of Object.entries(space) as [string, readonly TuneValue[]][]) {
      for (const val of vals) {
        if ((v.spec.defines as Record<string, TuneValue> | undefined)?.[k] === val) continue;
        it(`${v.name} [${k}=${val}] awkward shapes`, async () => {
          for (const [M, N, K] of [[65, 63, 67], [9, 20, 132], [2, 3, 5]] as const) await check(v.name, 'f32', M, N, K, true, { [k]: val });
        });
      }
    }
  }

  it("picks the one-pass kernel on CPU adapters and the matmul path on GPUs; names what is wrong", () => {
    expect(linearDwVariants(device).map((v) => v.name)).toEqual(expect.arrayContaining(['linear_dw_regs', 'linear_dw_matmul']));
    expect(chooseLinearDwVariant(device).name).toBe(isCpuAdapter(device) ? 'linear_dw_regs' : 'linear_dw_matmul');
    expect(chooseLinearDwVariant(device, 'linear_dw_matmul').name).toBe('linear_dw_matmul');
    expect(() => chooseLinearDwVariant(device, 'nope')).toThrow(/No variant 'nope' of op linear_dw; known: /);
    const dz = Tensor.zeros(device, [4, 3]);
    expect(() => linearWeightGrad(dz, Tensor.zeros(device, [5, 2]))).toThrow(/must be \[M, N\] and \[M, K\] with the same M/);
    expect(() => linearWeightGrad(dz, Tensor.zeros(device, [4, 2]), { dwOut: Tensor.zeros(device, [2, 3]) })).toThrow(/dwOut is \[2, 3\] f32, expected \[3, 2\] f32/);
  });
});
