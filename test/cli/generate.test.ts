// End-to-end CLI: make-tiny -> inspect -> generate (MP4 checked by ffprobe/ffmpeg, sidecar, PNG frames, latents)
// -> decode / encode-text / forward on the same tiny checkpoint, and the error message of each bad argument.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, truncate, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSafetensors, writeSafetensors } from '../../engine/io/safetensors.js';
import { parallax } from '../helpers/cli.js';

let dir: string;
let ckpt: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-cli-'));
  ckpt = join(dir, 'tiny');
  const r = await parallax(['make-tiny', ckpt, '--seed', '9']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/random weights/);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parallax CLI on a tiny checkpoint', () => {
  it('inspect validates the checkpoint made by make-tiny (also sharded bf16)', async () => {
    const r = await parallax(['inspect', ckpt, '--frames', '2', '--width', '32', '--height', '16']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/validation\s+OK/);
    expect(r.stdout).toMatch(/memory ESTIMATE/);
    const sh = join(dir, 'sharded');
    expect((await parallax(['make-tiny', sh, '--shards', '2', '--dtype', 'bf16'])).code).toBe(0);
    expect((await readdir(join(sh, 'transformer'))).filter((f) => f.endsWith('.safetensors')).length).toBe(2);
    const r2 = await parallax(['inspect', sh, '--json']);
    expect(JSON.parse(r2.stdout).validation.ok).toBe(true);
  });

  it('generate writes an H.264 MP4 of the requested size and frame count, the sidecar, PNG frames and latents; decode/encode-text/forward agree', async () => {
    const out = join(dir, 'clip.mp4');
    const png = join(dir, 'png');
    const lat = join(dir, 'lat.safetensors');
    const r = await parallax(['generate', '--model', ckpt, '--prompt', 'a red fox', '--negative-prompt', 'blurry', '--width', '32', '--height', '16',
      '--frames', '2', '--steps', '2', '--guidance', '3', '--guidance-mode', 'constant', '--seed', '5', '--fps', '10', '--out', out,
      '--png-frames', png, '--latents', lat]);
    expect(r.stderr).toMatch(/text-encode .*denoise .*decode /);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    const p = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,pix_fmt,nb_read_frames,r_frame_rate', '-of', 'json', out]).toString()).streams[0];
    expect(p).toMatchObject({ codec_name: 'h264', width: 32, height: 16, pix_fmt: 'yuv420p', nb_read_frames: '2', r_frame_rate: '10/1' });
    const side = JSON.parse(await readFile(join(dir, 'clip.json'), 'utf8'));
    expect(side.settings).toEqual({ prompt: 'a red fox', negativePrompt: 'blurry', frames: 2, width: 32, height: 16, steps: 2, guidance: 3, guidanceMode: 'constant', seed: 5, fps: 10 });
    expect(side.model.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(side.backend.name).toBe('webgpu-f32');
    expect(side.output).toMatchObject({ video: out, width: 32, height: 16, frames: 2 });
    expect(side.latentShape).toEqual([1, 2, 16, 2, 4]);
    for (const k of ['textEncodeMs', 'denoiseMs', 'decodeMs', 'totalMs', 'videoWriteMs', 'modelHashMs']) expect(side.timings[k]).toBeGreaterThan(0);
    expect(side.timings.stepMs.length).toBe(2);
    expect((await readdir(png)).sort()).toEqual(['frame_00000.png', 'frame_00001.png']);

    // decode the saved latents alone: same frames as generate's PNGs
    const dec = join(dir, 'dec');
    const d = await parallax(['decode', '--model', ckpt, '--inputs', lat, '--out', dec]);
    expect(d.code).toBe(0);
    for (const f of ['frame_00000.png', 'frame_00001.png']) expect(Buffer.compare(await readFile(join(dec, f)), await readFile(join(png, f)))).toBe(0);

    // encode-text + forward alone
    const emb = join(dir, 'emb.safetensors');
    const e = await parallax(['encode-text', '--model', ckpt, '--prompt', 'a red fox', '--out', emb]);
    expect(e.code).toBe(0);
    const er = await openSafetensors(emb);
    expect(er.info('prompt_embeds').shape).toEqual([1, 77 + 256, 96]);
    expect(er.info('pooled_projections').shape).toEqual([1, 80]);
    const inputs = join(dir, 'in.safetensors');
    const lr = await openSafetensors(lat);
    await writeSafetensors(inputs, {
      hidden_states: { dtype: 'F32', shape: [1, 2, 16, 2, 4], data: await lr.readFloat32('latents') },
      timestep: { dtype: 'F32', shape: [1], data: Float32Array.of(500) },
      encoder_hidden_states: { dtype: 'F32', shape: [1, 333, 96], data: await er.readFloat32('prompt_embeds') },
      pooled_projections: { dtype: 'F32', shape: [1, 80], data: await er.readFloat32('pooled_projections') },
    });
    await lr.close();
    await er.close();
    const fo = join(dir, 'fwd.safetensors');
    const f = await parallax(['forward', '--model', ckpt, '--inputs', inputs, '--out', fo]);
    expect(f.code).toBe(0);
    const fr = await openSafetensors(fo);
    expect(fr.info('sample')).toMatchObject({ dtype: 'F32', shape: [1, 2, 16, 2, 4] });
    const v = await fr.readFloat32('sample');
    expect(v.every(Number.isFinite) && v.some((x) => x !== 0)).toBe(true);
    await fr.close();
  });

  it('each bad argument fails with a message that names it', async () => {
    const base = ['generate', '--model', ckpt, '--prompt', 'x', '--frames', '1', '--steps', '1', '--width', '32', '--height', '32', '--no-progress'];
    const bad = join(dir, 'corrupt');
    await cp(ckpt, bad, { recursive: true });
    const w = join(bad, 'transformer', 'diffusion_pytorch_model.safetensors');
    await truncate(w, (await stat(w)).size - 64);
    const cases: [string[], RegExp][] = [
      [[...base, '--width', '40'], /width 40 is not a multiple of 16/],
      [[...base, '--frames', '0'], /frames must be an integer >= 1, got 0/],
      [[...base, '--steps', 'many'], /--steps must be an integer, got "many"/],
      [[...base, '--guidance-mode', 'cosine'], /--guidance-mode.*cosine.*Allowed choices are reference, constant/],
      [[...base, '--out', join(dir, 'x.avi')], /expected a \.mp4 file name/],
      [['generate', '--model', join(dir, 'missing'), '--prompt', 'x'], /model folder .*missing does not exist.*make-tiny/],
      [['generate', '--model', bad, '--prompt', 'x', '--width', '32', '--height', '32'], /transformer\/diffusion_pytorch_model\.safetensors/],
      [[...base, '--dtype', 'bf16'], /--dtype.*bf16.*Allowed choices are f32, f16/],
      [['generate', '--model', ckpt], /required option '--prompt <text>' not specified/],
    ];
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3);
      const results = await Promise.all(batch.map(([args]) => parallax(args)));
      results.forEach((r, k) => {
        const [args, re] = batch[k];
        expect(r.code, args.join(' ')).not.toBe(0);
        expect(r.stderr, args.join(' ')).toMatch(re);
      });
    }
  });

  it('--dry-run prints the plan; the f64 reference on a big size warns with the expected time', async () => {
    const r = await parallax(['generate', '--model', ckpt, '--prompt', 'x', '--width', '256', '--height', '128', '--seed', '3', '--backend', 'reference', '--dry-run']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.latentShape).toEqual([1, 40, 16, 16, 32]);
    expect(plan.settings).toMatchObject({ frames: 40, steps: 100, guidance: 7.5, guidanceMode: 'reference', fps: 8, seed: 3 });
    expect(r.stderr).toMatch(/warning: the float64 reference backend at 256x128, 40 frames, 100 steps .*expect roughly [\d.]+ (min|h)/);
    const small = await parallax(['generate', '--model', ckpt, '--prompt', 'x', '--width', '32', '--height', '32', '--frames', '1', '--steps', '1', '--backend', 'reference', '--dry-run']);
    expect(small.code).toBe(0);
    expect(small.stderr).not.toMatch(/warning/);
  });
});
