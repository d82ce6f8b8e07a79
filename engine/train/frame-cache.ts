// Decoded RGB frames of training clips, cached on disk for `train-vae` (Node only): OUT/cache/frames/<key>.safetensors
// holds one clip's frames as U8 [F, H, W, 3], keyed by SHA-256 of the clip file's bytes and the frame size (so a
// changed clip or size decodes again). Errors name the meta file, its line and the clip. decodeTrainClip (also used by
// train-cache.ts) decodes one clip with those errors.
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openSafetensors, writeSafetensors } from '../io/safetensors.js';
import { readVideoFrames } from '../video/decode.js';
import { fileFingerprint, textFingerprint } from './fingerprint.js';
import type { TrainClip } from './train-meta.js';

export interface ClipFrames {
  clip: TrainClip;
  /** frames x height x width x 3 bytes. */
  rgb: Uint8Array;
  frames: number;
}

export async function loadClipFrames(clips: readonly TrainClip[], o: { dir: string; meta: string; onProgress?: (done: number, total: number, what: string) => void }): Promise<{ clips: ClipFrames[]; fingerprint: string; decoded: number; reused: number }> {
  const dir = join(o.dir, 'frames');
  await mkdir(dir, { recursive: true });
  const out: ClipFrames[] = [];
  const keys: string[] = [];
  let decoded = 0;
  let reused = 0;
  for (const c of clips) {
    if (!(await stat(c.path).catch(() => null))) throw new Error(`${c.where}: clip ${c.rel} not found (${c.path})`);
    const key = textFingerprint(`${await fileFingerprint(c.path)}\n${c.width}x${c.height}`);
    keys.push(key);
    const file = join(dir, `${key.slice(0, 32)}.safetensors`);
    let rgb: Uint8Array | null = null;
    if (await stat(file).catch(() => null)) {
      const r = await openSafetensors(file).catch(() => null);
      if (r?.has('frames')) rgb = (await r.read('frames')).bytes;
      await r?.close();
    }
    if (rgb) reused++;
    else {
      const frames = await decodeTrainClip(c);
      const per = c.width * c.height * 3;
      rgb = new Uint8Array(per * frames.length);
      frames.forEach((f, i) => rgb!.set(f, i * per));
      const tmp = `${file}.${process.pid}.tmp`;
      await writeSafetensors(tmp, { frames: { dtype: 'U8', shape: [frames.length, c.height, c.width, 3], data: rgb } });
      await rename(tmp, file);
      decoded++;
    }
    out.push({ clip: c, rgb, frames: rgb.length / (c.width * c.height * 3) });
    o.onProgress?.(out.length, clips.length, c.rel);
  }
  return { clips: out, fingerprint: textFingerprint(keys.join('\n')), decoded, reused };
}

/** A training clip's RGB frames at its size; a clip that does not decode, or has no frames, is named in the error. */
export async function decodeTrainClip(c: TrainClip): Promise<Uint8Array[]> {
  let frames: Uint8Array[];
  try {
    frames = await readVideoFrames(c.path, { width: c.width, height: c.height });
  } catch (e) {
    throw new Error(`${c.where}: cannot decode clip ${c.rel}: ${(e as Error).message}`);
  }
  if (!frames.length) throw new Error(`${c.where}: clip ${c.rel} has no decodable frames (corrupt or empty file)`);
  return frames;
}
