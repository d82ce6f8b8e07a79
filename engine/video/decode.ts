// Reads videos back as RGB frames through the system ffmpeg (Node only): raw rgb24 over a pipe, scaled to the size
// asked for. streamVideoFrames yields fixed-size chunks of frames as they decode (bounded memory: the pipe is paused
// while a chunk is being consumed); readVideoFrames collects them all (for short clips and tests).
import { spawn } from 'node:child_process';
import { FFMPEG_INSTALL_HINT, FfmpegError } from './mp4.js';

export interface DecodeOptions {
  width: number;
  height: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  ffmpegPath?: string;
  /** ffmpeg scaler (default 'area'; shot detection uses 'bilinear' like PySceneDetect's downscale). */
  scaleFlags?: string;
}

export interface StreamOptions extends DecodeOptions {
  /** Frames per chunk (default 32). Memory held: one chunk plus the pipe's buffer. */
  chunkFrames?: number;
}

/** A run of consecutive decoded frames: `count` frames of width*height*3 bytes from frame index `start`. */
export interface FrameChunk {
  start: number;
  count: number;
  data: Uint8Array;
}

function decodeArgs(path: string, o: DecodeOptions): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', path];
  if (o.maxFrames !== undefined) args.push('-frames:v', String(o.maxFrames));
  args.push('-an', '-sn', '-fps_mode', 'passthrough', '-vf', `scale=${o.width}:${o.height}:flags=${o.scaleFlags ?? 'area'}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return args;
}

/**
 * Decodes `path` to RGB frames in chunks of `chunkFrames` (the last one may be shorter). Each chunk's data is a
 * fresh buffer the caller may keep. Rejects with an FfmpegError (the ffmpeg message) when the file cannot be read.
 */
export async function* streamVideoFrames(path: string, o: StreamOptions): AsyncGenerator<FrameChunk> {
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1) throw new FfmpegError(`decode: invalid size ${o.width}x${o.height}`);
  const chunkFrames = o.chunkFrames ?? 32;
  if (!Number.isInteger(chunkFrames) || chunkFrames < 1) throw new FfmpegError(`decode: chunkFrames must be a positive integer, got ${chunkFrames}`);
  const exe = o.ffmpegPath ?? process.env.PARALLAX_FFMPEG ?? 'ffmpeg';
  const frameBytes = o.width * o.height * 3;
  const child = spawn(exe, decodeArgs(path, o), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new FfmpegError(`ffmpeg not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}`) : new FfmpegError(`cannot run ffmpeg "${exe}": ${e.message}`)),
    );
    child.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new FfmpegError(`ffmpeg could not read ${path} (exit ${code ?? signal}): ${stderr.trim() || 'no message'}`)),
    );
  });
  exited.catch(() => {}); // observed below; avoids an unhandled rejection when the consumer stops early
  let buf = new Uint8Array(chunkFrames * frameBytes);
  let fill = 0;
  let start = 0;
  let finished = false;
  try {
    for await (const piece of child.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < piece.length) {
        const n = Math.min(piece.length - off, buf.length - fill);
        buf.set(piece.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === buf.length) {
          yield { start, count: chunkFrames, data: buf };
          start += chunkFrames;
          buf = new Uint8Array(chunkFrames * frameBytes);
          fill = 0;
        }
      }
    }
    await exited;
    const count = Math.floor(fill / frameBytes);
    finished = true;
    if (count) yield { start, count, data: buf.slice(0, count * frameBytes) };
  } finally {
    if (!finished && child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Decodes `path` to RGB frames of width*height*3 bytes (ffmpeg scales when the stored size differs). */
export async function readVideoFrames(path: string, o: DecodeOptions): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  const frameBytes = o.width * o.height * 3;
  for await (const c of streamVideoFrames(path, o)) {
    for (let i = 0; i < c.count; i++) frames.push(c.data.slice(i * frameBytes, (i + 1) * frameBytes));
  }
  return frames;
}
