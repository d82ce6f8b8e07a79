// `parallax data ...`: data set tools. `data synth` writes captioned synthetic videos (coloured shapes moving over
// plain backgrounds) with a meta file that training reads; `data read-attributes` reads a clip's attributes back
// from its pixels (the detector the prompt-following evaluation uses). The curation pipeline (docs/data.md):
// `data probe`, `data shots`, `data events` and `data curate IN... --out DIR` (probe, shots, events, static filter, optional motion,
// aesthetic, watermark (LAION EfficientNet) and text-area (CRAFT) scores, clip export, meta).
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { readClip } from '../../engine/data/attributes.js';
import { analysisSize, analyzeVideo } from '../../engine/data/analyze.js';
import { readCaptionSegments, segmentCaptioner } from '../../engine/data/caption.js';
import { loadLaionAesthetic } from '../../engine/data/aesthetic-model.js';
import { loadLaionWatermark } from '../../engine/data/watermark-model.js';
import { loadCraftDetector } from '../../engine/data/craft-detector.js';
import { curate, type CurateProgress } from '../../engine/data/curate.js';
import { ClipVideoEmbedder } from '../../engine/data/clip-events.js';
import { ViclipVideoEmbedder } from '../../engine/data/viclip-events.js';
import { ColourHistogramEmbedder, distance, eventRules, shotEdgeEmbeddings, stitchEvents, type VideoEmbedder } from '../../engine/data/events.js';
import { probeVideo, probeVideos } from '../../engine/data/probe.js';
import { DEFAULT_WEIGHTS, detectCuts, frameStatsRows, needsEdges, scenesFromCuts, type ContentWeights, type DetectorKind, type ShotOptions } from '../../engine/data/shots.js';
import { toCsv, type MetaFormat } from '../../engine/data/meta-table.js';
import { writeFile } from 'node:fs/promises';
import type { StaticMode } from '../../engine/data/static.js';
import { writeSynthDataset } from '../../engine/data/synth-dataset.js';
import { writeSynthRaw } from '../../engine/data/synth-raw.js';
import { Device } from '../../engine/gpu/device.js';
import { readVideoFrames } from '../../engine/video/decode.js';
import { CleanupStack } from '../cleanup.js';
import { parseFloatArg, parseIntArg } from '../options.js';

interface ShotCliOptions {
  detector: DetectorKind;
  threshold?: number;
  adaptiveThreshold: number;
  minContentVal: number;
  minSceneLen: number;
  fadeBias: number;
  flashMode: 'suppress' | 'merge';
  weights: ContentWeights;
  backend: 'auto' | 'gpu' | 'cpu';
}

/** --weights H,S,L,E: four numbers (PySceneDetect's delta_hue, delta_sat, delta_lum, delta_edges weights). */
function parseWeights(v: string): ContentWeights {
  const parts = v.split(',').map((x) => x.trim());
  const n = parts.map(Number);
  if (parts.length !== 4 || parts.some((x) => x === '') || n.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError(`--weights must be four comma-separated numbers H,S,L,E (e.g. 1,1,1,0), got "${v}"`);
  if (n.every((x) => x === 0)) throw new InvalidArgumentError('--weights: at least one weight must be non-zero');
  return { hue: n[0]!, sat: n[1]!, lum: n[2]!, edges: n[3]! };
}

function addShotOptions(c: Command): Command {
  return c
    .addOption(new Option('--detector <kind>', 'PySceneDetect detector: content (HSV difference), adaptive (against its neighbours), threshold (fades to black)').choices(['content', 'adaptive', 'threshold']).default('content'))
    .option('--threshold <x>', 'content: cut when the score >= this (default 27; Panda-70M uses 25); threshold: the black level (default 12)', parseFloatArg('--threshold', 0))
    .option('--adaptive-threshold <x>', 'adaptive: ratio threshold (PySceneDetect default 3.0; the Vchitect paper states 21.0, which misses cuts in motion-heavy footage)', parseFloatArg('--adaptive-threshold', 0), 3)
    .option('--min-content-val <x>', 'adaptive: minimum content score for a cut', parseFloatArg('--min-content-val', 0), 15)
    .option('--min-scene-len <n>', 'frames between cuts at least', parseIntArg('--min-scene-len', 1), 15)
    .addOption(new Option('--flash-mode <m>', 'content: how --min-scene-len is enforced: suppress (cuts closer than it are dropped; the spec, PySceneDetect < 0.6.4) or merge (a run of close cuts becomes one; PySceneDetect 0.6.4+)').choices(['suppress', 'merge']).default('suppress'))
    .option('--weights <h,s,l,e>', 'content/adaptive: weights of delta_hue, delta_sat, delta_lum, delta_edges (PySceneDetect\'s ContentDetector weights; the score is their weighted mean). A non-zero edge weight computes Canny edges of V on the CPU (slower)', parseWeights, { ...DEFAULT_WEIGHTS })
    .option('--fade-bias <x>', 'threshold: -1 cut at the fade-out .. +1 at the fade-in', parseFloatArg('--fade-bias', -1), 0)
    .addOption(new Option('--backend <b>', 'scene statistics on the GPU (WebGPU kernel) or the CPU (same integers); auto: GPU when an adapter exists').choices(['auto', 'gpu', 'cpu']).default('auto'));
}

function shotOptions(o: ShotCliOptions): ShotOptions {
  return { detector: o.detector, threshold: o.threshold, adaptiveThreshold: o.adaptiveThreshold, minContentVal: o.minContentVal, minSceneLen: o.minSceneLen, fadeBias: o.fadeBias, flashMode: o.flashMode, weights: o.weights };
}

/** The device for --backend: auto falls back to the CPU (with a note) when no WebGPU adapter is there. */
async function openBackend(b: 'auto' | 'gpu' | 'cpu'): Promise<{ backend: 'gpu' | 'cpu'; device?: Device }> {
  if (b === 'cpu') return { backend: 'cpu' };
  try {
    return { backend: 'gpu', device: await Device.create({ label: 'data' }) };
  } catch (e) {
    if (b === 'gpu') throw e;
    process.stderr.write(`note: no WebGPU device (${(e as Error).message.split('\n')[0]}); scene statistics run on the CPU\n`);
    return { backend: 'cpu' };
  }
}

interface EventCliOptions {
  eventThreshold: number;
  transitionDistance?: number;
  stillEventDistance?: number;
  minEventSeconds?: number;
  eventEmbedder: 'histogram' | 'clip' | 'viclip';
  clipModel?: string;
  viclipModel?: string;
}

function addEventOptions(c: Command): Command {
  return c
    .addOption(new Option('--event-embedder <kind>', 'what embeds the 8 head/tail frames of a shot: histogram (weightless joint RGB histogram; the default), viclip (the paper\'s: ViCLIP\'s video encoder from --viclip-model on the 8 frames as one clip; runs on WebGPU) or clip (a CLIP ViT image tower from --clip-model: the normalised mean of the 8 normalised frame embeddings; runs on WebGPU)').choices(['histogram', 'clip', 'viclip']).default('histogram'))
    .option('--clip-model <dir>', 'CLIPVisionModelWithProjection folder for --event-embedder clip (config.json + model.safetensors; an --aesthetic-model folder works)')
    .option('--viclip-model <dir>', 'ViCLIP folder for --event-embedder viclip: model.safetensors converted from ViClip-InternVid-10M-FLT.pth with its own key names (docs/data.md), optional config.json')
    .option('--event-threshold <x>', 'adjacent shots are one event when cos(embedding of the previous shot\'s last 8 frames, of the next shot\'s first 8) > this (the paper: 0.6 with ViCLIP; with CLIP image embeddings unrelated frames often exceed 0.6: Panda-70M\'s distance 0.6 is cos > 0.82)', parseFloatArg('--event-threshold', -1), 0.6)
    .option('--transition-distance <d>', 'Panda-70M: drop a shot whose head and tail embeddings are farther apart than this (Euclidean; a transition effect; Panda-70M 1.0). It is its own event and its neighbours do not join across it. Off by default', parseFloatArg('--transition-distance', 0))
    .option('--still-event-distance <d>', 'Panda-70M: drop an event whose first shot\'s head and last shot\'s tail embeddings are closer than this (a still event; Panda-70M 0.15). Off by default', parseFloatArg('--still-event-distance', 0))
    .option('--min-event-seconds <s>', 'Panda-70M: drop events spanning less than this (Panda-70M 2.0). Off by default', parseFloatArg('--min-event-seconds', 0));
}

/** Panda-70M's rule options for curate's events. */
function eventRuleOptions(o: EventCliOptions): { transitionDistance?: number; stillDistance?: number; minEventSeconds?: number } {
  return { transitionDistance: o.transitionDistance, stillDistance: o.stillEventDistance, minEventSeconds: o.minEventSeconds };
}

/** The event embedder the options ask for; a CLIP or ViCLIP one opens its own device when the scene statistics have none. */
async function openEventEmbedder(o: EventCliOptions, device?: Device): Promise<{ embedder: VideoEmbedder; close: () => void }> {
  const kind = o.eventEmbedder;
  if (o.clipModel && kind !== 'clip') throw new Error('--clip-model is only read with --event-embedder clip');
  if (o.viclipModel && kind !== 'viclip') throw new Error('--viclip-model is only read with --event-embedder viclip');
  if (kind === 'histogram') return { embedder: new ColourHistogramEmbedder(), close: () => {} };
  const dir = kind === 'clip' ? o.clipModel : o.viclipModel;
  if (!dir) {
    throw new Error(kind === 'clip'
      ? '--event-embedder clip needs --clip-model DIR (a CLIPVisionModelWithProjection folder: config.json + model.safetensors)'
      : '--event-embedder viclip needs --viclip-model DIR (a folder with model.safetensors converted from ViClip-InternVid-10M-FLT.pth: docs/data.md)');
  }
  const own = device ? undefined : await Device.create({ label: 'events' }).catch((e: Error) => {
    throw new Error(`--event-embedder ${kind} needs a WebGPU device: ${e.message.split('\n')[0]}`);
  });
  try {
    const e = kind === 'clip' ? await ClipVideoEmbedder.load((device ?? own)!, dir) : await ViclipVideoEmbedder.load((device ?? own)!, dir);
    return { embedder: e, close: () => { e.dispose(); own?.destroy(); } };
  } catch (err) {
    own?.destroy();
    throw err;
  }
}

interface CurateCliOptions extends ShotCliOptions, EventCliOptions {
  out: string;
  minFrames: number;
  maxStaticRatio: number;
  staticThreshold: number;
  staticMode: StaticMode;
  maxShotSeconds?: number;
  forceCutSeconds?: number;
  crf: number;
  preset: string;
  exportSize?: { width: number; height: number };
  force?: boolean;
  captions?: string;
  events: boolean;
  motion?: boolean;
  minFlow?: number;
  csv?: boolean;
  parquet?: boolean;
  aestheticModel?: string;
  minAesthetic?: number;
  watermark?: string;
  maxWatermark?: number;
  textDetector?: string;
  textCanvasSize: number;
  textMagRatio: number;
}

/** --export-size WxH: two even positive integers (H.264 yuv420p). */
function parseExportSize(v: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(v.trim());
  const [width, height] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || width < 2 || height < 2 || width % 2 || height % 2) throw new InvalidArgumentError(`--export-size must be WIDTHxHEIGHT with two even positive numbers (H.264 yuv420p), e.g. 64x48, got "${v}"`);
  return { width, height };
}

/** Progress per stage: cli-progress bars on a TTY, one line per finished video otherwise. */
function curateProgress(): { on: (e: CurateProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) {
    return {
      on: (e) => {
        if (e.stage === 'probe' && e.done === e.total) process.stderr.write(`probe: ${e.total} inputs\n`);
        if (e.stage === 'video') process.stderr.write(`[${e.done}/${e.total}] ${e.video}${e.resumed ? ' (done before, skipped)' : ''}\n`);
      },
      stop: () => {},
    };
  }
  const multi = new cliProgress.MultiBar({ format: '{stage} [{bar}] {value}/{total} {unit} {name}', stream: process.stderr, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  const bars = new Map<string, cliProgress.SingleBar>();
  const units: Record<string, string> = { probe: 'files', video: 'videos', analyze: 'frames', events: 'passes', motion: 'clips', scores: 'clips', export: 'clips' };
  const bar = (stage: string, total: number) => {
    let b = bars.get(stage);
    if (!b) bars.set(stage, (b = multi.create(total, 0, { stage: stage.padEnd(7), unit: units[stage], name: '' })));
    b.setTotal(total);
    return b;
  };
  return {
    on: (e) => bar(e.stage, e.total).update(e.done, { name: 'video' in e ? e.video : '' }),
    stop: () => multi.stop(),
  };
}

interface SynthCliOptions {
  out: string;
  count: number;
  seed: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
  heldoutCount: number;
  csv?: boolean;
  parquet?: boolean;
}

/** The meta formats asked for besides the canonical JSONL. */
function metaFormats(o: { csv?: boolean; parquet?: boolean }): MetaFormat[] {
  return [...(o.csv ? ['csv' as const] : []), ...(o.parquet ? ['parquet' as const] : [])];
}

export function registerData(program: Command): void {
  const data = program.command('data').description('data set tools: synthetic training videos, attribute read-back, and the curation pipeline (probe, shots, events, curate)');
  data
    .command('synth')
    .description('write captioned synthetic videos ("a red circle moving left on a blue background") as MP4 clips + meta.jsonl; ~10% of the attribute combinations are held out (heldout.jsonl)')
    .requiredOption('--out <dir>', 'output folder (clips/, meta.jsonl, heldout.jsonl)')
    .option('--count <n>', 'training clips to write', parseIntArg('--count', 1), 1000)
    .option('--seed <n>', 'data seed (clip i depends only on the seed and i)', parseIntArg('--seed', 0), 0)
    .option('--width <px>', 'frame width', parseIntArg('--width', 16), 64)
    .option('--height <px>', 'frame height', parseIntArg('--height', 16), 64)
    .option('--frames <n>', 'frames per clip', parseIntArg('--frames', 2), 8)
    .option('--fps <n>', 'frames per second written into the MP4s and the meta file', parseFloatArg('--fps', 1), 8)
    .option('--heldout-count <n>', 'also write this many clips of the held-out combinations (evaluation references)', parseIntArg('--heldout-count', 0), 0)
    .option('--csv', 'also write meta.csv (meta.jsonl is always written)')
    .option('--parquet', 'also write meta.parquet (typed columns; meta.jsonl is always written)')
    .action(async (o: SynthCliOptions) => {
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'synth [{bar}] {value}/{total} clips | ETA {eta_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
        : null;
      bar?.start(o.count + o.heldoutCount, 0);
      const s = await writeSynthDataset({ ...o, formats: metaFormats(o), onClip: (done) => bar?.update(done) }).finally(() => bar?.stop());
      console.log(`wrote ${s.train} training clips${s.heldoutClips ? ` and ${s.heldoutClips} held-out clips` : ''} (${o.width}x${o.height}, ${o.frames} frames at ${o.fps} fps) to ${o.out}: ${s.metaPath}, ${s.heldoutPrompts} held-out prompts in ${s.heldoutPath}`);
    });
  data
    .command('read-attributes')
    .description('read colour, shape, background and direction of motion back from a synthetic-style video')
    .argument('<video>', 'an MP4 (or anything ffmpeg reads)')
    .option('--width <px>', 'analysis width (the video is scaled to it)', parseIntArg('--width', 16), 64)
    .option('--height <px>', 'analysis height', parseIntArg('--height', 16), 64)
    .action(async (video: string, o: { width: number; height: number }) => {
      const frames = await readVideoFrames(video, o);
      if (!frames.length) throw new Error(`${video} has no frames`);
      const r = readClip(frames, o.width, o.height);
      console.log(JSON.stringify({ colour: r.colour, shape: r.shape, direction: r.direction, background: r.background, frames: frames.length }));
    });
  data
    .command('synth-raw')
    .description('write long "raw" videos for the curation pipeline: synthetic captioned clips back to back (hard cuts), held-still stretches and a too-short tail, plus captions.jsonl (for `data curate --captions`)')
    .requiredOption('--out <dir>', 'output folder (raw/*.mp4, captions.jsonl)')
    .option('--videos <n>', 'raw videos', parseIntArg('--videos', 1), 2)
    .option('--clips <n>', 'moving clips per video', parseIntArg('--clips', 1), 4)
    .option('--frames <n>', 'frames per clip and per still stretch', parseIntArg('--frames', 16), 20)
    .option('--width <px>', 'frame width', parseIntArg('--width', 16), 64)
    .option('--height <px>', 'frame height', parseIntArg('--height', 16), 48)
    .option('--fps <n>', 'frames per second', parseFloatArg('--fps', 1), 8)
    .option('--seed <n>', 'data seed', parseIntArg('--seed', 0), 0)
    .action(async (o: { out: string; videos: number; clips: number; frames: number; width: number; height: number; fps: number; seed: number }) => {
      const segs = await writeSynthRaw(o);
      const n = (k: string) => segs.filter((s) => s.kind === k).length;
      console.log(`wrote ${o.videos} raw videos to ${o.out}/raw with ${n('clip')} moving clips, ${n('still')} still stretches, ${n('tail')} short tails; captions: ${o.out}/captions.jsonl`);
    });
  data
    .command('probe')
    .description('ffprobe each video: codec, display size (rotation applied), fps as a rational, frame count (packets counted when the container has none), duration; one JSON line per video, unreadable files reported on stderr and skipped')
    .argument('<videos...>', 'video files')
    .action(async (videos: string[]) => {
      const { records, failures } = await probeVideos(videos);
      for (const r of records) console.log(JSON.stringify(r));
      for (const f of failures) process.stderr.write(`skipped ${f.path}: ${f.error}\n`);
      if (!records.length) process.exitCode = 1;
    });
  addShotOptions(
    data
      .command('shots')
      .description('detect shots in one video with the PySceneDetect detectors (frames scaled to 256 wide like PySceneDetect, statistics on the GPU); prints JSON: cuts and scenes [start, end) in frames and seconds')
      .argument('<video>', 'a video file')
      .option('--stats <file.csv>', 'also write per-frame metrics (content_val, delta_hue/sat/lum, adaptive_ratio, delta_gray, average_rgb; delta_edges with an edge weight) for tuning thresholds'),
  ).action(async (video: string, o: ShotCliOptions & { stats?: string }) => {
    const r = await probeVideo(video);
    const { backend, device } = await openBackend(o.backend);
    try {
      const series = await analyzeVideo(r.path, { ...analysisSize(r.width, r.height), backend, device, edges: needsEdges(o.weights) && o.detector !== 'threshold' });
      const cuts = detectCuts(series, shotOptions(o));
      if (o.stats) await writeFile(o.stats, toCsv(frameStatsRows(series, r.fps, { minContentVal: o.minContentVal, weights: o.weights }).map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number.isNaN(v) ? null : v])))));
      const scenes = scenesFromCuts(cuts, series.frames).map(([start, end]) => ({ start, end, start_time: start / r.fps, end_time: end / r.fps }));
      console.log(JSON.stringify({ path: r.path, frames: series.frames, fps: r.fps, detector: o.detector, backend, cuts, scenes }));
    } finally {
      device?.destroy();
    }
  });
  addEventOptions(
    addShotOptions(
      data
        .command('events')
        .description('detect shots in one video (as `data shots`), then stitch adjacent shots into events by the similarity of their head/tail frame embeddings; prints JSON: shots, per shot its event, the cosine to the previous shot, its head-tail distance and the Panda-70M rule that drops it (null: none, or the rule is off)')
        .argument('<video>', 'a video file'),
    ),
  ).action(async (video: string, o: ShotCliOptions & EventCliOptions) => {
    const r = await probeVideo(video);
    const { backend, device } = await openBackend(o.backend);
    const ev = await openEventEmbedder(o, device);
    try {
      const series = await analyzeVideo(r.path, { ...analysisSize(r.width, r.height), backend, device, edges: needsEdges(o.weights) && o.detector !== 'threshold' });
      const scenes = scenesFromCuts(detectCuts(series, shotOptions(o)), series.frames);
      const { head, tail } = await shotEdgeEmbeddings(r.path, scenes, ev.embedder, undefined, r);
      const st = stitchEvents(scenes, head, tail, o.eventThreshold, { transitionDistance: o.transitionDistance });
      const rule = eventRules(scenes, st, head, tail, { stillDistance: o.stillEventDistance, minEventFrames: o.minEventSeconds !== undefined ? o.minEventSeconds * r.fps : undefined });
      const shots = scenes.map(([start, end], i) => ({
        start, end, event: st.events[i], similarity: i ? st.similarity[i] : null, head_tail_distance: distance(head[i]!, tail[i]!),
        drop: st.transition[i] ? 'transition' : (rule[i] ?? null),
      }));
      console.log(JSON.stringify({ path: r.path, frames: series.frames, fps: r.fps, embedder: ev.embedder.name, threshold: o.eventThreshold, events: new Set(st.events).size, shots }));
    } finally {
      ev.close();
      device?.destroy();
    }
  });
  const curateCmd = addShotOptions(
    data
      .command('curate')
      .description('turn videos into a training set: probe, shot detection, event stitching, static filter, optional motion and model scores (aesthetic, watermark, text), frame-accurate clip export; writes DIR/clips/{id}_scene-{k}.mp4, meta.jsonl (kept clips), dropped.jsonl (with the reason), report.json. Rerunning skips finished videos.')
      .argument('<videos...>', 'video files (unreadable ones are reported and skipped)')
      .requiredOption('--out <dir>', 'output folder')
      .option('--min-frames <n>', 'drop scenes shorter than this', parseIntArg('--min-frames', 1), 16)
      .option('--max-static-ratio <x>', 'drop clips whose fraction of static frame pairs is >= this (the paper: 0.3)', parseFloatArg('--max-static-ratio', 0), 0.3)
      .option('--static-threshold <x>', 'a frame pair is static when its mean |gray difference| < this', parseFloatArg('--static-threshold', 0), 0.9)
      .addOption(new Option('--static-mode <m>', 'mad: mean |g_t - g_t-1| (default); mean: |mean g_t - mean g_t-1| (the other reading; calls slow pans static)').choices(['mad', 'mean']).default('mad'))
      .option('--max-shot-seconds <s>', 'Panda-70M: split shots longer than this (with --force-cut-seconds, default 5)', parseFloatArg('--max-shot-seconds', 0))
      .option('--force-cut-seconds <s>', 'piece length when splitting long shots', parseFloatArg('--force-cut-seconds', 0))
      .option('--crf <n>', 'x264 CRF of the exported clips', parseIntArg('--crf', 0), 18)
      .option('--preset <p>', 'x264 preset of the exported clips', 'medium')
      .option('--export-size <WxH>', 'scale the exported clips to exactly W x H (even; not cropped: keep the aspect to avoid stretching). `parallax train` needs multiples of the VAE scale x patch (16 for make-tiny models); default: the source size (odd sizes cut to even)', parseExportSize)
      .option('--captions <file.jsonl>', 'captions of known source segments ({"source", "start_frame", "end_frame", "text"} per line, e.g. from the synthetic generator): each clip gets the text of the segment it overlaps most')
      .option('--motion', 'measure motion with dense optical flow (pyramidal Lucas-Kanade in WGSL): fills flow (mean px/frame at <= 128 px wide) and dynamic (VBench dynamic degree)')
      .option('--min-flow <x>', 'drop clips whose flow score is below this (implies --motion)', parseFloatArg('--min-flow', 0))
      .option('--csv', 'also write meta.csv and dropped.csv (JSONL is always written)')
      .option('--parquet', 'also write meta.parquet and dropped.parquet (typed columns; JSONL is always written)')
      .option('--no-events', 'do not stitch shots into events (each shot is its own event)')
      .option('--aesthetic-model <dir>', 'LAION aesthetic score (aes) with this model folder: config.json + model.safetensors of a CLIPVisionModelWithProjection (ViT-L/14 for the real predictor) and aesthetic.safetensors (the MLP head, layers.{0,2,4,6,7}); runs on the GPU. Without it aes stays null')
      .option('--min-aesthetic <x>', 'drop clips whose aesthetic score is below this (needs --aesthetic-model; Open-Sora uses 5, Panda 4.5)', parseFloatArg('--min-aesthetic', -1e9))
      .option('--watermark <file>', "LAION watermark probability (watermark_prob: the max over the first, middle and last frame) with this model: timm efficientnet_b3a + LAION's head as safetensors with timm's keys (convert watermark_model_v1.pt, see docs/data.md); runs on the GPU. Without it watermark_prob stays null")
      .option('--max-watermark <p>', 'drop clips whose watermark probability is >= this (needs --watermark; default 0.5)', parseFloatArg('--max-watermark', 0))
      .option('--text-detector <file>', 'text area (ocr) with the CRAFT detector (clovaai/CRAFT-pytorch, craft_mlt_25k.pth converted to safetensors; see docs/data.md): boxes on the first, middle and last frame; drops a clip (text) when more than one of them has boxes over 2% of the frame; runs on the GPU. Without it ocr stays null')
      .option('--text-canvas-size <n>', 'CRAFT: the longest side frames are resized to at most (CRAFT test.py: 1280; EasyOCR: 2560)', parseIntArg('--text-canvas-size', 32), 1280)
      .option('--text-mag-ratio <x>', 'CRAFT: magnification of the longer side before the canvas cap (test.py: 1.5; EasyOCR: 1)', parseFloatArg('--text-mag-ratio', 0), 1.5)
      .option('--force', 'redo every video even when a finished state exists'),
  );
  addEventOptions(curateCmd).action(async (videos: string[], o: CurateCliOptions) => {
    if (o.minAesthetic !== undefined && !o.aestheticModel) throw new Error('--min-aesthetic needs --aesthetic-model DIR (there is no aesthetic score without a model)');
    const captioner = o.captions ? segmentCaptioner(await readCaptionSegments(o.captions)) : undefined;
    if (o.maxWatermark !== undefined && !o.watermark) throw new Error('--max-watermark needs --watermark FILE (there is no watermark score without a model)');
    const { backend, device } = await openBackend(o.backend);
    // The models run on the GPU even when the scene statistics run on the CPU.
    const modelFlag = o.aestheticModel ? '--aesthetic-model' : o.watermark ? '--watermark' : o.textDetector ? '--text-detector' : undefined;
    const cleanup = new CleanupStack();
    cleanup.add(device, (d) => d.destroy());
    // Each resource is registered as soon as it exists: a load that fails releases the earlier ones.
    const { aesthetic, watermark, text, ev } = await (async () => {
      const modelDevice = modelFlag ? (device ?? cleanup.add(await Device.create({ label: 'models' }).catch((e: Error) => {
        throw new Error(`${modelFlag} needs a WebGPU device: ${e.message.split('\n')[0]}`);
      }), (d) => d.destroy())) : undefined;
      return {
        aesthetic: o.aestheticModel ? cleanup.add(await loadLaionAesthetic(modelDevice!, o.aestheticModel), (m) => m.model.dispose()) : undefined,
        watermark: o.watermark ? cleanup.add(await loadLaionWatermark(modelDevice!, o.watermark), (m) => m.model.dispose()) : undefined,
        text: o.textDetector ? cleanup.add(await loadCraftDetector(modelDevice!, o.textDetector, { canvasSize: o.textCanvasSize, magRatio: o.textMagRatio }), (m) => m.model.dispose()) : undefined,
        ev: o.events ? cleanup.add(await openEventEmbedder(o, modelDevice ?? device), (e) => e.close()) : undefined,
      };
    })().catch((e: unknown) => {
      cleanup.run();
      throw e;
    });
    const progress = curateProgress();
    try {
      const rep = await curate({
        inputs: videos, out: o.out, backend, device, shots: shotOptions(o), minFrames: o.minFrames, maxStaticRatio: o.maxStaticRatio,
        staticThreshold: o.staticThreshold, staticMode: o.staticMode, maxShotSeconds: o.maxShotSeconds,
        forceCutSeconds: o.maxShotSeconds ? (o.forceCutSeconds ?? 5) : undefined, crf: o.crf, preset: o.preset, exportSize: o.exportSize, force: o.force, captioner, onProgress: progress.on,
        events: ev ? { embedder: ev.embedder, threshold: o.eventThreshold, ...eventRuleOptions(o) } : undefined,
        motion: o.motion || o.minFlow !== undefined ? { minFlow: o.minFlow } : undefined,
        formats: metaFormats(o),
        scores: aesthetic || watermark || text ? { ...(aesthetic ? { aesthetic: aesthetic.scorer, minAesthetic: o.minAesthetic } : {}), ...(watermark ? { watermark: watermark.scorer, maxWatermark: o.maxWatermark } : {}), ...(text ? { text } : {}) } : undefined,
      }).finally(() => progress.stop());
      for (const f of rep.failures) process.stderr.write(`skipped ${f.path}: ${f.error}\n`);
      for (const n of rep.notes) process.stderr.write(`note: ${n}\n`);
      const v = rep.videos;
      console.log(`${v.probed} of ${v.inputs} videos readable (${v.processed} processed, ${v.resumed} done before); ${rep.scenes} scenes: ${rep.kept} kept (${rep.keptFrames} frames), dropped ${rep.dropped.too_short} too short, ${rep.dropped.static} static${rep.dropped.low_flow ? `, ${rep.dropped.low_flow} low flow` : ''}${rep.dropped.low_aesthetic ? `, ${rep.dropped.low_aesthetic} low aesthetic` : ''}${rep.dropped.watermark ? `, ${rep.dropped.watermark} watermark` : ''}${rep.dropped.text ? `, ${rep.dropped.text} text` : ''}${(['transition', 'still_event', 'short_event'] as const).map((k) => (rep.dropped[k] ? `, ${rep.dropped[k]} ${k.replace('_', ' ')}` : '')).join('')}`);
      console.log(`meta: ${rep.metaPath}  dropped: ${rep.droppedPath}  report: ${o.out}/report.json`);
      if (!v.probed) process.exitCode = 1;
    } finally {
      cleanup.run();
    }
  });
}
