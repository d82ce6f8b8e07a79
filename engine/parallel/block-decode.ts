// Frame-parallel VAE decode of one DualParal block as it leaves the queue (issue 12, streaming): rank 0 holds the
// block's final latents and sends rank r the contiguous share evenSplit(F, N)[r] of its F frames (remainder to the
// first ranks, as ParallelBackend.decode splits a whole video); every rank decodes its share with its own VAE, and
// rank 0 gathers the RGB bytes in rank order. The VAE is 2-D (no temporal compression): decodeFrames decodes each
// latent frame on its own, so a share decodes to exactly the frames a whole-block decode on one rank gives.
// Messages go point to point on a group of their own (its tags never mix with the queue's hidden states and
// velocities on the same pairs); a local failure aborts the world so every rank ends at once with an error naming it.

import { concat, evenSplit, type ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure, DistError } from '../distributed/errors.js';
import type { DecodedVideo, Tensor32 } from '../pipeline/backend.js';

/** Decodes latents [1, F, C, h, w] to F RGB frames (GpuBackend.decode: the VAE's decodeFrames). */
export type DecodeFrames = (latents: Tensor32) => Promise<DecodedVideo>;

/** One latent frame (channels x height x width) and the VAE's spatial scale (decoded = latent x vaeScale). */
export interface LatentFrameShape {
  channels: number;
  height: number;
  width: number;
  vaeScale: number;
}

/** A block that left the queue: its video frames [start, end) and, on rank 0, their final latents. */
export interface FinishedBlock {
  block: number;
  frames: { start: number; end: number };
  latents: Float32Array | null;
}

/** Which frames of a block of `frames` frames each of `ranks` ranks decodes: [first, first + count). */
export function decodeShares(frames: number, ranks: number): { first: number; count: number }[] {
  const counts = evenSplit(frames, ranks);
  let first = 0;
  return counts.map((count) => {
    const s = { first, count };
    first += count;
    return s;
  });
}

/**
 * Every rank builds one (collective: in the same order relative to other sub-groups of `group`) and calls
 * decode() for every finished block in the same order; rank 0 gets the block's frames, the others null.
 * group null (or of size 1): rank 0 decodes the whole block itself.
 */
export class BlockDecoder {
  private readonly group: ProcessGroup | null;

  constructor(
    group: ProcessGroup | null,
    private readonly decodeFrames: DecodeFrames,
    private readonly shape: LatentFrameShape,
  ) {
    this.group = group && group.size > 1 ? group.newGroup(group.ranks.map((_, r) => r), 'dualparal.decode') : null;
  }

  async decode(b: FinishedBlock): Promise<DecodedVideo | null> {
    const rank = this.group?.rank ?? 0;
    try {
      return await this.run(b, rank);
    } catch (e) {
      if (!this.group) throw e;
      throw abortOnLocalFailure(this.group.transport, `frame-parallel VAE decode of block ${b.block} (frames ${b.frames.start}-${b.frames.end - 1}) on rank ${rank}`, e);
    }
  }

  private async run(b: FinishedBlock, rank: number): Promise<DecodedVideo | null> {
    const F = b.frames.end - b.frames.start;
    const { channels, height: h, width: w, vaeScale } = this.shape;
    const per = channels * h * w;
    const width = w * vaeScale;
    const height = h * vaeScale;
    const frameBytes = width * height * 3;
    const g = this.group;
    const shares = decodeShares(F, g?.size ?? 1);
    const mine = shares[rank]!;
    const decodeMine = async (z: Float32Array): Promise<Uint8Array[]> => {
      const d = await this.decodeFrames({ shape: [1, mine.count, channels, h, w], data: z });
      if (d.width !== width || d.height !== height || d.frames.length !== mine.count) {
        throw new Error(`VAE decoded ${d.frames.length} frames of ${d.width}x${d.height}, expected ${mine.count} of ${width}x${height}`);
      }
      return d.frames;
    };
    if (rank !== 0) {
      if (mine.count === 0) return null;
      const z = await g!.recvF32(0);
      if (z.length !== mine.count * per) throw new DistError(`rank ${rank}: received ${z.length} latent values from rank 0 for ${mine.count} frames of ${per}`);
      await g!.send(0, concat(await decodeMine(z)));
      return null;
    }
    if (!b.latents) throw new Error(`internal error: rank 0 has no latents for block ${b.block}`);
    if (b.latents.length !== F * per) throw new Error(`block ${b.block}: ${b.latents.length} latent values for ${F} frames of ${per}`);
    // Shares out first (they decode while rank 0 decodes its own), then rank 0's frames, then the others' in rank order.
    const sends = Promise.all(shares.map((s, r) => (r > 0 && s.count > 0 ? g!.send(r, b.latents!.subarray(s.first * per, (s.first + s.count) * per)) : undefined)));
    sends.catch(() => {}); // awaited below; a failure in rank 0's own decode first must not count as unhandled
    const frames = await decodeMine(b.latents.subarray(0, mine.count * per));
    await sends;
    for (let r = 1; r < shares.length; r++) {
      const n = shares[r]!.count;
      if (n === 0) continue;
      const bytes = await g!.recv(r);
      if (bytes.length !== n * frameBytes) throw new DistError(`frame-parallel decode of block ${b.block}: rank ${r} sent ${bytes.length} bytes for ${n} frames of ${width}x${height}`);
      for (let f = 0; f < n; f++) frames.push(bytes.slice(f * frameBytes, (f + 1) * frameBytes));
    }
    return { width, height, frames };
  }
}
