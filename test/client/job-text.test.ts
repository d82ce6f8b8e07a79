// The job texts of the web app: the settings line names a long-video job's options, and the progress line of a
// DualParal job counts block steps and names the blocks already in its growing video.
import { describe, expect, it } from 'vitest';
import { longLine, progressText } from '../../client/ui/job-text.js';
import type { JobRequest } from '../../client/types.js';

const req: JobRequest = { prompt: 'p', negative_prompt: '', frames: 7, width: 32, height: 32, steps: 2, guidance: 4, guidance_mode: 'reference', seed: 1, fps: 4 };

describe('job texts', () => {
  it('longLine: DualParal blocks (server defaults B 8, C 4 when blank), clip parallelism with its dual-scope', () => {
    expect(longLine(req)).toBe('');
    expect(longLine({ long: 'dualparal', block_frames: 2, context_frames: 1 })).toBe(' · DualParal B 2 + C 1');
    expect(longLine({ long: 'dualparal' })).toBe(' · DualParal B 8 + C 4');
    expect(longLine({ long: 'clip-parallel', dual_scope: 'window=2' })).toBe(' · clip parallelism (window=2)');
  });

  it('progressText: steps, and for DualParal the blocks in the video', () => {
    expect(progressText({ request: req, progress: { step: 1, total: 2 } }, {})).toBe('Step 1/2');
    const dp = { ...req, long: 'dualparal' as const, block_frames: 2, context_frames: 1 };
    expect(progressText({ request: dp, progress: { step: 3, total: 6 } }, {})).toBe('Step 3/6 · no block finished yet');
    expect(progressText({ request: dp, progress: { step: 4, total: 6 } }, { blocks: { done: 2, total: 3, lastFrames: { start: 3, end: 5 }, bytes: 9 } }))
      .toBe('Step 4/6 · block 2/3 in the video (frames 3-4)');
  });
});
