// Probe stage of the curation pipeline (Node only): ffprobe's JSON for the first video stream -> one record per video
// (codec, display size after rotation, fps as a rational, frame count, duration). MKV/WebM carry no nb_frames: the
// packets are counted then. An unreadable file is reported and skipped, never fatal for the batch.
import { execFile } from 'node:child_process';
import { basename, extname, resolve } from 'node:path';
import { FFMPEG_INSTALL_HINT, FfmpegError } from '../video/mp4.js';

export interface Rational {
  num: number;
  den: number;
}

export interface ProbeRecord {
  /** Absolute path of the video. */
  path: string;
  /** A file-name-safe id (the base name; made unique within a batch). */
  id: string;
  codec: string;
  /** Display size: the stored size with W and H swapped when the video is rotated by +-90 degrees. */
  width: number;
  height: number;
  /** Stored (coded) size before rotation. */
  storedWidth: number;
  storedHeight: number;
  pixFmt: string;
  /** r_frame_rate as a rational, and its value. */
  fpsRational: Rational;
  fps: number;
  avgFps: number | null;
  numFrames: number;
  /** Where numFrames came from: the container's nb_frames, counted packets, or duration * fps. */
  frameCountFrom: 'nb_frames' | 'count_packets' | 'duration';
  /** Seconds (stream duration, else the container's). */
  duration: number | null;
  startTime: number;
  /** Rotation in degrees from the display matrix (or the old rotate tag); ffmpeg applies it when decoding. */
  rotation: number;
}

export interface ProbeFailure {
  path: string;
  error: string;
}

function ffprobeExe(): string {
  return process.env.PARALLAX_FFPROBE ?? (process.env.PARALLAX_FFMPEG ? process.env.PARALLAX_FFMPEG.replace(/ffmpeg(\.exe)?$/, 'ffprobe$1') : 'ffprobe');
}

function runFfprobe(args: string[]): Promise<string> {
  const exe = ffprobeExe();
  return new Promise((res, rej) => {
    execFile(exe, args, { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (!err) return res(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return rej(new FfmpegError(`ffprobe not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}`));
      rej(new FfmpegError((stderr || e.message).trim().split('\n').slice(-3).join(' ') || 'ffprobe failed'));
    });
  });
}

/** Parses "30000/1001" (or "25") to a rational; null for "0/0" or garbage. */
export function parseRational(s: unknown): Rational | null {
  if (typeof s !== 'string') return null;
  const m = /^\s*(\d+)(?:\s*\/\s*(\d+))?\s*$/.exec(s);
  if (!m) return null;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  return num > 0 && den > 0 ? { num, den } : null;
}

interface FfprobeStream {
  codec_name?: string;
  codec_type?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  start_time?: string;
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

function num(s: unknown): number | null {
  const v = typeof s === 'string' || typeof s === 'number' ? Number(s) : NaN;
  return Number.isFinite(v) ? v : null;
}

/** Rotation in degrees, normalised to (-180, 180]. */
function rotationOf(s: FfprobeStream): number {
  let r = s.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation ?? num(s.tags?.rotate) ?? 0;
  r = ((Math.round(r) % 360) + 360) % 360;
  return r > 180 ? r - 360 : r;
}

/** Probes one video; throws an FfmpegError naming the file when it is not a readable video. */
export async function probeVideo(path: string): Promise<ProbeRecord> {
  const abs = resolve(path);
  const base = ['-v', 'error', '-select_streams', 'v:0', '-show_streams', '-show_format', '-of', 'json'];
  let j: { streams?: FfprobeStream[]; format?: { duration?: string } };
  try {
    j = JSON.parse(await runFfprobe([...base, abs]));
  } catch (e) {
    throw new FfmpegError(`cannot probe ${path}: ${(e as Error).message}`);
  }
  const s = j.streams?.[0];
  if (!s || !s.width || !s.height) throw new FfmpegError(`cannot probe ${path}: no video stream`);
  const fpsRational = parseRational(s.r_frame_rate) ?? parseRational(s.avg_frame_rate);
  if (!fpsRational) throw new FfmpegError(`cannot probe ${path}: no frame rate (r_frame_rate ${s.r_frame_rate ?? 'absent'})`);
  const avg = parseRational(s.avg_frame_rate);
  const fps = fpsRational.num / fpsRational.den;
  const duration = num(s.duration) ?? num(j.format?.duration);
  let numFrames = num(s.nb_frames);
  let frameCountFrom: ProbeRecord['frameCountFrom'] = 'nb_frames';
  if (!numFrames) {
    // MKV/WebM (and some streams) have no nb_frames: count the packets (demuxing only, no decoding).
    const c = JSON.parse(await runFfprobe(['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'json', abs])) as { streams?: FfprobeStream[] };
    numFrames = num(c.streams?.[0]?.nb_read_packets);
    frameCountFrom = 'count_packets';
    if (!numFrames && duration) {
      numFrames = Math.round(duration * fps);
      frameCountFrom = 'duration';
    }
  }
  if (!numFrames) throw new FfmpegError(`cannot probe ${path}: no frames`);
  const rotation = rotationOf(s);
  const swap = Math.abs(rotation) === 90;
  return {
    path: abs,
    id: videoId(abs),
    codec: s.codec_name ?? 'unknown',
    width: swap ? s.height : s.width,
    height: swap ? s.width : s.height,
    storedWidth: s.width,
    storedHeight: s.height,
    pixFmt: s.pix_fmt ?? 'unknown',
    fpsRational,
    fps,
    avgFps: avg ? avg.num / avg.den : null,
    numFrames,
    frameCountFrom,
    duration,
    startTime: num(s.start_time) ?? 0,
    rotation,
  };
}

/** The base name without extension, reduced to [A-Za-z0-9._-]. */
export function videoId(path: string): string {
  const b = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]+/g, '_');
  return b || 'video';
}

/**
 * Probes every path (in order); failures are collected, not thrown. Ids are made unique within the batch by a
 * numeric suffix (a.mp4 and a.mkv -> a, a-2).
 */
export async function probeVideos(paths: readonly string[], onVideo?: (done: number, total: number) => void): Promise<{ records: ProbeRecord[]; failures: ProbeFailure[] }> {
  const records: ProbeRecord[] = [];
  const failures: ProbeFailure[] = [];
  const used = new Map<string, number>();
  let done = 0;
  for (const p of paths) {
    try {
      const r = await probeVideo(p);
      const k = (used.get(r.id) ?? 0) + 1;
      used.set(r.id, k);
      if (k > 1) r.id = `${r.id}-${k}`;
      records.push(r);
    } catch (e) {
      if (e instanceof FfmpegError && /not found \(tried/.test(e.message)) throw e;
      failures.push({ path: p, error: (e as Error).message });
    }
    onVideo?.(++done, paths.length);
  }
  return { records, failures };
}
