// From raw footage to training, as a user runs it: `parallax data synth-raw` (long videos of captioned synthetic clips
// with hard cuts, a held-still stretch and a too-short tail) -> `parallax data curate --captions` (cuts found, the
// still dropped as static, the tail as too short, every kept clip with its generator caption) -> meta.jsonl and
// meta.parquet -> `parallax train` on a make-tiny checkpoint, which trains on exactly the kept clips. The raw size
// (40x24) is not one the model takes: train refuses the first export naming the fix (`--export-size`), and the
// re-export at that size trains. The expected clips come from synth-raw's captions.jsonl, not from curate.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetaTable } from '../../../engine/data/meta-read.js';
import { probeVideo } from '../../../engine/data/probe.js';
import { parallax } from '../../helpers/cli.js';

interface Segment {
  source: string;
  start_frame: number;
  end_frame: number;
  text: string;
  kind: 'clip' | 'still' | 'tail';
}

describe('parallax data synth-raw -> data curate -> train', () => {
  let dir = '';
  let model = '';
  let segs: Segment[] = [];
  const raws = () => readdirSync(join(dir, 'raw')).sort().map((f) => join(dir, 'raw', f));
  const curateArgs = (out: string, extra: string[] = [], videos = raws()) => ['data', 'curate', ...videos, '--out', out, '--captions', join(dir, 'captions.jsonl'), '--backend', 'cpu', '--preset', 'ultrafast', ...extra];
  const trainArgs = (data: string, out: string, steps = 2) => ['train', '--model', model, '--data', data, '--out', out, '--steps', String(steps), '--frames', '2', '--sample-every', '0', '--save-every', '0', '--no-progress'];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parallax-curate-train-'));
    model = join(dir, 'tiny');
    const mk = await parallax(['make-tiny', model, '--preset', 'shapes']);
    expect(mk.code, mk.stderr).toBe(0);
    const r = await parallax(['data', 'synth-raw', '--out', dir, '--videos', '2', '--clips', '3', '--frames', '16', '--width', '40', '--height', '24']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote 2 raw videos .* with 6 moving clips, 2 still stretches, 2 short tails/);
    segs = readFileSync(join(dir, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Segment);
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('train refuses clips at the raw size and names the export size that fits', async () => {
    const out = join(dir, 'raw-size');
    const c = await parallax(curateArgs(out, [], raws().slice(0, 1)));
    expect(c.code, c.stderr).toBe(0);
    const rows = await readMetaTable(join(out, 'meta.jsonl'));
    expect(rows.map((x) => [x.width, x.height])).toEqual([[40, 24], [40, 24], [40, 24]]);
    const t = await parallax(trainArgs(join(out, 'meta.jsonl'), join(dir, 'run-bad')));
    expect(t.code).not.toBe(0);
    // VAE x8 times patch 2: multiples of 16; 40x24 rounds to 48x32.
    expect(t.stderr).toMatch(/meta\.jsonl:1: clip clips\/raw-0_scene-0\.mp4 is 40x24; this model needs width and height that are multiples of 16/);
    expect(t.stderr).toContain('parallax data curate ... --export-size 48x32');
    const latents = join(dir, 'run-bad', 'cache', 'latents');
    expect(existsSync(latents) ? readdirSync(latents) : []).toEqual([]); // refused before encoding anything
  }, 60_000);

  it('curates at --export-size 48x32 and trains on exactly the kept clips, from JSONL and from Parquet', async () => {
    const work = join(dir, 'work');
    const c = await parallax(curateArgs(work, ['--export-size', '48x32', '--parquet']));
    expect(c.code, c.stderr).toBe(0);
    const clips = segs.filter((s) => s.kind === 'clip');
    expect(clips).toHaveLength(6);
    expect(c.stdout).toMatch(/2 of 2 videos readable \(2 processed, 0 done before\); 10 scenes: 6 kept \(96 frames\), dropped 2 too short, 2 static/);
    // The clips travel with their meta file: paths are relative to its folder, so a moved set still trains.
    const set = join(dir, 'moved-set');
    await rename(work, set);
    const meta = await readMetaTable(join(set, 'meta.jsonl'));
    const parquet = await readMetaTable(join(set, 'meta.parquet'));
    expect(parquet).toEqual(meta);
    // Cuts found where the generator put them; every kept clip is a moving clip with its generator caption.
    const key = (x: { source: string; start_frame: number; end_frame: number }) => `${x.source.replace(/^.*\//, '')}:${x.start_frame}-${x.end_frame}`;
    expect(meta.map(key)).toEqual(clips.map(key));
    expect(meta.map((x) => x.text)).toEqual(clips.map((s) => s.text));
    for (const row of meta) {
      expect(row).toMatchObject({ width: 48, height: 32, num_frames: 16, valid: true, text_len: row.text.split(' ').length });
      expect(row.path).toMatch(/^clips\/raw-\d_scene-\d\.mp4$/);
      const p = await probeVideo(join(set, row.path));
      expect([p.width, p.height, p.numFrames]).toEqual([48, 32, 16]);
    }
    const dropped = await readMetaTable(join(set, 'dropped.jsonl'));
    const why = Object.fromEntries(dropped.map((x) => [key(x), x.drop_reason]));
    expect(why).toEqual(Object.fromEntries(segs.filter((s) => s.kind !== 'clip').map((s) => [key(s), s.kind === 'still' ? 'static' : 'too_short'])));

    const run = join(dir, 'run');
    const t = await parallax(trainArgs(join(set, 'meta.jsonl'), run));
    expect(t.code, t.stderr).toBe(0);
    const captions = new Set(clips.map((s) => s.text)).size;
    expect(t.stderr).toContain(`data: 6 training clips, ${captions} captions; cache ${join(run, 'cache')}: 6 clips encoded, 0 reused`);
    expect(t.stderr).toMatch(/trained steps 1\.\.2 /);
    expect(readdirSync(join(run, 'cache', 'latents'))).toHaveLength(6);
    expect(existsSync(join(run, 'transformer', 'config.json'))).toBe(true);
    const log = readFileSync(join(run, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number });
    expect(log.map((r) => r.step)).toEqual([1, 2]);
    for (const r of log) expect(Number.isFinite(r.loss)).toBe(true);

    const tp = await parallax(trainArgs(join(set, 'meta.parquet'), join(dir, 'run-parquet'), 1));
    expect(tp.code, tp.stderr).toBe(0);
    expect(tp.stderr).toContain(`data: 6 training clips, ${captions} captions; cache ${join(dir, 'run-parquet', 'cache')}: 6 clips encoded, 0 reused`);
  }, 120_000);

  it('curate refuses an odd --export-size', async () => {
    const r = await parallax(['data', 'curate', raws()[0]!, '--out', join(dir, 'never'), '--export-size', '47x32']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--export-size must be WIDTHxHEIGHT with two even positive numbers \(H\.264 yuv420p\), e\.g\. 64x48, got "47x32"/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});
