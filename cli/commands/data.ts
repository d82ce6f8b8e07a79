// `parallax data ...`: data set tools. `data synth` writes captioned synthetic videos (coloured shapes moving over
// plain backgrounds) with a meta file that training reads; `data read-attributes` reads a clip's attributes back
// from its pixels (the detector the prompt-following evaluation uses).
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { readClip } from '../../engine/data/attributes.js';
import { writeSynthDataset } from '../../engine/data/synth-dataset.js';
import { readVideoFrames } from '../../engine/video/decode.js';
import { parseFloatArg, parseIntArg } from '../options.js';

interface SynthCliOptions {
  out: string;
  count: number;
  seed: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
  heldoutCount: number;
}

export function registerData(program: Command): void {
  const data = program.command('data').description('data set tools: synthetic training videos, attribute read-back');
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
    .action(async (o: SynthCliOptions) => {
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'synth [{bar}] {value}/{total} clips | ETA {eta_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
        : null;
      bar?.start(o.count + o.heldoutCount, 0);
      const s = await writeSynthDataset({ ...o, onClip: (done) => bar?.update(done) }).finally(() => bar?.stop());
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
}
