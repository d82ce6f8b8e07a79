// The matmul family's autotuner hooks (engine/ops/tuning.ts): rebuilds a recorded matmul/linear problem on random
// buffers for each candidate variant x tile setting, names the default candidate, and lists the Vchitect-2B
// linear shapes to tune when no model run was recorded. Row counts are not part of the class key (see
// matmulClassKey), so a problem is timed on at most a budget of rows that still fills every tile.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { mulberry32 } from '../mulberry32.js';
import { Tensor } from '../tensor.js';
import { chooseMatmulVariant, matmulClassKey, runMatmul, MATMUL_OP, type Epilogue, type MatmulShape } from './matmul.js';
import { isCpuAdapter } from './row-variants.js';
import { tuneSettings, variants } from './registry.js';
import { registerOpTuner, type Candidate, type TuneProblem } from './tuning.js';

/** A matmul problem as recorded by runMatmul (plain data). */
export interface MatmulTuneProblem {
  shape: MatmulShape;
  da: DType;
  db: DType;
  dout: DType;
  aBatchStride: number;
  bBatchStride: number;
  epilogue: Epilogue;
  bias: boolean;
  residual: boolean;
  gate: boolean;
}

/** Rows to time: the problem's own, capped to ~flopBudget per run (multiples of 128 rows, at least 128). */
export function timedRows(p: MatmulTuneProblem, flopBudget: number): number {
  const { M, N, K } = p.shape;
  if (M <= 4) return M;
  const cap = Math.max(128, Math.floor(flopBudget / (2 * N * K * p.shape.batch) / 128) * 128);
  return Math.min(M, cap);
}

function randomTensor(device: Device, shape: number[], dtype: DType, seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const rnd = mulberry32(seed);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rnd() * 2 - 1;
  return Tensor.from(device, data, shape, dtype);
}

function bench(device: Device, raw: unknown, c: Candidate) {
  const p = raw as MatmulTuneProblem;
  const M = timedRows(p, isCpuAdapter(device) ? 3e8 : 3e10);
  const { N, K, batch, bNK } = p.shape;
  const aItems = p.aBatchStride ? batch : 1;
  const bItems = p.bBatchStride ? batch : 1;
  const a = randomTensor(device, [aItems * M * K], p.da, 1);
  const b = randomTensor(device, [bItems * K * N], p.db, 2);
  const out = Tensor.empty(device, [batch * M * N], p.dout);
  const bias = p.bias ? randomTensor(device, [N], p.db, 3) : undefined;
  const residual = p.residual ? randomTensor(device, [batch * M * N], p.dout, 4) : undefined;
  const gate = p.gate ? randomTensor(device, [N], p.dout, 5) : undefined;
  const shape: MatmulShape = { M, N, K, batch, bNK };
  return {
    run: () => runMatmul({
      op: 'tune', a, b, out, shape, aBatchStride: p.aBatchStride ? M * K : 0, bBatchStride: p.bBatchStride ? K * N : 0,
      bias, epilogue: p.epilogue, residual, gate, gateRows: M, variant: c.variant, settings: c.settings,
    }),
    dispose: () => [a, b, out, bias, residual, gate].forEach((t) => t?.dispose()),
  };
}

function describe(raw: unknown): string {
  const p = raw as MatmulTuneProblem;
  const s = p.shape;
  return `M=${s.M} K=${s.K} N=${s.N}${s.batch > 1 ? ` x${s.batch}` : ''} ${s.bNK ? 'a@b^T' : 'a@b'} ${p.da === p.db ? p.da : `${p.da}x${p.db}`}`;
}

/** The candidate an untuned run picks (its defaults restricted to the names of its tuning space). */
export function matmulDefaultCandidate(device: Device, tp: TuneProblem): Candidate | undefined {
  const p = tp.problem as MatmulTuneProblem;
  const { variant, defines } = chooseMatmulVariant(device, p.shape);
  const names = Object.keys(tuneSettings(variant, device)[0] ?? {});
  return { variant: variant.name, settings: Object.fromEntries(names.map((k) => [k, defines[k]!])) };
}

/** A linear problem (w stored [N, K]) as a TuneProblem. */
export function linearTuneProblem(M: number, K: number, N: number, dtype: DType, wdtype: DType = dtype, epilogue: Epilogue = 'none', extra: Partial<Pick<MatmulTuneProblem, 'bias' | 'residual' | 'gate'>> = {}): TuneProblem {
  const problem: MatmulTuneProblem = {
    shape: { M, N, K, batch: 1, bNK: true }, da: dtype, db: wdtype, dout: dtype, aBatchStride: 0, bBatchStride: 0,
    epilogue, bias: extra.bias ?? true, residual: extra.residual ?? false, gate: extra.gate ?? false,
  };
  const epi = `${epilogue}${problem.bias ? '+b' : ''}${problem.residual ? (problem.gate ? '+gr' : '+r') : ''}`;
  return { op: MATMUL_OP, classKey: matmulClassKey(problem.shape, `${dtype}.${wdtype}.${dtype}`, epi), problem };
}

/** Vchitect-2B's linears (D = 1536): attention projections, MLP up (GELU) and down (gated residual), adaLN GEMV. */
function defaults(device: Device, dtype: 'f32' | 'f16'): TuneProblem[] {
  const D = 1536;
  const rows = isCpuAdapter(device) ? 1296 : 6480;
  return [
    linearTuneProblem(rows, D, D, dtype),
    linearTuneProblem(rows, D, 4 * D, dtype, dtype, 'gelu_tanh'),
    linearTuneProblem(rows, 4 * D, D, dtype, dtype, 'none', { residual: true, gate: true }),
    linearTuneProblem(1, D, 6 * D, dtype),
  ];
}

registerOpTuner({
  op: MATMUL_OP,
  kernelOf: (name) => variants<{ kernel: string }>(MATMUL_OP).find((v) => v.name === name)?.spec.kernel,
  bench,
  describe,
  defaults,
});
