// Reads an MP4 (or any video ffmpeg reads) back as RGB frames through the system ffmpeg (Node only): raw rgb24 over
// a pipe, scaled to the size asked for. Used to check generated and synthetic videos from their files.
import { spawn } from 'node:child_process';
import { FFMPEG_INSTALL_HINT, FfmpegError } from './mp4.js';

export interface DecodeOptions {
  width: number;
  height: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  ffmpegPath?: string;
}

/** Decodes `path` to RGB frames of width*height*3 bytes (ffmpeg scales when the stored size differs). */
export async function readVideoFrames(path: string, o: DecodeOptions): Promise<Uint8Array[]> {
  const exe = o.ffmpegPath ?? process.env.PARALLAX_FFMPEG ?? 'ffmpeg';
  const args = ['-hide_banner', '-loglevel', 'error', '-i', path];
  if (o.maxFrames !== undefined) args.push('-frames:v', String(o.maxFrames));
  args.push('-vf', `scale=${o.width}:${o.height}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  const chunks: Buffer[] = [];
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new FfmpegError(`ffmpeg not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}`) : new FfmpegError(`cannot run ffmpeg "${exe}": ${e.message}`)),
    );
    child.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new FfmpegError(`ffmpeg could not read ${path} (exit ${code ?? signal}): ${stderr.trim() || 'no message'}`)),
    );
  });
  const all = Buffer.concat(chunks);
  const frameBytes = o.width * o.height * 3;
  const n = Math.floor(all.length / frameBytes);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) frames.push(new Uint8Array(all.buffer, all.byteOffset + i * frameBytes, frameBytes).slice());
  return frames;
}
