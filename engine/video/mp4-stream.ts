// Incremental MP4 writing (Node only): one ffmpeg process stays open while frames arrive (e.g. each DualParal block as
// it leaves the queue), rgb24 on its stdin, H.264 yuv420p out as a fragmented MP4 (empty moov + one fragment per
// keyframe, a keyframe every `gop` frames, x264 without lookahead), so the file on disk is playable while it grows and
// grows as frames arrive. close() ends the stream.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FFMPEG_INSTALL_HINT, FfmpegError, padToEven, yuv420Size, type Mp4Options } from './mp4.js';

export interface Mp4StreamOptions extends Mp4Options {
  /** Frames per keyframe (= per fragment appended to the file); default 16. */
  gop?: number;
}

/** ffmpeg arguments of the fragmented, growing MP4. */
export function mp4StreamArgs(out: string, o: Mp4StreamOptions): string[] {
  const { width: ew, height: eh } = yuv420Size(o.width, o.height);
  const gop = o.gop ?? 16;
  if (!Number.isInteger(gop) || gop < 1) throw new FfmpegError(`mp4 stream: gop must be an integer >= 1, got ${gop}`);
  return [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${ew}x${eh}`, '-r', String(o.fps),
    // The input's format is given: no probing, else ffmpeg reads seconds of frames before it writes anything.
    '-probesize', '32', '-analyzeduration', '0', '-i', 'pipe:0',
    '-c:v', 'libx264', '-preset', o.preset ?? 'medium', '-crf', String(o.crf ?? 17), '-pix_fmt', 'yuv420p', '-g', String(gop),
    // No lookahead or B-frames, each packet written at once: a block's frames reach the file when the block is written
    // (all but its last, which the muxer holds until the next frame gives its duration), not when ffmpeg exits.
    '-tune', 'zerolatency', '-flush_packets', '1',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', out,
  ];
}

export class Mp4Stream {
  private stderr = '';
  private error: Error | null = null;
  private readonly closed: Promise<void>;
  private written = 0;

  private constructor(
    readonly out: string,
    private readonly o: Mp4StreamOptions,
    private readonly child: ChildProcessWithoutNullStreams,
    exe: string,
  ) {
    child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    child.stdin.on('error', () => {
      /* EPIPE when ffmpeg exits early: reported through the exit code */
    });
    this.closed = new Promise<void>((resolve, reject) => {
      child.on('error', (e: NodeJS.ErrnoException) => {
        this.error = e.code === 'ENOENT' ? new FfmpegError(`ffmpeg not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}`) : new FfmpegError(`cannot run ffmpeg "${exe}": ${e.message}`);
        reject(this.error);
      });
      child.on('close', (code, signal) => {
        if (code === 0) return resolve();
        this.error ??= new FfmpegError(`ffmpeg failed writing ${out} (exit ${code ?? signal}): ${this.stderr.trim() || 'no message'}`);
        reject(this.error);
      });
    });
    this.closed.catch(() => {}); // reported by write() and close()
  }

  /** Starts ffmpeg writing `out`. */
  static async open(out: string, o: Mp4StreamOptions): Promise<Mp4Stream> {
    if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1) throw new FfmpegError(`mp4 stream: invalid size ${o.width}x${o.height}`);
    if (!(o.fps > 0)) throw new FfmpegError(`mp4 stream: fps must be > 0, got ${o.fps}`);
    const args = mp4StreamArgs(out, o);
    await mkdir(dirname(out), { recursive: true });
    const exe = o.ffmpegPath ?? process.env.PARALLAX_FFMPEG ?? 'ffmpeg';
    return new Mp4Stream(out, o, spawn(exe, args, { stdio: ['pipe', 'pipe', 'pipe'] }), exe);
  }

  /** Frames written so far. */
  get frames(): number {
    return this.written;
  }

  /** Appends frames (each width*height*3 RGB bytes), waiting while ffmpeg's pipe is full. */
  async write(frames: readonly Uint8Array[]): Promise<void> {
    const bytes = this.o.width * this.o.height * 3;
    for (const f of frames) {
      if (this.error) throw this.error;
      if (f.length !== bytes) throw new FfmpegError(`mp4 stream: frame ${this.written} has ${f.length} bytes, expected ${this.o.width}x${this.o.height}x3 = ${bytes}`);
      if (!this.child.stdin.write(padToEven(f, this.o.width, this.o.height))) {
        await Promise.race([new Promise<void>((r) => this.child.stdin.once('drain', () => r())), this.closed]);
      }
      this.written++;
    }
    if (this.error) throw this.error;
  }

  /** Ends the stream and waits for ffmpeg to finish the file. */
  async close(): Promise<void> {
    if (this.written === 0) {
      this.child.kill();
      throw new FfmpegError('mp4 stream: no frames were written');
    }
    this.child.stdin.end();
    await this.closed;
  }

  /** Stops ffmpeg without finishing (after a failure elsewhere). */
  abort(): void {
    this.child.kill();
  }
}
