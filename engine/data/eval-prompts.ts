// Prompt-following evaluation (training.md section 5): generate a video for each prompt of known attributes (the
// held-out combinations by default), read the attributes back from the frames (engine/data/attributes.ts) and
// report, per attribute, the share read back correctly. Backend-agnostic: any TextToVideoPipeline (or generator).

import type { DecodedVideo } from '../pipeline/backend.js';
import type { GenerateOptions } from '../pipeline/text-to-video.js';
import type { GuidanceMode } from '../reference/flow-match.js';
import { readClip, type ClipReading } from './attributes.js';
import { caption, heldOutCombinations, type Attributes } from './synth.js';

export const ATTRIBUTE_NAMES = ['colour', 'shape', 'direction', 'background'] as const;
export type AttributeName = (typeof ATTRIBUTE_NAMES)[number];

/** What evaluation needs of a pipeline (TextToVideoPipeline has it). */
export interface VideoGenerator {
  generate(o: GenerateOptions): Promise<{ video: DecodedVideo }>;
}

export interface EvalPrompt {
  text: string;
  attributes: Attributes;
}

export interface EvalSettings {
  frames: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  /** How the CFG weight varies over the steps (default 'reference', the Vchitect pipeline's). */
  guidanceMode?: GuidanceMode;
  /** Seeds per prompt: seed, seed + 1, ... */
  seeds: number;
  seed: number;
}

export interface EvalSample {
  prompt: string;
  seed: number;
  want: Attributes;
  got: Pick<ClipReading, AttributeName>;
  correct: Record<AttributeName, boolean>;
  /** The first frame (RGB), for contact sheets. */
  firstFrame: Uint8Array;
  lastFrame: Uint8Array;
}

export interface EvalReport {
  settings: EvalSettings;
  samples: EvalSample[];
  /** Share correct per attribute, and 'all' = every attribute of a sample right. */
  accuracy: Record<AttributeName | 'all', number>;
}

export function heldOutPrompts(): EvalPrompt[] {
  return heldOutCombinations().map((a) => ({ text: caption(a), attributes: a }));
}

/** Generates every prompt with `seeds` seeds and scores the attributes read back. */
export async function evaluatePrompts(
  pipe: VideoGenerator,
  prompts: readonly EvalPrompt[],
  s: EvalSettings,
  onSample?: (done: number, total: number, sample: EvalSample) => void,
): Promise<EvalReport> {
  if (!prompts.length) throw new Error('eval-prompts: no prompts to evaluate');
  const samples: EvalSample[] = [];
  const total = prompts.length * s.seeds;
  for (const p of prompts) {
    for (let k = 0; k < s.seeds; k++) {
      const seed = s.seed + k;
      const r = await pipe.generate({ prompt: p.text, frames: s.frames, width: s.width, height: s.height, steps: s.steps, guidance: s.guidance, guidanceMode: s.guidanceMode, seed });
      const { width, height, frames } = r.video;
      const got = readClip(frames, width, height);
      const correct = Object.fromEntries(ATTRIBUTE_NAMES.map((a) => [a, got[a] === p.attributes[a]])) as Record<AttributeName, boolean>;
      const sample: EvalSample = {
        prompt: p.text, seed, want: p.attributes,
        got: { colour: got.colour, shape: got.shape, direction: got.direction, background: got.background },
        correct, firstFrame: frames[0]!, lastFrame: frames[frames.length - 1]!,
      };
      samples.push(sample);
      onSample?.(samples.length, total, sample);
    }
  }
  const share = (f: (x: EvalSample) => boolean) => samples.filter(f).length / samples.length;
  const accuracy = Object.fromEntries(ATTRIBUTE_NAMES.map((a) => [a, share((x) => x.correct[a])])) as Record<AttributeName | 'all', number>;
  accuracy.all = share((x) => ATTRIBUTE_NAMES.every((a) => x.correct[a]));
  return { settings: s, samples, accuracy };
}

/** Counts of (wanted, read back) values of one attribute over the samples: rows are the wanted values, in first-seen order. */
export function confusion(samples: readonly EvalSample[], attr: AttributeName): Record<string, Record<string, number>> {
  const rows: Record<string, Record<string, number>> = {};
  for (const s of samples) {
    const row = (rows[s.want[attr]] ??= {});
    row[s.got[attr]] = (row[s.got[attr]] ?? 0) + 1;
  }
  return rows;
}

/** One line per wanted value: "left -> left 3, up 2, none 1" (most read first). */
export function confusionLines(samples: readonly EvalSample[], attr: AttributeName): string[] {
  return Object.entries(confusion(samples, attr)).map(([want, row]) => `${want} -> ${Object.entries(row).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([got, n]) => `${got} ${n}`).join(', ')}`);
}

/** A contact sheet: one row per sample, first and last frame side by side (RGB, 2W x (H * rows)). */
export function contactSheet(samples: readonly EvalSample[], width: number, height: number): { rgb: Uint8Array; width: number; height: number } {
  const W = 2 * width + 2;
  const H = samples.length * (height + 2);
  const rgb = new Uint8Array(W * H * 3).fill(255);
  samples.forEach((smp, row) => {
    [smp.firstFrame, smp.lastFrame].forEach((f, col) => {
      for (let y = 0; y < height; y++) {
        const dst = ((row * (height + 2) + y) * W + col * (width + 2)) * 3;
        rgb.set(f.subarray(y * width * 3, (y + 1) * width * 3), dst);
      }
    });
  });
  return { rgb, width: W, height: H };
}
