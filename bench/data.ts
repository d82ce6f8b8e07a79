// `npm run bench:data`: the curation pipeline's accuracy and speed on videos built from ffmpeg test sources.
//   Accuracy: random concatenations of lavfi sources (known cut frames) -> precision / recall / F1 within +-1 frame
//   for ContentDetector 27, AdaptiveDetector 3.0 (PySceneDetect default) and 21.0 (the paper), next to ffmpeg's
//   select scene score (> 0.3, > 0.4) and scdet (> 10) on the same files; fades through black and crossfades scored
//   separately; ContentDetector with the edge channel too. Speed: frames per second of the decode, the scene
//   statistics (WebGPU kernel vs the CPU implementation, interleaved), the CPU edge channel, ffmpeg's scene filter,
//   and clip export. Writes docs/data.md between the bench
//   markers unless --no-write.
//   npm run bench:data -- [--videos 12] [--seed 1] [--size 256x144] [--no-write] [--help]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { analyzeVideo, analysisSize } from '../engine/data/analyze.js';
import { exportClip } from '../engine/data/export.js';
import { edgeDiffSums } from '../engine/data/edges.js';
import { cutsAbove, ffmpegSceneScores } from '../engine/data/ffmpeg-scene.js';
import { cutScores, detectCuts, type ShotOptions } from '../engine/data/shots.js';
import { Device } from '../engine/gpu/device.js';
import { opticalFlow } from '../engine/ops/flow.js';
import { opticalFlowRef } from '../engine/ops/flow.ref.js';
import { sceneSums } from '../engine/ops/scene.js';
import { Tensor } from '../engine/tensor.js';
import { sceneSumsRef } from '../engine/ops/scene.ref.js';
import { streamVideoFrames } from '../engine/video/decode.js';
import { mulberry32 } from '../engine/mulberry32.js';
import { concatVideo, crossfadeVideo, type Segment } from '../test/helpers/lavfi.js';
import { parseBenchArgs, runSetup } from './cli.js';

const args = parseBenchArgs({
  command: 'npm run bench:data --',
  summary: `Shot-detection accuracy on synthetic videos with known cuts (next to ffmpeg's scene scores) and frames per second
per curation stage (WebGPU kernel against a CPU implementation of the same stage). Writes docs/data.md.`,
  options: {
    videos: { type: 'string', value: 'N', help: 'synthetic test videos (default 12)' },
    seed: { type: 'string', value: 'N', help: 'seed of the test videos (default 1)' },
    size: { type: 'string', value: 'WxH', help: 'frame size (default 256x144)' },
    'no-write': { type: 'boolean', help: 'print only; by default the tables also replace the ones in docs/data.md' },
  },
});
runSetup(['--ffmpeg']);
const nVideos = args.num('videos', 12);
const seed = args.num('seed', 1);
const [W, H] = (args.str('size') ?? '256x144').split('x').map(Number) as [number, number];
if (!(W! > 0 && H! > 0)) {
  console.error(`bench:data: --size ${args.str('size')}: expected WxH, e.g. 256x144`);
  process.exit(2);
}
const FPS = 8;
const dir = mkdtempSync(join(os.tmpdir(), 'parallax-bench-data-'));

type Counts = { tp: number; fp: number; fn: number };
const add = (a: Counts, b: Counts) => ({ tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn });
const prf = (c: Counts) => {
  const p = c.tp + c.fp ? c.tp / (c.tp + c.fp) : 1;
  const r = c.tp + c.fn ? c.tp / (c.tp + c.fn) : 1;
  return { p, r, f1: p + r ? (2 * p * r) / (p + r) : 0 };
};

function sources(rand: () => number): string[] {
  const s = Math.floor(rand() * 1000);
  const hex = () => Math.floor(rand() * 0xffffff).toString(16).padStart(6, '0');
  return ['testsrc2', 'mandelbrot', `life=seed=${s}:mold=10`, `cellauto=seed=${s}`, 'smptehdbars', 'rgbtestsrc', `color=c=0x${hex()}`,
    `gradients=seed=${s}:speed=0.05`, `sierpinski=seed=${s}`, 'testsrc'];
}

const DETECTORS: [string, ShotOptions][] = [
  ['ContentDetector 27, suppress (the spec; PySceneDetect < 0.6.4)', { detector: 'content' }],
  ['ContentDetector 27, merge (PySceneDetect 0.6.4+ default)', { detector: 'content', flashMode: 'merge' }],
  ['ContentDetector 25 (Panda-70M)', { detector: 'content', threshold: 25 }],
  ['ContentDetector 27 with the edge channel (weights 1, 1, 1, 1)', { detector: 'content', weights: { hue: 1, sat: 1, lum: 1, edges: 1 } }],
  ['AdaptiveDetector 3.0 (PySceneDetect default, Open-Sora)', { detector: 'adaptive', adaptiveThreshold: 3 }],
  ['AdaptiveDetector 21.0 (the paper)', { detector: 'adaptive', adaptiveThreshold: 21 }],
];
const FFMPEG: [string, 'select' | 'scdet', number][] = [
  ["ffmpeg select scene > 0.3", 'select', 0.3],
  ["ffmpeg select scene > 0.4", 'select', 0.4],
  ['ffmpeg scdet score > 10', 'scdet', 10],
];

async function accuracy(): Promise<string> {
  const rand = mulberry32(seed);
  const totals = new Map<string, Counts>();
  const bump = (k: string, c: Counts) => totals.set(k, add(totals.get(k) ?? { tp: 0, fp: 0, fn: 0 }, c));
  let frames = 0, cutsN = 0;
  for (let v = 0; v < nVideos; v++) {
    const src = sources(rand);
    const segs: Segment[] = [];
    const n = 4 + Math.floor(rand() * 4);
    let last = -1;
    for (let i = 0; i < n; i++) {
      let k = Math.floor(rand() * src.length);
      if (k === last) k = (k + 1) % src.length;
      last = k;
      segs.push({ src: src[k]!, frames: 15 + Math.floor(rand() * 26) });
    }
    const file = join(dir, `acc-${v}.mp4`);
    const truth = concatVideo(file, segs, { width: W, height: H, fps: FPS });
    frames += segs.reduce((a, s) => a + s.frames, 0);
    cutsN += truth.length;
    const s = await analyzeVideo(file, { ...analysisSize(W, H), backend: 'cpu', edges: true });
    for (const [name, o] of DETECTORS) bump(name, cutScores(detectCuts(s, o), truth));
    const sel = await ffmpegSceneScores(file, FPS, 'select');
    const scd = await ffmpegSceneScores(file, FPS, 'scdet');
    for (const [name, m, thr] of FFMPEG) bump(name, cutScores(cutsAbove(m === 'select' ? sel : scd, thr), truth));
  }
  // Fades through black and crossfades, scored separately: one transition per video.
  const fadeTotals = new Map<string, Counts>();
  const xfTotals = new Map<string, Counts>();
  const nT = Math.max(3, Math.round(nVideos / 2));
  for (let v = 0; v < nT; v++) {
    const src = sources(rand);
    const [a, b] = [src[v % src.length]!, src[(v + 3) % src.length]!];
    const fade = join(dir, `fade-${v}.mp4`);
    concatVideo(fade, [{ src: a, frames: 24, vf: `fade=t=out:st=${18 / FPS}:d=${6 / FPS}` }, { src: 'color=c=black', frames: 4 }, { src: b, frames: 24, vf: `fade=t=in:st=0:d=${6 / FPS}` }], { width: W, height: H, fps: FPS });
    // True cut: the middle of the dark stretch (frames 18..33 fade out, black, fade in); +-1 around 26.
    const fs = await analyzeVideo(fade, { ...analysisSize(W, H), backend: 'cpu', edges: true });
    for (const [name, o] of [['ThresholdDetector 12 (fades)', { detector: 'threshold' }] as const, ...DETECTORS]) {
      const k = name;
      fadeTotals.set(k, add(fadeTotals.get(k) ?? { tp: 0, fp: 0, fn: 0 }, cutScores(detectCuts(fs, o as ShotOptions), [26], 4)));
    }
    const xf = join(dir, `xf-${v}.mp4`);
    crossfadeVideo(xf, a, b, 30, 30, 16, { width: W, height: H, fps: FPS });
    const xs = await analyzeVideo(xf, { ...analysisSize(W, H), backend: 'cpu', edges: true });
    // A crossfade over frames 14..29 counts as found when a cut lands anywhere inside it.
    for (const [name, o] of DETECTORS) xfTotals.set(name, add(xfTotals.get(name) ?? { tp: 0, fp: 0, fn: 0 }, cutScores(detectCuts(xs, o), [22], 8)));
    const sel = await ffmpegSceneScores(xf, FPS, 'select');
    xfTotals.set(FFMPEG[0]![0], add(xfTotals.get(FFMPEG[0]![0]) ?? { tp: 0, fp: 0, fn: 0 }, cutScores(cutsAbove(sel, 0.3), [22], 8)));
  }
  const row = (name: string, c: Counts) => {
    const m = prf(c);
    return `| ${name} | ${c.tp} | ${c.fp} | ${c.fn} | ${m.p.toFixed(3)} | ${m.r.toFixed(3)} | ${m.f1.toFixed(3)} |`;
  };
  const head = '| detector | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|';
  return [
    `Hard cuts: ${nVideos} videos (seed ${seed}), ${W}x${H} at ${FPS} fps, ${frames} frames, ${cutsN} cuts; 4-7 segments of 15-40 frames from testsrc2, testsrc, mandelbrot, life, cellauto, smptehdbars, rgbtestsrc, color, gradients, sierpinski (near-lossless all-intra H.264). Match: one-to-one within +-1 frame.`,
    '', head, ...[...totals].map(([k, c]) => row(k, c)), '',
    `Fades through black (${nT} videos: 6-frame fade-out, 4 black frames, 6-frame fade-in; a cut within +-4 frames of the dark stretch's middle counts):`,
    '', head, ...[...fadeTotals].map(([k, c]) => row(k, c)), '',
    `Crossfades (${nT} videos: 16-frame xfade; a cut anywhere inside the transition counts):`,
    '', head, ...[...xfTotals].map(([k, c]) => row(k, c)),
  ].join('\n');
}

async function speed(device: Device | null): Promise<string> {
  const file = join(dir, 'speed.mp4');
  const SW = 640, SH = 360, N = 96;
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${SW}x${SH}:rate=24`, '-frames:v', String(N), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file]);
  const size = analysisSize(SW, SH);
  const px = size.width * size.height;
  const t = async (f: () => Promise<unknown>) => {
    const s = performance.now();
    await f();
    return (performance.now() - s) / 1000;
  };
  const chunks: Uint8Array[] = [];
  const decode = await t(async () => {
    for await (const c of streamVideoFrames(file, { ...size, chunkFrames: 32, scaleFlags: 'bilinear' })) chunks.push(c.data);
  });
  const counts = chunks.map((c) => c.length / (px * 3));
  const gpuT: number[] = [], cpuT: number[] = [];
  if (device) await sceneSums(device, chunks[0]!, counts[0]!, px); // compile the pipelines first
  for (let rep = 0; rep < 3; rep++) {
    if (device) gpuT.push(await t(async () => { for (let i = 0; i < chunks.length; i++) await sceneSums(device, chunks[i]!, counts[i]!, px); }));
    cpuT.push(await t(async () => { for (let i = 0; i < chunks.length; i++) sceneSumsRef(chunks[i]!, counts[i]!, px); }));
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const edgeT: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    edgeT.push(await t(async () => {
      let prev: Uint8Array | null = null;
      for (let i = 0; i < chunks.length; i++) prev = edgeDiffSums(chunks[i]!, counts[i]!, size.width, size.height, prev).last;
    }));
  }
  // Optical flow on gray 128x72 frame pairs (the motion stage's size for this video), 8 pairs per run.
  const FW = 128, FH = 72;
  const grays = Array.from({ length: 9 }, (_, k) => Float64Array.from({ length: FW * FH }, (_, i) => 128 + 60 * Math.sin(0.21 * ((i % FW) + 2 * k) + 0.13 * Math.floor(i / FW))));
  const flowT: number[] = [], flowC: number[] = [];
  const gpuPair = async (a: Float64Array, b: Float64Array) => {
    const [ta, tb] = [Tensor.from(device!, a, [FH, FW]), Tensor.from(device!, b, [FH, FW])];
    const f = opticalFlow(ta, tb);
    await f.read();
    ta.dispose(); tb.dispose(); f.dispose();
  };
  if (device) await gpuPair(grays[0]!, grays[1]!);
  for (let rep = 0; rep < 3; rep++) {
    if (device) flowT.push(await t(async () => { for (let k = 0; k < 8; k++) await gpuPair(grays[k]!, grays[k + 1]!); }));
    flowC.push(await t(async () => { for (let k = 0; k < 8; k++) opticalFlowRef(grays[k]!, grays[k + 1]!, FW, FH); }));
  }
  const ff = await t(() => ffmpegSceneScores(file, 24, 'select'));
  const exp = await t(() => exportClip({ input: file, out: join(dir, 'clip.mp4'), startFrame: 24, numFrames: 48, fps: 24 }));
  const fps = (n: number, s: number) => (n / s).toFixed(0);
  const lines = [
    `Speed: testsrc2 ${SW}x${SH}, ${N} frames (analysis size ${size.width}x${size.height}, PySceneDetect's downscale); median of 3 interleaved runs for the statistics.`,
    '', '| stage | frames/s |', '|---|---|',
    `| decode to ${size.width}x${size.height} rgb24 (ffmpeg pipe, 32-frame chunks) | ${fps(N, decode)} |`,
    device ? `| scene statistics, WebGPU kernel (${device.adapter.description || 'adapter'}; upload + 2 dispatches + readback per chunk) | ${fps(N, med(gpuT))} |` : '| scene statistics, WebGPU kernel | (no adapter) |',
    `| scene statistics, CPU implementation (engine/ops/scene.ref.ts, one thread) | ${fps(N, med(cpuT))} |`,
    `| edge channel (Canny + dilate of V, CPU, engine/data/edges.ts; only with an edge weight) | ${fps(N, med(edgeT))} |`,
    device ? `| optical flow ${FW}x${FH} pairs, WebGPU kernel (3 levels x 3 LK iterations, 7x7 window) | ${fps(8, med(flowT))} pairs/s |` : '| optical flow, WebGPU kernel | (no adapter) |',
    `| optical flow ${FW}x${FH} pairs, float64 reference on the CPU | ${fps(8, med(flowC))} pairs/s |`,
    `| ffmpeg select scene score (full ${SW}x${SH}, its own decode included) | ${fps(N, ff)} |`,
    `| clip export (48 frames, x264 medium CRF 18, ${SW}x${SH}) | ${fps(48, exp)} |`,
  ];
  return lines.join('\n');
}

const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
let device: Device | null = null;
try {
  device = await Device.create({ label: 'bench-data' });
} catch (e) {
  console.error(`no WebGPU adapter (${(e as Error).message.split('\n')[0]}): GPU column skipped`);
}
const acc = await accuracy();
const spd = await speed(device);
const loadAfter = os.loadavg().map((x) => x.toFixed(2)).join(' ');
device?.destroy();
rmSync(dir, { recursive: true, force: true });
const date = new Date().toISOString().slice(0, 10);
const block = `<!-- bench:data:start -->\nCommand: \`npm run bench:data -- --videos ${nVideos} --seed ${seed} --size ${W}x${H}\` — ${date}, load average ${load} before, ${loadAfter} after (2 cores shared with other jobs: speeds are rough).\n\n${acc}\n\n${spd}\n<!-- bench:data:end -->`;
console.log(block);
if (!args.flag('no-write')) {
  const path = new URL('../docs/data.md', import.meta.url);
  const doc = readFileSync(path, 'utf8');
  if (!doc.includes('<!-- bench:data:start -->')) throw new Error('docs/data.md has no bench:data markers');
  writeFileSync(path, doc.replace(/<!-- bench:data:start -->[\s\S]*<!-- bench:data:end -->/, block));
}
