// `parallax generate --long dualparal` end to end on a tiny checkpoint (3 layers): 7 latent frames as 3 blocks of
// B = 2 + C = 1 give the same latents on one device and on 3 ranks over the shm transport (the rank-count and
// transport equivalences on the engine level are in test/engine/parallel/dualparal.test.ts) and the same MP4 frames
// (each block decoded frame-parallel over the 3 ranks; test/engine/parallel/block-decode.test.ts compares the decoded
// pixels); every block is reported and appended to the MP4 (all 7 frames in the file); the sidecar records the blocks and the layer split; a layout or
// a rank count that does not fit is refused before any GPU device opens, saying what would fit.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readVideoFrames } from '../../engine/video/decode.js';
import { parallax } from '../helpers/cli.js';
import { readLatents, tinyCliModel } from '../helpers/cli-model.js';

const tiny = tinyCliModel('parallax-cli-dualparal-', 6);
const base = () => ['generate', '--model', tiny.ckpt, '--prompt', 'a red fox', '--width', '32', '--height', '32', '--frames', '7', '--steps', '2', '--guidance', '4', '--seed', '9', '--long', 'dualparal', '--block-frames', '2', '--context-frames', '1'];

describe('parallax generate --long dualparal', () => {
  let one: Float32Array;
  it('one device: every block is reported and streamed into the MP4; the sidecar names the blocks', async () => {
    const out = join(tiny.dir, 'one.mp4');
    const r = await parallax([...base(), '--out', out, '--latents', join(tiny.dir, 'one.safetensors')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/block 1\/3: frames 0-2 appended/);
    expect(r.stderr).toMatch(/block 2\/3: frames 3-4 appended/);
    expect(r.stderr).toMatch(/block 3\/3: frames 5-6 appended/);
    one = await readLatents(join(tiny.dir, 'one.safetensors'));
    expect(one.length).toBe(7 * 16 * 4 * 4);
    expect((await readVideoFrames(out, { width: 32, height: 32 })).length).toBe(7);
    const side = JSON.parse(await readFile(join(tiny.dir, 'one.json'), 'utf8'));
    expect(side.backend.name).toBe('webgpu-f32-dualparal1');
    expect(side.parallel.dualparal).toMatchObject({ blockFrames: 2, contextFrames: 1, blocks: 3, layers: [[0, 3]] });
    expect(side.output.frames).toBe(7);
  }, 180_000);

  it('3 ranks over shm (one layer each) give the one-device latents bit for bit', async () => {
    const out = join(tiny.dir, 'shm.mp4');
    const r = await parallax([...base(), '--devices', '0,0,0', '--transport', 'shm', '--no-progress', '--out', out, '--latents', join(tiny.dir, 'shm.safetensors')]);
    expect(r.code, r.stderr).toBe(0);
    const got = await readLatents(join(tiny.dir, 'shm.safetensors'));
    expect(Buffer.from(got.buffer).equals(Buffer.from(one.buffer))).toBe(true);
    // Each block's frames decoded frame-parallel over the 3 ranks (blocks of 3, 2, 2 frames: 1+1+1, 1+1+0) and
    // appended by rank 0: the MP4 holds the same frames as the one-device run's (rank 0 decoding every block whole).
    const [a, b] = await Promise.all([join(tiny.dir, 'one.mp4'), out].map((f) => readVideoFrames(f, { width: 32, height: 32 })));
    expect(b.length).toBe(7);
    b.forEach((f, i) => expect(Buffer.from(f).equals(Buffer.from(a[i]!)), `frame ${i}`).toBe(true));
    const side = JSON.parse(await readFile(join(tiny.dir, 'shm.json'), 'utf8'));
    expect(side.parallel.dualparal.layers).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(side.parallel.dualparal.peakBytesPerRank).toHaveLength(3);
  }, 180_000);

  it('refuses frames that are not n*B + C before opening a device, saying what would fit', async () => {
    const r = await parallax([...base().slice(0, -4), '--block-frames', '4', '--context-frames', '1', '--out', join(tiny.dir, 'x.mp4')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--frames 7 .*do not fit blocks of B = 4 with C = 1 .*n\*B \+ C .*\(e\.g\. 5, 9\)/);
  }, 60_000);

  it('refuses more GPUs than transformer blocks and options it does not combine with', async () => {
    const more = await parallax([...base(), '--devices', '0,0,0,0', '--out', join(tiny.dir, 'y.mp4')]);
    expect(more.code).not.toBe(0);
    expect(more.stderr).toMatch(/3 transformer blocks .*4 GPUs is too many, use at most 3/);
    expect(more.stderr).not.toMatch(/Warning: maxDynamic/); // no GPU device was opened
    const sp = await parallax([...base(), '--sp', '2', '--out', join(tiny.dir, 'z.mp4')]);
    expect(sp.stderr).toMatch(/--sp does not combine with --long dualparal/);
    const bf = await parallax(['generate', '--model', tiny.ckpt, '--prompt', 'x', '--block-frames', '2', '--out', join(tiny.dir, 'w.mp4')]);
    expect(bf.stderr).toMatch(/--block-frames and --context-frames set the blocks of --long dualparal/);
  }, 60_000);
});
