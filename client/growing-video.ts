// Playing a video that is still being written (a DualParal job appends each finished block to a fragmented MP4 at
// GET /api/jobs/:id/stream): GrowingLoader fetches the new bytes after every 'block' event with a Range request and
// appends them, in order, to a sink (Media Source Extensions in the browser: mseSink), and the rest once the job
// finished; avcCodecString reads the codec MSE needs from the MP4's avcC box. Where MSE cannot take the video, the
// player reloads <video> on every block instead (the server answers its range request with the bytes there so far).

/** Where the loader appends bytes (a SourceBuffer in the browser; a plain array in tests). */
export interface AppendSink {
  append(bytes: Uint8Array): Promise<void>;
  /** The last bytes were appended: the video is whole. */
  end(): void;
}

/** A range read: bytes [start, end] (end inclusive, or to the end of what exists); an empty array for none yet (416). */
export type RangeFetch = (start: number, end?: number) => Promise<Uint8Array>;

/** Fetch-based RangeFetch on a stream URL (416 = nothing there yet). */
export function httpRangeFetch(url: string, fetchFn: typeof fetch = (...a) => fetch(...a)): RangeFetch {
  return async (start, end) => {
    const r = await fetchFn(url, { headers: { Range: `bytes=${start}-${end ?? ''}` }, cache: 'no-store' });
    if (r.status === 416) return new Uint8Array(0);
    if (r.status !== 206 && r.status !== 200) throw new Error(`stream ${url}: HTTP ${r.status}`);
    const b = new Uint8Array(await r.arrayBuffer());
    // A 200 is the whole file (a server without ranges): keep what follows `start`.
    return r.status === 200 ? b.subarray(start) : b;
  };
}

/** Appends a growing file to a sink: every byte once, in order, one fetch at a time. */
export class GrowingLoader {
  /** Bytes appended so far. */
  have = 0;
  private target = 0;
  private finished = false;
  private ended = false;
  private running: Promise<void> | null = null;
  /** The first failure (fetch or append); the loader stops there. */
  error: Error | null = null;

  constructor(
    private readonly fetchRange: RangeFetch,
    private readonly sink: AppendSink,
  ) {}

  /** The file has at least `bytes` bytes (a 'block' event's size). */
  onBlock(bytes: number): Promise<void> {
    this.target = Math.max(this.target, bytes);
    return this.pump();
  }

  /** The job finished: fetch the rest and end the sink. */
  onFinished(): Promise<void> {
    this.finished = true;
    return this.pump();
  }

  /** Resolves when the loader has nothing more to do (for now). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private pump(): Promise<void> {
    if (this.running) return this.running.then(() => this.pumpAgain());
    return this.pumpAgain();
  }

  private pumpAgain(): Promise<void> {
    if (this.running || this.error || this.ended) return this.running ?? Promise.resolve();
    this.running = this.work()
      .catch((e: unknown) => {
        this.error = e instanceof Error ? e : new Error(String(e));
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async work(): Promise<void> {
    while (this.have < this.target) {
      const b = await this.fetchRange(this.have, this.target - 1);
      if (b.length === 0) break; // not there yet (it will be: the event said so); the next event retries
      await this.sink.append(b);
      this.have += b.length;
    }
    if (this.finished && !this.ended) {
      for (;;) {
        const b = await this.fetchRange(this.have);
        if (b.length === 0) break;
        await this.sink.append(b);
        this.have += b.length;
      }
      this.ended = true;
      this.sink.end();
    }
  }
}

/**
 * The RFC 6381 codec of an H.264 MP4 ("avc1.PPCCLL": profile, constraint flags, level from the avcC box), or null
 * when the bytes do not hold an avcC box yet.
 */
export function avcCodecString(bytes: Uint8Array): string | null {
  for (let i = 4; i + 8 <= bytes.length; i++) {
    if (bytes[i] === 0x61 && bytes[i + 1] === 0x76 && bytes[i + 2] === 0x63 && bytes[i + 3] === 0x43) {
      // avcC payload: configurationVersion (1), AVCProfileIndication, profile_compatibility, AVCLevelIndication
      if (bytes[i + 4] !== 1) continue;
      const hex = (v: number) => v.toString(16).padStart(2, '0');
      return `avc1.${hex(bytes[i + 5]!)}${hex(bytes[i + 6]!)}${hex(bytes[i + 7]!)}`;
    }
  }
  return null;
}

/** How the player shows a growing video here: MSE when this browser takes fragmented H.264 MP4, else reloads. */
export function growingMode(mediaSource: { isTypeSupported(type: string): boolean } | undefined): 'mse' | 'reload' {
  return mediaSource?.isTypeSupported('video/mp4; codecs="avc1.640028"') ? 'mse' : 'reload';
}

/**
 * A sink that feeds a <video> through Media Source Extensions: the first bytes (ftyp + moov) give the codec, later
 * appends wait for the SourceBuffer. Browser only.
 */
export function mseSink(video: HTMLVideoElement): AppendSink {
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  const open = new Promise<void>((resolve) => ms.addEventListener('sourceopen', () => resolve(), { once: true }));
  let sb: SourceBuffer | null = null;
  let pending = new Uint8Array(0);
  const appendOne = (b: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      sb!.addEventListener('updateend', () => resolve(), { once: true });
      sb!.addEventListener('error', () => reject(new Error('the browser refused a piece of the video (SourceBuffer error)')), { once: true });
      sb!.appendBuffer(b as Uint8Array<ArrayBuffer>);
    });
  return {
    async append(bytes) {
      await open;
      if (!sb) {
        const all = new Uint8Array(pending.length + bytes.length);
        all.set(pending);
        all.set(bytes, pending.length);
        const codec = avcCodecString(all);
        if (!codec) {
          pending = all; // the header is not whole yet
          return;
        }
        sb = ms.addSourceBuffer(`video/mp4; codecs="${codec}"`);
        bytes = all;
      }
      await appendOne(bytes);
    },
    end() {
      const finish = () => {
        if (ms.readyState === 'open') ms.endOfStream();
      };
      if (sb?.updating) sb.addEventListener('updateend', finish, { once: true });
      else finish();
    },
  };
}
