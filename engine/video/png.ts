// PNG encoding of RGB frames (fast-png, browser-safe) and a Node helper that writes numbered frame files.
import { encode } from 'fast-png';

/** Encodes one width*height*3 RGB frame as an 8-bit PNG. */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3) throw new Error(`encodeRgbPng: ${rgb.length} bytes for ${width}x${height}x3 = ${width * height * 3}`);
  return encode({ width, height, data: rgb, channels: 3, depth: 8 });
}

/** File name of frame i: frame_00000.png, ... */
export function pngFrameName(i: number): string {
  return `frame_${String(i).padStart(5, '0')}.png`;
}

/** Writes frames as dir/frame_NNNNN.png (Node only); returns the paths. */
export async function writePngFrames(dir: string, frames: readonly Uint8Array[], width: number, height: number): Promise<string[]> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < frames.length; i++) {
    const p = join(dir, pngFrameName(i));
    await writeFile(p, encodeRgbPng(frames[i], width, height));
    paths.push(p);
  }
  return paths;
}
