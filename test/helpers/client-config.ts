// The part of /api/config the web app's checks read (limits and guidance modes) for given server limits, written out
// field by field as server/http.ts publishes it: the input of the client tests (test/client/*.test.ts).
import type { ServerConfig } from '../../client/types.js';
import { GUIDANCE_MODES, MAX_SEED, type RequestLimits } from '../../server/schema.js';

export function clientConfigFor(l: RequestLimits): Pick<ServerConfig, 'limits' | 'guidance_modes'> {
  return {
    guidance_modes: [...GUIDANCE_MODES],
    limits: {
      prompt_max_chars: l.promptMaxChars,
      width: { min: l.minSize, max: l.maxWidth, multiple_of: l.sizeMultiple },
      height: { min: l.minSize, max: l.maxHeight, multiple_of: l.sizeMultiple },
      frames: { min: 1, max: l.maxFrames },
      steps: { min: 1, max: l.maxSteps },
      guidance: { min: 0, max: l.maxGuidance },
      fps: { min: 1, max: l.maxFps },
      seed: { min: 0, max: MAX_SEED },
    },
  };
}
