// JSON sidecar written next to each video: every generation setting, the seed or initial-latents file, the schedule
// that ran, the model fingerprint, the backend and per-stage timings, so a clip can be reproduced and compared.
import type { GenerateSettings } from '../pipeline/generate-options.js';
import type { InitLatentsInfo } from '../pipeline/init-latents.js';
import type { GenerateTimings, RanSchedule } from '../pipeline/text-to-video.js';

export const SIDECAR_VERSION = 1;

export interface VideoSidecar {
  parallax: { sidecarVersion: number; version: string };
  createdAt: string;
  settings: GenerateSettings & { fps: number };
  model: { path: string; hash: string; hashMethod: string };
  backend: { name: string; dtype?: string };
  /** Parallel generation: world size, layout, transport ('env' = multi-host launch) and adapter per rank. */
  parallel?: {
    ranks: number; sp: number; cfg: number; transport: string; devices?: number[]; clip?: Record<string, number | string>;
    /** --long dualparal: blocks, each rank's transformer blocks [start, end), its GPU peak and weight bytes. */
    dualparal?: { blockFrames: number; contextFrames: number; blocks: number; layers: [number, number][]; peakBytesPerRank: number[]; weightBytesPerRank: number[] };
  };
  output: { video?: string; pngFrames?: string; width: number; height: number; frames: number; encodedWidth?: number; encodedHeight?: number };
  latentShape: number[];
  /** Where the initial latents came from: the seed, or a file (path, SHA-256 of the file and of the f32 values). */
  initLatents?: InitLatentsInfo;
  /** The sigmas (N+1, after the scheduler's shift, last 0) and timesteps (N, sigma*1000) of the steps that ran. */
  schedule?: RanSchedule;
  /** Pipeline stages plus the MP4 write and the model hash (ms). */
  timings: GenerateTimings & { videoWriteMs?: number; modelHashMs?: number; loadMs?: number; firstBlockMs?: number; blockMs?: number[] };
  peakMemoryBytes?: number;
  /** Weights streamed to the device: bytes read, tensors, ms. */
  weightsLoaded?: { bytes: number; tensors: number; ms: number };
  maxRssBytes?: number;
}

export const MODEL_HASH_METHOD = 'sha256(configs, tokenizer files, weight file sizes + headers + first/last 64 KiB)';

/** Sidecar path for a video: out.mp4 -> out.json. */
export function sidecarPath(video: string): string {
  return video.replace(/\.[^./\\]*$/, '') + '.json';
}

/** Writes the sidecar as pretty JSON (Node only). */
export async function writeSidecar(path: string, s: VideoSidecar): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(s, null, 2)}\n`);
}
