// `parallax border-report`: the border ratio of saved latents (safetensors, as generate --latents writes) and of an
// MP4 with its sidecar, on constructed videos with a known jump at a known frame; the borders come from --clips, the
// sidecar's clip count, the sidecar's DualParal blocks or --blocks B,C; missing layouts, sizes and bad values are
// refused naming the fix. --track on MP4s of a synthetic moving shape (engine/data/synth.ts) with DualParal block
// borders from the sidecar: continuous as rendered, not continuous with 4 frames cut out at a border (exit status 1).
// Spawns of the real CLI (JSON and text output).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBorderReport } from '../../../cli/commands/border-report.js';
import { writeSafetensors } from '../../../engine/io/safetensors.js';
import { renderClip } from '../../../engine/data/synth.js';
import { writeMp4 } from '../../../engine/video/mp4.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
let dir: string;
/** Latents [1, F, 2, 2, 2]: every value of frame f is f (+ jump from frame jumpAt on). */
async function latents(name: string, F: number, jumpAt: number, jump: number): Promise<string> {
  const n = 8;
  const data = Float32Array.from({ length: F * n }, (_, i) => Math.floor(i / n) + (Math.floor(i / n) >= jumpAt ? jump : 0));
  const path = join(dir, name);
  await writeSafetensors(path, { latents: { dtype: 'F32', shape: [1, F, 2, 2, 2], data } });
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-border-report-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('border-report on latents', () => {
  it('a jump of 5 at the border of 2 clips: ratio (1 + 5) / 1', async () => {
    const r = await runBorderReport(await latents('a.safetensors', 8, 4, 5), { clips: 2 });
    expect(r).toMatchObject({ kind: 'latents', frames: 8, layout: '2 clips', borders: [4], across: 6, inside: 1, ratio: 6 });
  });

  it('DualParal blocks B = 4, C = 2 over 14 frames: borders 6 and 10; the jump at 6 counts once of two', async () => {
    const r = await runBorderReport(await latents('b.safetensors', 14, 6, 5), { blocks: '4,2' });
    expect(r.borders).toEqual([6, 10]);
    expect(r.ratio).toBe(3.5);
  });

  it('refusals name the fix', async () => {
    const f = await latents('c.safetensors', 8, 4, 5);
    await expect(runBorderReport(f, {})).rejects.toThrow(/pass --clips N or --blocks B,C/);
    await expect(runBorderReport(f, { blocks: '4' })).rejects.toThrow(/--blocks 4: expected B,C/);
    await expect(runBorderReport(f, { blocks: '4,2' })).rejects.toThrow(/8 latent frames do not fit blocks of B = 4 with C = 2/);
    await expect(runBorderReport(f, { clips: 2, blocks: '4,0' })).rejects.toThrow(/pass one/);
    await expect(runBorderReport(join(dir, 'missing.safetensors'), { clips: 2 })).rejects.toThrow(/no such file/);
  });
});

describe('border-report on an MP4', () => {
  it('uniform frames brightening by 8 per frame, +80 at frame 3: the sidecar gives the size and the 2 clips', async () => {
    const [w, h, F] = [16, 16, 6];
    const frames = Array.from({ length: F }, (_, f) => new Uint8Array(w * h * 3).fill(40 + 8 * f + (f >= 3 ? 80 : 0)));
    const video = join(dir, 'v.mp4');
    await writeMp4(video, frames, { width: w, height: h, fps: 8 });
    writeFileSync(join(dir, 'v.json'), JSON.stringify({ output: { width: w, height: h, frames: F }, parallel: { ranks: 2, sp: 1, cfg: 1, transport: 'inprocess', clip: { clips: 2 } } }));
    const r = await runBorderReport(video, {});
    expect(r).toMatchObject({ kind: 'video', frames: F, borders: [3] });
    // encoded with H.264, so only about the constructed 88 / 8 = 11
    expect(r.ratio!).toBeGreaterThan(6);
    expect(r.ratio!).toBeLessThan(20);
    const smooth = await runBorderReport(video, { clips: 3 }); // borders 2 and 4: steady changes, the jump is inside
    expect(smooth.ratio!).toBeLessThan(1);
    rmSync(join(dir, 'v.json'));
    await expect(runBorderReport(video, { clips: 2 })).rejects.toThrow(/no sidecar .* pass --size WxH/);
    expect((await runBorderReport(video, { clips: 2, size: '16x16' })).borders).toEqual([3]);
  }, 60_000);

  it('the CLI prints JSON', async () => {
    const f = await latents('d.safetensors', 8, 4, 5);
    const r = spawnSync(process.execPath, [join(repo, 'bin/parallax'), 'border-report', f, '--clips', '2', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ratio: 6, borders: [4] });
  }, 60_000);
});

describe('border-report --track on an MP4 of a moving shape', () => {
  const [w, h, F] = [48, 48, 13];
  /** A red circle moving right 1.5 px per frame; cut: frames 5..8 left out (a jump of 5 steps at the border before frame 5). */
  async function shapeVideo(name: string, cut: boolean): Promise<string> {
    const all = renderClip('x', { colour: 'red', shape: 'circle', direction: 'right', background: 'white' }, { radius: 6, x0: 10, y0: 20, speed: 1.5 }, { width: w, height: h, frames: F + 4 }).frames;
    const frames = cut ? [...all.slice(0, 5), ...all.slice(9)] : all.slice(0, F);
    const video = join(dir, `${name}.mp4`);
    await writeMp4(video, frames, { width: w, height: h, fps: 8 });
    const dualparal = { blockFrames: 4, contextFrames: 1, blocks: 3, layers: [[0, 1]], peakBytesPerRank: [0], weightBytesPerRank: [0] };
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ output: { width: w, height: h, frames: F }, parallel: { ranks: 1, sp: 1, cfg: 1, transport: 'inprocess', dualparal } }));
    return video;
  }

  it('continuous as rendered (borders 5 and 9 from the sidecar\'s blocks); 4 frames cut at the border before frame 5 are not', async () => {
    const ok = await runBorderReport(await shapeVideo('s', false), { track: true });
    expect(ok).toMatchObject({ layout: 'DualParal blocks B = 4, C = 1', borders: [5, 9] });
    expect(ok.track!.continuous, ok.track!.reason).toBe(true);
    expect(Math.abs(ok.track!.inside!.median - 1.5)).toBeLessThan(0.3); // H.264 moves the centroid a little
    expect(ok.track!.centroids).toHaveLength(F);
    const cut = await runBorderReport(await shapeVideo('c', true), { track: true });
    expect(cut.track!.continuous).toBe(false);
    expect(cut.track!.reason).toMatch(/across the border before frame 5/);
    expect(Math.abs(cut.track!.across!.max - 5 * 1.5)).toBeLessThan(0.5);
    // a looser verdict lets the same cut pass
    expect((await runBorderReport(join(dir, 'c.mp4'), { track: true, trackFactor: 6 })).track!.continuous).toBe(true);
  }, 60_000);

  it('the CLI prints the verdict and exits 1 when the track is not continuous; refusals name the fix', async () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(repo, 'bin/parallax'), 'border-report', ...args], { encoding: 'utf8', timeout: 60_000 });
    const ok = cli(await shapeVideo('s2', false), '--track');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/shape track: centroid step across the borders median [\d.]+ px, max [\d.]+ px; inside median [\d.]+ px/);
    expect(ok.stdout).toMatch(/^continuous: largest border step/m);
    const bad = cli(await shapeVideo('c2', true), '--track');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/NOT continuous: the centroid jumps [\d.]+ px across the border before frame 5/);
    const lat = await latents('t.safetensors', 8, 4, 5);
    await expect(runBorderReport(lat, { clips: 2, track: true })).rejects.toThrow(/--track reads the moving shape from decoded frames: pass the MP4/);
    await expect(runBorderReport(lat, { clips: 2, trackFactor: 2 })).rejects.toThrow(/add --track/);
  }, 60_000);
});
