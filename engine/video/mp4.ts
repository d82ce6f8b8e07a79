// Writes RGB frames as an H.264 (yuv420p) MP4 by piping raw rgb24 to the system ffmpeg (Node only).
// yuv420p needs even width and height: odd sizes are padded here (before ffmpeg) by one column/row repeating the
// edge pixels, so the written video is the input size rounded up to even (the sidecar records both).
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export const FFMPEG_INSTALL_HINT =
  'install ffmpeg: `node scripts/setup.mjs --ffmpeg` (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg), or set PARALLAX_FFMPEG to its path';

export interface Mp4Options {
  width: number;
  height: number;
  fps: number;
  /** x264 constant rate factor (default 17: visually lossless-ish). */
  crf?: number;
  /** x264 preset (default 'medium'). */
  preset?: string;
  /** ffmpeg executable (default $PARALLAX_FFMPEG or 'ffmpeg' on PATH). */
  ffmpegPath?: string;
}

export class FfmpegError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FfmpegError';
  }
}

/** Output size after the yuv420p even-size padding. */
export function yuv420Size(width: number, height: number): { width: number; height: number } {
  return { width: width + (width % 2), height: height + (height % 2) };
}

/** Pads an RGB frame to the even size by repeating its last column and/or row (no-op when already even). */
export function padToEven(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const { width: ew, height: eh } = yuv420Size(width, height);
  if (ew === width && eh === height) return rgb;
  const out = new Uint8Array(ew * eh * 3);
  for (let y = 0; y < eh; y++) {
    const sy = Math.min(y, height - 1);
    out.set(rgb.subarray(sy * width * 3, (sy + 1) * width * 3), y * ew * 3);
    if (ew !== width) out.set(rgb.subarray((sy * width + width - 1) * 3, (sy * width + width) * 3), (y * ew + width) * 3);
  }
  return out;
}

/** ffmpeg arguments for raw rgb24 frames (already padded to even size) on stdin -> H.264 yuv420p MP4 at `out`. */
export function mp4Args(out: string, o: Mp4Options): string[] {
  const { width: ew, height: eh } = yuv420Size(o.width, o.height);
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${ew}x${eh}`, '-r', String(o.fps), '-i', 'pipe:0'];
  args.push('-c:v', 'libx264', '-preset', o.preset ?? 'medium', '-crf', String(o.crf ?? 17), '-pix_fmt', 'yuv420p', '-movflags', '+faststart', out);
  return args;
}

/** Encodes `frames` (each width*height*3 RGB bytes) to an MP4 file; rejects with the ffmpeg message on failure. */
export async function writeMp4(out: string, frames: readonly Uint8Array[], o: Mp4Options): Promise<void> {
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1) throw new FfmpegError(`writeMp4: invalid size ${o.width}x${o.height}`);
  if (!(o.fps > 0)) throw new FfmpegError(`writeMp4: fps must be > 0, got ${o.fps}`);
  if (frames.length === 0) throw new FfmpegError('writeMp4: no frames to write');
  const frameBytes = o.width * o.height * 3;
  frames.forEach((f, i) => {
    if (f.length !== frameBytes) throw new FfmpegError(`writeMp4: frame ${i} has ${f.length} bytes, expected ${o.width}x${o.height}x3 = ${frameBytes}`);
  });
  await mkdir(dirname(out), { recursive: true });
  const exe = o.ffmpegPath ?? process.env.PARALLAX_FFMPEG ?? 'ffmpeg';
  await new Promise<void>((resolve, reject) => {
    const child = spawn(exe, mp4Args(out, o), { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let failed = false;
    const fail = (e: Error) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    };
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      fail(e.code === 'ENOENT' ? new FfmpegError(`ffmpeg not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}`) : new FfmpegError(`cannot run ffmpeg "${exe}": ${e.message}`));
    });
    child.stdin.on('error', () => {
      /* EPIPE when ffmpeg exits early: reported through the exit code below */
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else fail(new FfmpegError(`ffmpeg failed writing ${out} (exit ${code ?? signal}): ${stderr.trim() || 'no message'}`));
    });
    (async () => {
      for (const f of frames) {
        if (!child.stdin.write(padToEven(f, o.width, o.height))) await new Promise<void>((r) => child.stdin.once('drain', () => r()));
        if (failed) return;
      }
      child.stdin.end();
    })().catch((e: Error) => fail(e));
  });
}
