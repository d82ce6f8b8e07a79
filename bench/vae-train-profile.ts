// Per-op profile of one VAE training step (not a test): the default make-tiny AutoencoderKL (or --blocks), batch N
// of HxW random images, f32; each dispatch timed alone (DeviceOptions.profile), conv2d split by shape and by
// forward / dX / dW; --plain times whole steps without the profile (wall and CPU seconds of this process, which
// include lavapipe's threads). Run: node --import tsx bench/vae-train-profile.ts [--batch 8] [--size 64]
// [--blocks 16,16,32,32] [--steps 2] [--plain]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, type DispatchSpec } from '../engine/gpu/device.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { Tensor } from '../engine/tensor.js';
import { TrainState } from '../engine/train/update.js';
import { vaeTrainStep } from '../engine/train/vae-train-step.js';
import { parseBenchArgs } from './cli.js';

const args = parseBenchArgs({
  command: 'node --import tsx bench/vae-train-profile.ts',
  summary: 'Per-op GPU time of one VAE training step (make-tiny AutoencoderKL), conv2d split by shape and pass. Writes no file.',
  options: {
    batch: { type: 'string', value: 'N', help: 'images per step (default 8)' },
    size: { type: 'string', value: 'PX', help: 'image height = width (default 64)' },
    blocks: { type: 'string', value: 'C,C,..', help: 'block_out_channels (default the make-tiny 16,16,32,32)' },
    steps: { type: 'string', value: 'S', help: 'profiled steps after one warm-up step (default 1)' },
    plain: { type: 'boolean', help: 'no per-dispatch profile: wall and CPU time per step only' },
  },
});
const N = Number(args.str('batch') ?? 8);
const S = Number(args.str('size') ?? 64);
const steps = Number(args.str('steps') ?? 1);
const blocks = args.list('blocks')?.map(Number);
const dir = mkdtempSync(join(tmpdir(), 'parallax-vae-prof-'));
const cfg = (await makeTinyCheckpoint(dir, { seed: 3, vae: blocks ? { block_out_channels: blocks } : {} })).vae;
const plain = args.flag('plain');
const device = await Device.create({ label: 'vae-prof', profile: !plain });
const ckpt = await openCheckpoint(dir);
const params = new Map<string, Tensor>();
for (const k of ckpt.vae.weights.keys()) params.set(k, Tensor.from(device, await ckpt.vae.weights.readFloat32(k), [...ckpt.vae.weights.info(k).shape], 'f32'));
await ckpt.close();
rmSync(dir, { recursive: true, force: true });
const img = new Float32Array(N * 3 * S * S);
for (let i = 0; i < img.length; i++) img[i] = Math.sin(i * 0.37) * 0.9;
const images = Tensor.from(device, img, [N, 3, S, S], 'f32');
const state = new TrainState(params);

// Key each conv dispatch by its shape from the params (conv2d: Cin,H,W,Cout,Ho,Wo,stride; backward: N,Cin,H,W,Cout,Ho,Wo,stride).
const keys: string[] = [];
const orig = device.dispatch.bind(device);
device.dispatch = (spec: DispatchSpec) => {
  const d = spec.defines ?? {};
  const pv = (spec.params ?? []).map((f) => Object.values(f)[0] as number);
  let key = spec.op;
  if (spec.op === 'conv2d') key = `conv fwd ${pv[0]}->${pv[3]} ${pv[1]}x${pv[2]}${d.UPSAMPLE ? ' up' : ''} s${pv[6]} k${d.KH}`;
  else if (spec.op === 'conv2d_backward' && spec.kernel === 'colsum') key = 'conv dW finish (colsum)';
  else if (spec.op === 'conv2d_backward' && (d.DX || d.DW)) key = `conv ${d.DX ? 'dX' : 'dW'} ${pv[1]}->${pv[4]} ${pv[2]}x${pv[3]}${d.UPSAMPLE ? ' up' : ''} s${pv[7]} k${d.KH}`;
  else if (spec.op === 'conv2d_backward' && spec.kernel === 'conv2d_dw') key = `conv dW ${pv[1]}->${pv[4]} ${pv[2]}x${pv[3]}${d.UPSAMPLE ? ' up' : ''} s${pv[7]} k${d.KH}`;
  else if (spec.op === 'conv2d_backward' && spec.kernel === 'conv2d_regs') key = `conv dX ${pv[3]}->${pv[0]} ${pv[4]}x${pv[5]} (conv at the upsampled size if up) k${d.KH}`;
  else if (spec.op.startsWith('conv2d_backward')) key = `${spec.op} ${spec.kernel}`;
  keys.push(key);
  return orig(spec);
};
const lr = 1e-4;
await vaeTrainStep(state, params, cfg, { images }, { seed: 1, lr });
await device.takeProfile();
keys.length = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const entries = [];
for (let s = 0; s < steps; s++) {
  await vaeTrainStep(state, params, cfg, { images }, { seed: 1, lr });
  if (!plain) entries.push(...(await device.takeProfile()));
}
const wall = (performance.now() - t0) / steps;
const cpu = process.cpuUsage(cpu0);
const byKey = new Map<string, { ms: number; n: number; flops: number }>();
let total = 0;
entries.forEach((e, i) => {
  const k = keys[i] ?? e.op;
  const r = byKey.get(k) ?? { ms: 0, n: 0, flops: 0 };
  r.ms += e.ms / steps; r.n += 1 / steps; r.flops += (e.flops ?? 0) / steps;
  byKey.set(k, r);
  total += e.ms / steps;
});
console.log(`VAE train step: blocks [${cfg.block_out_channels}], batch ${N}, ${S}x${S}, timing ${device.profileTiming ?? 'none (--plain)'}; ` +
  `${wall.toFixed(0)} ms wall per step${plain ? '' : ' (dispatches timed alone)'}, ${((cpu.user + cpu.system) / 1e6 / steps).toFixed(2)} CPU-s per step` +
  (plain ? '' : `; sum of dispatch times ${total.toFixed(0)} ms`));
if (plain) { device.destroy(); process.exit(0); }
const rows = [...byKey].sort((a, b) => b[1].ms - a[1].ms);
for (const [k, r] of rows) {
  const g = r.flops ? ` ${(r.flops / 1e6 / r.ms).toFixed(2)} GFLOP/s` : '';
  console.log(`${k.padEnd(46)} ${r.ms.toFixed(1).padStart(9)} ms ${(100 * r.ms / total).toFixed(1).padStart(5)}%  x${r.n.toFixed(0)}${g}`);
}
const conv = rows.filter(([k]) => k.startsWith('conv')).reduce((a, [, r]) => a + r.ms, 0);
console.log(`conv total ${conv.toFixed(0)} ms (${(100 * conv / total).toFixed(0)}%)`);
device.destroy();
process.exit(0);
