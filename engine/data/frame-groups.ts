// Streams a video once and hands over groups of frames (given by index) as soon as each group is complete, keeping
// only frames that a pending group still needs: the later stages (event embeddings, optical flow, model scores)
// read a few frames per clip without holding the video. Groups are delivered in order of their last frame.
import { streamVideoFrames } from '../video/decode.js';

export interface FrameGroupOptions {
  width: number;
  height: number;
  chunkFrames?: number;
}

export async function forEachFrameGroup(
  path: string, groups: readonly (readonly number[])[], o: FrameGroupOptions,
  fn: (group: number, frames: Uint8Array[]) => Promise<void> | void,
): Promise<void> {
  const order = groups.map((g, i) => ({ i, g, last: Math.max(-1, ...g) })).filter((x) => x.g.length).sort((a, b) => a.last - b.last);
  const need = new Map<number, number>();
  for (const { g } of order) for (const f of new Set(g)) need.set(f, (need.get(f) ?? 0) + 1);
  const kept = new Map<number, Uint8Array>();
  const fb = o.width * o.height * 3;
  let next = 0;
  let seen = -1;
  if (!order.length) return;
  for await (const c of streamVideoFrames(path, { width: o.width, height: o.height, chunkFrames: o.chunkFrames ?? 16 })) {
    for (let k = 0; k < c.count; k++) if (need.has(c.start + k)) kept.set(c.start + k, c.data.slice(k * fb, (k + 1) * fb));
    seen = c.start + c.count - 1;
    while (next < order.length && order[next]!.last <= seen) {
      const { i, g } = order[next++]!;
      await fn(i, g.map((f) => kept.get(f)!));
      for (const f of new Set(g)) {
        const left = need.get(f)! - 1;
        need.set(f, left);
        if (!left) kept.delete(f);
      }
    }
    if (next === order.length) return;
  }
  throw new Error(`${path}: decoded ${seen + 1} frames, but frame ${order[next]!.last} is needed`);
}
