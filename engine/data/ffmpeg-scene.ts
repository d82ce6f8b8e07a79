// ffmpeg's own scene-change scores (Node only), the baseline shot detection is compared against: the select
// filter's `scene` value (0..1) or the scdet filter's score (0..100), one per frame, read from metadata=print.
// Cut frames are those scoring above a threshold (select='gt(scene,X)' semantics).
import { spawn } from 'node:child_process';
import { FFMPEG_INSTALL_HINT, FfmpegError } from '../video/mp4.js';

export type FfmpegSceneMethod = 'select' | 'scdet';

/** Per-frame scores (index = round(pts_time * fps)); frame 0 scores 0. */
export async function ffmpegSceneScores(path: string, fps: number, method: FfmpegSceneMethod = 'select'): Promise<Float64Array> {
  const exe = process.env.PARALLAX_FFMPEG ?? 'ffmpeg';
  const vf = method === 'select' ? "select='gte(scene,0)',metadata=print:file=-" : 'scdet=threshold=100,metadata=print:file=-';
  const key = method === 'select' ? 'lavfi.scene_score' : 'lavfi.scd.score';
  const text = await new Promise<string>((resolve, reject) => {
    const child = spawn(exe, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', path, '-vf', vf, '-an', '-f', 'null', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => reject(new FfmpegError(e.code === 'ENOENT' ? `ffmpeg not found (tried "${exe}"): ${FFMPEG_INSTALL_HINT}` : e.message)));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new FfmpegError(`ffmpeg scene scores of ${path} failed (exit ${code}): ${err.trim()}`))));
  });
  const scores: number[] = [];
  let frame = -1;
  for (const line of text.split('\n')) {
    const m = /pts_time:\s*([-\d.e]+)/.exec(line);
    if (m) frame = Math.round(Number(m[1]) * fps);
    else if (line.startsWith(key + '=') && frame >= 0) scores[frame] = Number(line.slice(key.length + 1));
  }
  return Float64Array.from({ length: scores.length }, (_, i) => scores[i] ?? 0);
}

/** Frames whose score is above `threshold` (select: 0..1, commonly 0.3-0.4; scdet: 0..100, default 10). */
export function cutsAbove(scores: Float64Array, threshold: number): number[] {
  const cuts: number[] = [];
  scores.forEach((s, i) => {
    if (i > 0 && s > threshold) cuts.push(i);
  });
  return cuts;
}
