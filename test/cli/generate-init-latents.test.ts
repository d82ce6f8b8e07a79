// `parallax generate --init-latents / --save-init-latents` end to end on a tiny checkpoint: a run's saved initial
// latents fed back (another seed) give the same latents and PNG frames bit for bit, on one device and on two ranks
// (processes over sockets, CFG 2; worker threads over shared memory, SP 2: each rank reads the file); the sidecar records the source (seed, or the
// file with its SHA-256) and the sigmas/timesteps that ran; wrong shape / dtype errors name the expected shape.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSafetensors, writeSafetensors } from '../../engine/io/safetensors.js';
import { parallax } from '../helpers/cli.js';
import { tinyCliModel } from '../helpers/cli-model.js';

const tiny = tinyCliModel('parallax-cli-init-', 6);
const base = () => ['generate', '--model', tiny.ckpt, '--prompt', 'a red fox', '--negative-prompt', 'blurry', '--width', '32', '--height', '48',
  '--frames', '2', '--steps', '2', '--guidance', '3', '--no-progress'];
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sidecar = async (mp4: string) => JSON.parse(await readFile(mp4.replace(/\.mp4$/, '.json'), 'utf8'));

async function tensor(file: string): Promise<{ dtype: string; shape: number[]; bytes: Uint8Array }> {
  const st = await openSafetensors(file);
  try {
    const t = await st.read('latents');
    return { dtype: t.dtype, shape: t.shape, bytes: t.bytes };
  } finally {
    await st.close();
  }
}

async function pngs(d: string): Promise<Buffer[]> {
  return Promise.all((await readdir(d)).sort().map((f) => readFile(join(d, f))));
}

describe('generate --init-latents', () => {
  it('--help documents both options', async () => {
    const r = await parallax(['generate', '--help']);
    expect(r.stdout).toMatch(/--init-latents <file\.safetensors>/);
    expect(r.stdout).toMatch(/--save-init-latents <file\.safetensors>/);
    expect(r.stdout).toMatch(/\[1, 40, 16, 54, 96\]/);
  });

  const init = () => join(tiny.dir, 'init.safetensors');
  let first: { latents: Uint8Array; pngs: Buffer[]; schedule: { sigmas: number[]; timesteps: number[] } };
  it('a seeded run saves its initial latents; the sidecar says seed and lists the schedule that ran', async () => {
    const out = join(tiny.dir, 'a.mp4');
    const r = await parallax([...base(), '--seed', '5', '--out', out, '--latents', join(tiny.dir, 'a-lat.safetensors'), '--png-frames', join(tiny.dir, 'a-png'), '--save-init-latents', init()]);
    expect(r.code, r.stderr).toBe(0);
    const t = await tensor(init());
    expect(t).toMatchObject({ dtype: 'F32', shape: [1, 2, 16, 6, 4] });
    const side = await sidecar(out);
    expect(side.initLatents).toEqual({ source: 'seed', seed: 5 });
    expect(side.schedule.timesteps.length).toBe(2);
    expect(side.schedule.sigmas.length).toBe(3);
    expect(side.schedule.timesteps[0]).toBe(1000);
    expect(side.schedule.sigmas[2]).toBe(0);
    // after the scheduler's shift (3 in the tiny config): the last step's sigma is shift(shift(1/1000)), not 1/1000
    // (diffusers shifts sigma_min once when the scheduler is made and the whole grid again in set_timesteps)
    const sh = (s: number) => (3 * s) / (1 + 2 * s);
    expect(side.schedule.sigmas[1]).toBeCloseTo(sh(sh(0.001)), 6);
    first = { latents: (await tensor(join(tiny.dir, 'a-lat.safetensors'))).bytes, pngs: await pngs(join(tiny.dir, 'a-png')), schedule: side.schedule };
  }, 240_000);

  it('fed back with another seed: the same latents and frames bit for bit; the sidecar records the file and its SHA-256', async () => {
    expect(first, 'needs the seeded run above').toBeDefined();
    const out = join(tiny.dir, 'b.mp4');
    const again = join(tiny.dir, 'b-init.safetensors');
    const r = await parallax([...base(), '--seed', '6', '--init-latents', init(), '--out', out, '--latents', join(tiny.dir, 'b-lat.safetensors'), '--png-frames', join(tiny.dir, 'b-png'), '--save-init-latents', again]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/initial latents .*init\.safetensors/);
    expect(Buffer.from((await tensor(join(tiny.dir, 'b-lat.safetensors'))).bytes).equals(Buffer.from(first.latents))).toBe(true);
    const b = await pngs(join(tiny.dir, 'b-png'));
    expect(b.length).toBe(2);
    b.forEach((p, i) => expect(p.equals(first.pngs[i]!), `frame ${i}`).toBe(true));
    const fileBytes = new Uint8Array(await readFile(init()));
    const side = await sidecar(out);
    expect(side.initLatents).toEqual({ source: 'file', path: init(), fileSha256: sha256(fileBytes), dtype: 'F32', sha256: sha256((await tensor(init())).bytes) });
    expect(side.schedule).toEqual(first.schedule);
    expect(Buffer.from((await tensor(again)).bytes).equals(Buffer.from((await tensor(init())).bytes)), '--save-init-latents writes the given latents').toBe(true);
  }, 240_000);

  const layouts = [
    { name: 'two ranks in separate processes (socket transport, CFG 2), each reading the file', args: ['--transport', 'socket'], layout: { ranks: 2, sp: 1, cfg: 2 } },
    { name: 'two worker threads (shm transport, SP 2)', args: ['--transport', 'shm', '--no-cfg-parallel'], layout: { ranks: 2, sp: 2, cfg: 1 } },
  ];
  for (const c of layouts) {
    it(`${c.name}: the same latents bit for bit`, async () => {
      expect(first, 'needs the seeded run above').toBeDefined();
      const out = join(tiny.dir, `c-${c.args[1]}.mp4`);
      const lat = join(tiny.dir, `c-${c.args[1]}-lat.safetensors`);
      const r = await parallax([...base(), '--seed', '7', '--init-latents', init(), '--devices', '0,0', ...c.args, '--out', out, '--latents', lat]);
      expect(r.code, r.stderr).toBe(0);
      expect(Buffer.from((await tensor(lat)).bytes).equals(Buffer.from(first.latents))).toBe(true);
      const side = await sidecar(out);
      expect(side.parallel).toMatchObject(c.layout);
      expect(side.initLatents).toMatchObject({ source: 'file', path: init() });
    }, 300_000);
  }

  it('a wrong shape or dtype fails before loading the model, naming the expected shape; --dry-run shows the source', async () => {
    const values = new Float32Array(3 * 16 * 6 * 4);
    const threeFrames = join(tiny.dir, 'three-frames.safetensors');
    await writeSafetensors(threeFrames, { latents: { dtype: 'F16', shape: [1, 3, 16, 6, 4], data: values } });
    const ints = join(tiny.dir, 'ints.safetensors');
    await writeSafetensors(ints, { latents: { dtype: 'I32', shape: [1, 2, 16, 6, 4], data: new Int32Array(2 * 16 * 6 * 4) } });
    const cases: [string, RegExp][] = [
      [threeFrames, /shape \[1, 3, 16, 6, 4\] does not fit this generation: expected \[1, 2, 16, 6, 4\] \(32x48 px, 2 frames: \[1, F, 16, H\/8, W\/8\]\)/],
      [ints, /dtype I32; initial latents must be a float dtype \(F32, F16, BF16, F64\) of shape \[1, 2, 16, 6, 4\]/],
      [join(tiny.dir, 'nope.safetensors'), /nope\.safetensors: cannot read the file \(ENOENT\)/],
    ];
    for (const [f, want] of cases) {
      const r = await parallax([...base(), '--init-latents', f, '--out', join(tiny.dir, 'bad.mp4')]);
      expect(r.code, f).not.toBe(0);
      expect(r.stderr).toMatch(want);
      expect(r.stderr).not.toMatch(/text-encode/);
    }
    const d = await parallax([...base(), '--init-latents', threeFrames, '--frames', '3', '--dry-run']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).initLatents).toMatchObject({ source: 'file', path: threeFrames, dtype: 'F16', fileSha256: sha256(new Uint8Array(await readFile(threeFrames))) });
  }, 120_000);
});
