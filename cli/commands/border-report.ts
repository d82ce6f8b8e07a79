// `parallax border-report FILE`: the border-consistency ratio (engine/metrics/border-consistency.ts) of a generated
// video (MP4 through ffmpeg, at the size its sidecar records) or of saved final latents (`generate --latents`,
// safetensors), at the borders of a clip layout (--clips N, default: the sidecar's `parallel.clip.clips`) or of a
// DualParal block layout (--blocks B,C). Comparing strategies: measure each video at the same layout's borders.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { MemoryByteSource } from '../../engine/io/byte-source.js';
import { SafetensorsReader, toFloat32 } from '../../engine/io/safetensors-reader.js';
import { borderConsistency, framesOf, type BorderConsistency, type Frames } from '../../engine/metrics/border-consistency.js';
import { clipLayout } from '../../engine/parallel/clip-layout.js';
import { blockLayout } from '../../engine/parallel/dualparal-plan.js';
import { layoutBorders, type LongLayout } from '../../engine/parallel/layout-borders.js';
import { readVideoFrames } from '../../engine/video/decode.js';
import { sidecarPath, type VideoSidecar } from '../../engine/video/sidecar.js';
import { parseIntArg } from '../options.js';

export interface BorderReportOptions {
  /** Clip count: borders at the clip starts of clipLayout(F, clips). */
  clips?: number;
  /** DualParal blocks "B,C": borders at the block starts C + kB. */
  blocks?: string;
  /** Video size WxH when there is no sidecar. */
  size?: string;
}

export interface BorderReport extends BorderConsistency {
  file: string;
  kind: 'video' | 'latents';
  frames: number;
  layout: string;
}

async function readJson(path: string): Promise<VideoSidecar | null> {
  if (!existsSync(path)) return null;
  return JSON.parse(await readFile(path, 'utf8')) as VideoSidecar;
}

async function readLatents(file: string): Promise<Frames> {
  const r = await SafetensorsReader.open(new MemoryByteSource(new Uint8Array(await readFile(file)), file));
  const name = r.has('latents') ? 'latents' : r.keys().length === 1 ? r.keys()[0]! : null;
  if (!name) throw new Error(`${file}: expected a tensor named "latents" (what generate --latents writes), found ${r.keys().join(', ') || 'none'}`);
  const shape = r.info(name).shape;
  if (shape.length !== 5 || shape[0] !== 1) throw new Error(`${file}: tensor "${name}" has shape [${shape.join(', ')}]; expected latents [1, F, C, h, w]`);
  return framesOf(toFloat32(await r.read(name)), shape);
}

/** Measures FILE; throws naming the problem and the fix (no layout, no size, bad blocks). */
export async function runBorderReport(file: string, o: BorderReportOptions): Promise<BorderReport> {
  if (!existsSync(file)) throw new Error(`${file}: no such file`);
  const latents = file.endsWith('.safetensors');
  const sidecar = latents ? null : await readJson(sidecarPath(file));
  let frames: Frames;
  if (latents) frames = await readLatents(file);
  else {
    let width = sidecar?.output.width;
    let height = sidecar?.output.height;
    if (o.size) {
      const m = /^(\d+)x(\d+)$/.exec(o.size);
      if (!m) throw new Error(`--size ${o.size}: expected WxH, e.g. 768x432`);
      [width, height] = [Number(m[1]), Number(m[2])];
    }
    if (!width || !height) throw new Error(`${file}: no sidecar (${sidecarPath(file)}) to read the size from: pass --size WxH`);
    frames = await readVideoFrames(file, { width, height });
  }
  const F = frames.length;
  let layout: LongLayout;
  let name: string;
  if (o.clips !== undefined && o.blocks !== undefined) throw new Error('--clips and --blocks are two different layouts: pass one');
  if (o.blocks !== undefined) {
    const m = /^(\d+),(\d+)$/.exec(o.blocks);
    if (!m) throw new Error(`--blocks ${o.blocks}: expected B,C (block frames, context frames), e.g. 10,5`);
    layout = { kind: 'dualparal', layout: blockLayout(F, Number(m[1]), Number(m[2])) };
    name = `DualParal blocks B = ${m[1]}, C = ${m[2]}`;
  } else {
    const clips = o.clips ?? Number(sidecar?.parallel?.clip?.clips ?? NaN);
    if (!Number.isInteger(clips)) {
      throw new Error(`${file}: no layout to take the borders from (the sidecar records no clip parallelism): pass --clips N or --blocks B,C (SP videos have no borders; measure them at the layout you compare with)`);
    }
    layout = { kind: 'clip', layout: clipLayout(F, clips, { window: 0 }) };
    name = `${clips} clips`;
  }
  return { file, kind: latents ? 'latents' : 'video', frames: F, layout: name, ...borderConsistency(frames, layoutBorders(layout)) };
}

const num = (x: number | null) => (x === null ? '-' : x.toFixed(4));

export function registerBorderReport(program: Command): void {
  program
    .command('border-report')
    .description('border-consistency ratio of a long video: mean frame-to-frame change across clip/block borders over the change inside them (about 1: no seam)')
    .argument('<file>', 'a generated video (MP4, size from its sidecar) or final latents saved by generate --latents (.safetensors)')
    .option('--clips <n>', 'borders of a clip-parallel layout of n clips (default: the sidecar\'s clip count)', parseIntArg('--clips', 1))
    .option('--blocks <B,C>', 'borders of a DualParal layout: blocks of B frames with C context frames')
    .option('--size <WxH>', 'video size when there is no sidecar')
    .option('--json', 'print JSON (with the change between every pair of frames)')
    .action(async (file: string, opts: BorderReportOptions & { json?: boolean }) => {
      const r = await runBorderReport(file, opts);
      if (opts.json) console.log(JSON.stringify(r, null, 2));
      else console.log(`${r.file} (${r.kind}, ${r.frames} frames), ${r.layout}: borders ${r.borders.join(', ') || 'none'}; change across ${num(r.across)}, inside ${num(r.inside)}, ratio ${num(r.ratio)}`);
    });
}
