// `parallax border-report FILE`: the border-consistency ratio (engine/metrics/border-consistency.ts) of a generated
// video (MP4 through ffmpeg, at the size its sidecar records) or of saved final latents (`generate --latents`,
// safetensors), at the borders of a clip layout (--clips N, default: the sidecar's `parallel.clip.clips`) or of a
// DualParal block layout (--blocks B,C, default: the sidecar's `parallel.dualparal`). Comparing strategies: measure
// each video at the same layout's borders. --track (videos only) adds the moving shape's track continuity
// (engine/metrics/shape-track.ts): the centroid step across the borders against inside them, and a verdict.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { MemoryByteSource } from '../../engine/io/byte-source.js';
import { SafetensorsReader, toFloat32 } from '../../engine/io/safetensors-reader.js';
import { borderConsistency, framesOf, type BorderConsistency, type Frames } from '../../engine/metrics/border-consistency.js';
import { shapeTrack, TRACK_DEFAULTS, TRACK_RULE, type ShapeTrack } from '../../engine/metrics/shape-track.js';
import { clipLayout } from '../../engine/parallel/clip-layout.js';
import { blockLayout } from '../../engine/parallel/dualparal-plan.js';
import { layoutBorders, type LongLayout } from '../../engine/parallel/layout-borders.js';
import { readVideoFrames } from '../../engine/video/decode.js';
import { sidecarPath, type VideoSidecar } from '../../engine/video/sidecar.js';
import { parseFloatArg, parseIntArg } from '../options.js';

export interface BorderReportOptions {
  /** Clip count: borders at the clip starts of clipLayout(F, clips). */
  clips?: number;
  /** DualParal blocks "B,C": borders at the block starts C + kB. */
  blocks?: string;
  /** Video size WxH when there is no sidecar. */
  size?: string;
  /** Also measure the moving shape's track (videos only). */
  track?: boolean;
  /** The track verdict's floor (px) and factor: border step <= max(trackMinPx, trackFactor x median inside step). */
  trackMinPx?: number;
  trackFactor?: number;
}

export interface BorderReport extends BorderConsistency {
  file: string;
  kind: 'video' | 'latents';
  frames: number;
  layout: string;
  /** With --track: the shape's centroid track at the same borders. */
  track?: ShapeTrack;
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
  if (o.track && latents) throw new Error(`--track reads the moving shape from decoded frames: pass the MP4, not the latents ${file}`);
  if (!o.track && (o.trackMinPx !== undefined || o.trackFactor !== undefined)) throw new Error('--track-min-px and --track-factor set the verdict of --track: add --track');
  const sidecar = latents ? null : await readJson(sidecarPath(file));
  let frames: Frames;
  let size = { width: 0, height: 0 };
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
    size = { width, height };
  }
  const F = frames.length;
  let layout: LongLayout;
  let name: string;
  if (o.clips !== undefined && o.blocks !== undefined) throw new Error('--clips and --blocks are two different layouts: pass one');
  const dual = sidecar?.parallel?.dualparal;
  if (o.blocks !== undefined || (o.clips === undefined && dual)) {
    let B = dual?.blockFrames ?? NaN;
    let C = dual?.contextFrames ?? NaN;
    if (o.blocks !== undefined) {
      const m = /^(\d+),(\d+)$/.exec(o.blocks);
      if (!m) throw new Error(`--blocks ${o.blocks}: expected B,C (block frames, context frames), e.g. 10,5`);
      [B, C] = [Number(m[1]), Number(m[2])];
    }
    layout = { kind: 'dualparal', layout: blockLayout(F, B, C) };
    name = `DualParal blocks B = ${B}, C = ${C}`;
  } else {
    const clips = o.clips ?? Number(sidecar?.parallel?.clip?.clips ?? NaN);
    if (!Number.isInteger(clips)) {
      throw new Error(`${file}: no layout to take the borders from (the sidecar records no clip parallelism): pass --clips N or --blocks B,C (SP videos have no borders; measure them at the layout you compare with)`);
    }
    layout = { kind: 'clip', layout: clipLayout(F, clips, { window: 0 }) };
    name = `${clips} clips`;
  }
  const borders = layoutBorders(layout);
  const r: BorderReport = { file, kind: latents ? 'latents' : 'video', frames: F, layout: name, ...borderConsistency(frames, borders) };
  if (o.track) r.track = shapeTrack(frames as Uint8Array[], size.width, size.height, borders, { minPx: o.trackMinPx, factor: o.trackFactor });
  return r;
}

function stepText(s: ShapeTrack['across']): string {
  return s ? `median ${s.median.toFixed(2)} px, max ${s.max.toFixed(2)} px` : '-';
}

/** The human-readable lines of a report. */
export function formatBorderReport(r: BorderReport): string {
  const lines = [`${r.file} (${r.kind}, ${r.frames} frames), ${r.layout}: borders ${r.borders.join(', ') || 'none'}; change across ${num(r.across)}, inside ${num(r.inside)}, ratio ${num(r.ratio)}`];
  const t = r.track;
  if (t) {
    lines.push(`shape track: centroid step across the borders ${stepText(t.across)}; inside ${stepText(t.inside)}${t.missing.length ? `; no shape in frames ${t.missing.join(', ')}` : ''}`);
    lines.push(`${t.continuous ? 'continuous' : 'NOT continuous'}: ${t.reason}`);
  }
  return lines.join('\n');
}

const num = (x: number | null) => (x === null ? '-' : x.toFixed(4));

export function registerBorderReport(program: Command): void {
  program
    .command('border-report')
    .description('border-consistency ratio of a long video: mean frame-to-frame change across clip/block borders over the change inside them (about 1: no seam); with --track, whether the moving shape\'s track is continuous across them')
    .argument('<file>', 'a generated video (MP4, size from its sidecar) or final latents saved by generate --latents (.safetensors)')
    .option('--clips <n>', 'borders of a clip-parallel layout of n clips (default: the sidecar\'s clip count)', parseIntArg('--clips', 1))
    .option('--blocks <B,C>', 'borders of a DualParal layout: blocks of B frames with C context frames (default: the sidecar\'s, for a --long dualparal video)')
    .option('--size <WxH>', 'video size when there is no sidecar')
    .option('--track', `also the moving shape's track (videos): its centroid step across the borders vs inside them (median, max) and a verdict, ${TRACK_RULE}; exit status 1 when not continuous`)
    .option('--track-min-px <px>', `--track verdict's floor minPx (default ${TRACK_DEFAULTS.minPx})`, parseFloatArg('--track-min-px', 0))
    .option('--track-factor <k>', `--track verdict's factor (default ${TRACK_DEFAULTS.factor})`, parseFloatArg('--track-factor', 0))
    .option('--json', 'print JSON (with the change between every pair of frames; with --track every centroid and step)')
    .action(async (file: string, opts: BorderReportOptions & { json?: boolean }) => {
      const r = await runBorderReport(file, opts);
      console.log(opts.json ? JSON.stringify(r, null, 2) : formatBorderReport(r));
      if (r.track && !r.track.continuous) process.exitCode = 1;
    });
}
