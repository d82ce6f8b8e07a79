// End-to-end parallel generation through the CLI on a tiny checkpoint: `--devices` with each transport
// (in-process, shm worker threads, one process per rank over sockets via the local launcher and --multi-host), and
// SP 3 on the 4-head model (all-gather of K/V), gives the one-device video bit for bit; layout errors name the fix;
// killing a rank's process mid-generation ends the whole run with an error naming that rank in bounded time,
// leaving no process behind.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PARALLAX_BIN, parallax } from '../helpers/cli.js';
import { readLatents, tinyCliModel } from '../helpers/cli-model.js';

const BIN = PARALLAX_BIN;

const tiny = tinyCliModel('parallax-cli-par-', 4);
const base = () => ['generate', '--model', tiny.ckpt, '--prompt', 'a red fox', '--negative-prompt', 'blurry', '--width', '48', '--height', '80', '--frames', '3', '--steps', '2', '--guidance', '4', '--seed', '17', '--no-progress'];

let single: Float32Array;
describe('parallax generate on several ranks', () => {
  it('one device (the reference of the layouts below)', async () => {
    const r = await parallax([...base(), '--out', join(tiny.dir, 'one.mp4'), '--latents', join(tiny.dir, 'one.safetensors')]);
    expect(r.stderr).toMatch(/backend webgpu-f32\)/);
    expect(r.code).toBe(0);
    single = await readLatents(join(tiny.dir, 'one.safetensors'));
  }, 120_000);

  const runs: { name: string; args: string[]; layout: string; transport: string }[] = [
    { name: 'in-process, CFG 2 x SP 2 on 4 ranks (default layout)', args: ['--devices', '0,0,0,0'], layout: 'sp2-cfg2', transport: 'inprocess' },
    { name: 'shm worker threads, SP 2 (--no-cfg-parallel)', args: ['--devices', '0,0', '--no-cfg-parallel', '--transport', 'shm'], layout: 'sp2-cfg1', transport: 'shm' },
    { name: 'one process per rank over sockets, CFG 2 x SP 2', args: ['--devices', '0,0,0,0', '--transport', 'socket'], layout: 'sp2-cfg2', transport: 'env' },
    // 3 ranks, 4 heads: the heads do not split, SP 3 takes the all-gather of K/V (once refused)
    { name: 'in-process, SP 3 on 3 ranks of a 4-head model (all-gather of K/V)', args: ['--devices', '0,0,0'], layout: 'sp3-cfg1', transport: 'inprocess' },
  ];
  for (const c of runs) {
    it(`${c.name}: the same video, bit for bit; the sidecar names the layout`, async () => {
      const out = join(tiny.dir, `${c.layout}-${c.transport}.mp4`);
      const lat = join(tiny.dir, `${c.layout}-${c.transport}.safetensors`);
      const r = await parallax([...base(), ...c.args, '--out', out, '--latents', lat]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(out);
      const got = await readLatents(lat);
      expect(got.length).toBe(single.length);
      expect(Buffer.from(got.buffer).equals(Buffer.from(single.buffer))).toBe(true);
      const side = JSON.parse(await readFile(out.replace(/\.mp4$/, '.json'), 'utf8'));
      expect(side.backend.name).toBe(`webgpu-f32-${c.layout}`);
      expect(side.parallel).toMatchObject({ sp: Number(c.layout[2]), cfg: Number(c.layout[7]), transport: c.transport });
      expect(readFileSync(out).length).toBeGreaterThan(1000);
    }, 180_000);
  }
});

describe('multi-host mode (--multi-host): two "hosts" on loopback TCP', () => {
  it('rank 0 started torchrun-style and rank 1 Slurm-style rendezvous over TCP; rank 0 writes the one-device video', async () => {
    const { findFreePort } = await import('../../engine/distributed/launch.js');
    const port = await findFreePort();
    const out = join(tiny.dir, 'two-hosts.mp4');
    const lat = join(tiny.dir, 'two-hosts.safetensors');
    const clean = Object.fromEntries(Object.keys(process.env).filter((k) => /^(RANK|WORLD_SIZE|LOCAL_RANK|SLURM_|OMPI_|PMI_)/.test(k)).map((k) => [k, '']));
    const common = { ...clean, MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), PARALLAX_TRANSPORT: 'tcp' };
    const args = [...base(), '--multi-host', '--devices', '0', '--out', out, '--latents', lat];
    const [r0, r1] = await Promise.all([
      parallax(args, { ...common, RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '0' }),
      parallax(args, { ...common, SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_LOCALID: '0' }),
    ]);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r0.stdout.trim()).toBe(out);
    expect(r1.stderr).toMatch(/rank 1: done \(rank 0 writes the video\)/);
    expect(Buffer.from((await readLatents(lat)).buffer).equals(Buffer.from(single.buffer))).toBe(true);
    const side = JSON.parse(await readFile(out.replace(/\.mp4$/, '.json'), 'utf8'));
    expect(side.parallel).toMatchObject({ ranks: 2, sp: 1, cfg: 2, transport: 'env' });
  }, 180_000);
});

describe('parallel layout errors', () => {
  const cases: { args: string[]; env?: Record<string, string>; want: RegExp }[] = [
    { args: ['--devices', '0,0,0', '--cfg-parallel'], want: /even number of GPUs; got 3/ },
    { args: ['--devices', '0,0,0,0', '--sp', '3'], want: /--sp must be 4 \(or 2 with --cfg-parallel\)/ },
    { args: ['--transport', 'shm'], want: /--transport shm needs several GPUs: pass --devices/ },
    { args: ['--devices', '0,0', '--backend', 'reference'], want: /need --backend gpu/ },
    { args: ['--devices', 'a,b'], want: /--devices must list adapter indices/ },
    { args: ['--devices', '0,7'], want: /adapter index 7 does not exist/ },
    { args: ['--multi-host'], env: { WORLD_SIZE: '', RANK: '', SLURM_NTASKS: '', OMPI_COMM_WORLD_SIZE: '', PMI_SIZE: '' }, want: /world size is not set: export WORLD_SIZE/ },
  ];
  for (const c of cases) {
    it(`${c.args.join(' ')} -> ${c.want.source}`, async () => {
      const r = await parallax([...base(), ...c.args, '--out', join(tiny.dir, 'bad.mp4')], c.env);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(c.want);
    }, 120_000);
  }

  it('--dry-run shows the layout it would use', async () => {
    const r = await parallax([...base(), '--devices', '0,0,0,0', '--dry-run']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).parallel).toEqual({ ranks: 4, sp: 2, cfg: 2, transport: 'inprocess', devices: [0, 0, 0, 0] });
  });
});

describe('a rank process dies mid-generation', () => {
  it('the run fails within seconds naming the rank, and no rank process is left', async () => {
    const child = spawn(process.execPath, [BIN, ...base().filter((a) => a !== '--no-progress'), '--steps', '40', '--devices', '0,0', '--transport', 'socket', '--out', join(tiny.dir, 'killed.mp4')], {
      env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    let fired = false;
    const killed = new Promise<number>((res, rej) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!fired && /denoise step 2\/40/.test(stderr)) {
          fired = true;
          // the rank processes are the launcher's children; kill the one whose RANK is 1
          const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
          const victim = kids.find((p) => readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes('RANK=1'));
          if (!victim) return rej(new Error(`no RANK=1 child among ${kids.join(',')}`));
          process.kill(victim, 'SIGKILL');
          res(victim);
        }
      });
    });
    const victim = await killed;
    const t0 = Date.now();
    const code = await exited;
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/rank 1 was killed by SIGKILL/);
    expect(stderr).toMatch(/peer rank 1 closed the connection/);
    expect(() => process.kill(victim, 0)).toThrow();
    expect(stderr).not.toMatch(/wrote /);
  }, 180_000);
});
