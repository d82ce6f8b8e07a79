// `parallax train-vae` on the make-tiny VAE and 3 synthetic 32x32 clips of 4 frames: OUT loads in `generate`; vae/
// holds the EMA weights; its scaling_factor / shift_factor equal the statistics of the posterior means that the
// inference encoder (VaeModel, not the training code) gives for the same frames with those weights; the transformer
// is the source's; a reconstruction grid and the log are written; 1 step + --resume 1 step equals 2 straight steps
// bit for bit and reuses the frame cache.
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { slice } from '../../../engine/ops/layout.js';
import { VaeModel } from '../../../engine/model/vae.js';
import { Tensor } from '../../../engine/tensor.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { parallax } from '../../helpers/cli.js';
import { testDevice } from '../../helpers/gpu.js';
import { logOf, tensorsOf, trainFixture } from '../../helpers/train-fixture.js';

let dir = '';
let model = '';
let meta = '';
const BASE = ['--batch', '2', '--lr', '1e-3', '--seed', '2', '--stats-frames', '6', '--log-every', '1', '--no-progress'];

beforeAll(async () => {
  ({ dir, model, meta } = await trainFixture('train-vae', { count: 3 }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parallax train-vae', () => {
  it('exports the EMA VAE with the latent statistics of the data, loadable by generate', async () => {
    const out = join(dir, 'a');
    const r = await parallax(['train-vae', '--model', model, '--data', meta, '--out', out, '--steps', '2', '--sample-every', '2', ...BASE]);
    expect(r.code, r.stderr).toBe(0);
    expect(logOf(out).map((x) => x.step)).toEqual([1, 2]);
    for (const x of logOf(out)) for (const k of ['loss', 'recon', 'kl', 'grad_norm']) expect(Number.isFinite(x[k] as number), k).toBe(true);
    for (const f of ['loss.png', 'samples/step-000002.png', 'transformer/diffusion_pytorch_model.safetensors']) expect(existsSync(join(out, f)), f).toBe(true);
    const vae = await tensorsOf(join(out, 'vae/diffusion_pytorch_model.safetensors'));
    const ema = await tensorsOf(join(out, 'train-state/ema.safetensors'));
    const src = await tensorsOf(join(model, 'vae/diffusion_pytorch_model.safetensors'));
    expect([...vae.keys()]).toEqual([...src.keys()]);
    for (const [k, v] of vae) expect(v, k).toEqual(ema.get(k));
    expect([...vae].some(([k, v]) => v.some((x, i) => x !== src.get(k)![i]))).toBe(true);
    expect(readFileSync(join(out, 'transformer/diffusion_pytorch_model.safetensors')).equals(readFileSync(join(model, 'transformer/diffusion_pytorch_model.safetensors')))).toBe(true);

    // the statistics, independently: the inference encoder on the first 6 frames in table order (clip 0's 4, clip 1's 2)
    const cfg = JSON.parse(readFileSync(join(out, 'vae/config.json'), 'utf8')) as { scaling_factor: number; shift_factor: number };
    const rows = readFileSync(meta, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; split: string }).filter((x) => x.split === 'train');
    const frames = [...(await readVideoFrames(join(dir, 'data', rows[0]!.path), { width: 32, height: 32 })), ...(await readVideoFrames(join(dir, 'data', rows[1]!.path), { width: 32, height: 32 }))].slice(0, 6);
    const device = await testDevice();
    const ck = await openCheckpoint(out);
    const m = await VaeModel.load(device, ck.vae, { dtype: 'f32' });
    let s = 0, s2 = 0, n = 0;
    for (const f of frames) {
      const planar = new Float32Array(3 * 32 * 32);
      for (let i = 0; i < 32 * 32; i++) for (let c = 0; c < 3; c++) planar[c * 1024 + i] = f[3 * i + c]! / 127.5 - 1;
      const img = Tensor.from(device, planar, [3, 32, 32], 'f32');
      const mom = m.encode(img);
      const mean = slice(mom, 0, 0, m.config.latent_channels);
      for (const v of await mean.read()) { s += v; s2 += v * v; n++; }
      img.dispose(); mom.dispose(); mean.dispose();
    }
    m.dispose();
    await ck.close();
    const mu = s / n;
    const sd = Math.sqrt(s2 / n - mu * mu);
    expect(Math.abs(cfg.shift_factor - mu)).toBeLessThan(1e-4 * sd);
    expect(Math.abs(cfg.scaling_factor * sd - 1)).toBeLessThan(1e-4);
    const g = await parallax(['generate', '--model', out, '--prompt', 'a red circle', '--width', '32', '--height', '32', '--frames', '2', '--steps', '1', '--out', join(dir, 'g.mp4'), '--no-progress']);
    expect(g.code, g.stderr).toBe(0);
  });

  it('continues exactly with --resume and reuses the frame cache', async () => {
    const out = join(dir, 'b');
    const first = await parallax(['train-vae', '--model', model, '--data', meta, '--out', out, '--steps', '1', '--sample-every', '0', ...BASE]);
    expect(first.code, first.stderr).toBe(0);
    const second = await parallax(['train-vae', '--model', model, '--data', meta, '--out', out, '--steps', '2', '--sample-every', '0', '--resume', ...BASE]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/0 decoded, 3 reused/);
    expect(logOf(out)).toEqual(logOf(join(dir, 'a')));
    for (const f of ['weights', 'adam_m', 'adam_v', 'ema']) {
      const a = await tensorsOf(join(dir, 'a/train-state', `${f}.safetensors`));
      const b = await tensorsOf(join(out, 'train-state', `${f}.safetensors`));
      for (const [k, v] of a) expect(b.get(k), `${f} ${k}`).toEqual(v);
    }
    expect(readFileSync(join(out, 'vae/config.json'), 'utf8')).toBe(readFileSync(join(dir, 'a/vae/config.json'), 'utf8'));
    const bad = await parallax(['train-vae', '--model', model, '--data', meta, '--out', out, '--steps', '3', '--resume', ...BASE, '--kl-weight', '0.1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--kl-weight was 0\.000001, now 0\.1/);
  });

  it('trains on random crops (--crop), naming a crop that is not a multiple of the scale factor', async () => {
    const out = join(dir, 'crop');
    const r = await parallax(['train-vae', '--model', model, '--data', meta, '--out', out, '--steps', '1', '--sample-every', '0', '--crop', '16', ...BASE]);
    expect(r.code, r.stderr).toBe(0);
    expect(logOf(out)[0]).toMatchObject({ step: 1 });
    expect(Number.isFinite(logOf(out)[0]!.loss as number)).toBe(true);
    // the same step on whole frames (run 'a') sees other pixels: a different loss
    expect(logOf(out)[0]!.loss).not.toBe(logOf(join(dir, 'a'))[0]!.loss);
    const bad = await parallax(['train-vae', '--model', model, '--data', meta, '--out', join(dir, 'crop-bad'), '--steps', '1', '--crop', '12', ...BASE]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--crop 12: expected a multiple of the VAE's scale factor/);
  });
});
