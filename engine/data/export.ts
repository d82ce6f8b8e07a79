// Clip export (Node only): frame-accurate cuts re-encoded with ffmpeg, seeking before the input
// (`-ss START -i IN -frames:v N -an -c:v libx264 -crf 18 -pix_fmt yuv420p OUT`), named `{id}_scene-{k}.mp4`,
// at the source's size (cut to even) or scaled to a given size (e.g. one the VAE and the transformer take).
// START is the first frame's time rounded down to the microsecond, so frame `start` is the first one kept and
// rounding can never skip it. Writes to a temporary name and renames, so a killed run leaves no half clip.
import { spawn } from 'node:child_process';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FFMPEG_INSTALL_HINT, FfmpegError } from '../video/mp4.js';

export interface ClipSpec {
  input: string;
  out: string;
  startFrame: number;
  numFrames: number;
  fps: number;
  crf?: number;
  preset?: string;
  /** Scale every frame to exactly this size (both even); default: the source's size, odd sizes cut to even. */
  size?: { width: number; height: number };
}

export const clipName = (id: string, k: number) => `${id}_scene-${k}.mp4`;

/** Seconds of frame `k` at `fps`, rounded down to the microsecond (ffmpeg's -ss resolution). */
export function seekTime(k: number, fps: number): string {
  const us = Math.floor((k * 1e6) / fps + 1e-6);
  return (us / 1e6).toFixed(6);
}

export function clipArgs(c: ClipSpec, out = c.out): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y'];
  if (c.startFrame > 0) args.push('-ss', seekTime(c.startFrame, c.fps));
  // yuv420p needs an even size: odd sizes lose their last column/row (a no-op for even sizes).
  const vf = c.size ? `scale=${c.size.width}:${c.size.height}:flags=area` : 'scale=trunc(iw/2)*2:trunc(ih/2)*2';
  args.push('-i', c.input, '-frames:v', String(c.numFrames), '-an', '-sn', '-vf', vf, '-c:v', 'libx264', '-preset', c.preset ?? 'medium', '-crf', String(c.crf ?? 18), '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-f', 'mp4', out);
  return args;
}

export async function exportClip(c: ClipSpec): Promise<void> {
  if (c.size && [c.size.width, c.size.height].some((v) => !Number.isInteger(v) || v < 2 || v % 2)) throw new FfmpegError(`exportClip: the export size must be even and positive (H.264 yuv420p), got ${c.size.width}x${c.size.height}`);
  if (!Number.isInteger(c.startFrame) || c.startFrame < 0 || !Number.isInteger(c.numFrames) || c.numFrames < 1) throw new FfmpegError(`exportClip: bad range start ${c.startFrame}, ${c.numFrames} frames`);
  await mkdir(dirname(c.out), { recursive: true });
  const tmp = `${c.out}.part`;
  const exe = process.env.PARALLAX_FFMPEG ?? 'ffmpeg';
  await new Promise<void>((resolve, reject) => {
    const child = spawn(exe, clipArgs(c, tmp), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => reject(new FfmpegError(e.code === 'ENOENT' ? `ffmpeg not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}` : e.message)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new FfmpegError(`ffmpeg could not cut ${c.input} [${c.startFrame}, +${c.numFrames}) to ${c.out} (exit ${code}): ${err.trim() || 'no message'}`))));
  }).catch(async (e) => {
    await rm(tmp, { force: true });
    throw e;
  });
  await rename(tmp, c.out);
}
