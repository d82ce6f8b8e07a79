// Test videos built from ffmpeg's lavfi test sources: segments of known frame counts concatenated (so the true cut
// positions are the cumulative lengths), encoded as near-lossless H.264 or FFV1. Keep them tiny (the machine is shared).
import { execFileSync } from 'node:child_process';

export interface Segment {
  /** A lavfi source without size/rate, e.g. 'testsrc2', 'color=c=red', 'smptebars', 'mandelbrot'. */
  src: string;
  frames: number;
  /** Extra filters after the source (e.g. 'hue=h=90', 'fade=out:st=0.5:d=0.5'). */
  vf?: string;
}

export interface LavfiVideo {
  width: number;
  height: number;
  fps: number;
  /** Output codec args (default near-lossless x264, all-intra so seeks are exact and fast). */
  codecArgs?: string[];
}

/** Writes the segments back to back into `out`; returns the true cut frames (the start of every segment after the first). */
export function concatVideo(out: string, segs: readonly Segment[], v: LavfiVideo): number[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-y'];
  const parts: string[] = [];
  segs.forEach((s, i) => {
    const sep = s.src.includes('=') ? ':' : '=';
    args.push('-f', 'lavfi', '-i', `${s.src}${sep}size=${v.width}x${v.height}:rate=${v.fps}`);
    parts.push(`[${i}:v]trim=end_frame=${s.frames},setpts=PTS-STARTPTS,format=yuv420p${s.vf ? ',' + s.vf : ''}[v${i}]`);
  });
  const graph = `${parts.join(';')};${segs.map((_, i) => `[v${i}]`).join('')}concat=n=${segs.length}:v=1:a=0[out]`;
  args.push('-filter_complex', graph, '-map', '[out]', ...(v.codecArgs ?? ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '1', '-g', '1', '-pix_fmt', 'yuv420p']), out);
  execFileSync('ffmpeg', args);
  const cuts: number[] = [];
  let at = 0;
  for (const s of segs.slice(0, -1)) cuts.push((at += s.frames));
  return cuts;
}

/** Frame count as ffprobe decodes it. */
export function countFrames(file: string): number {
  const j = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'json', file]).toString());
  return Number(j.streams[0].nb_read_frames);
}

/** `a` (framesA) crossfading into `b` over `fade` frames (ffmpeg xfade): the transition spans [framesA - fade, framesA). */
export function crossfadeVideo(out: string, a: string, b: string, framesA: number, framesB: number, fade: number, v: LavfiVideo): void {
  const src = (s: string) => `${s}${s.includes('=') ? ':' : '='}size=${v.width}x${v.height}:rate=${v.fps}`;
  const graph = `[0:v]trim=end_frame=${framesA},setpts=PTS-STARTPTS,format=yuv420p[a];[1:v]trim=end_frame=${framesB},setpts=PTS-STARTPTS,format=yuv420p[b];` +
    `[a][b]xfade=transition=fade:duration=${fade / v.fps}:offset=${(framesA - fade) / v.fps}[out]`;
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', src(a), '-f', 'lavfi', '-i', src(b), '-filter_complex', graph, '-map', '[out]',
    ...(v.codecArgs ?? ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '1', '-g', '1', '-pix_fmt', 'yuv420p']), out]);
}

/** A still picture (one frame of `src` at w x h) written to `png`. */
export function stillImage(png: string, src: string, width: number, height: number): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `${src}${src.includes('=') ? ':' : '='}size=${width}x${height}`, '-frames:v', '1', png]);
}

/** `frames` frames of the still `png`, cropped to w x h at x = t * speed (speed 0: a looped still). */
export function panVideo(out: string, png: string, frames: number, speed: number, v: LavfiVideo): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-framerate', String(v.fps), '-i', png,
    '-vf', `crop=${v.width}:${v.height}:x='n*${speed}':y=0,format=yuv420p`, '-frames:v', String(frames),
    ...(v.codecArgs ?? ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '1', '-g', '1', '-pix_fmt', 'yuv420p']), out]);
}
