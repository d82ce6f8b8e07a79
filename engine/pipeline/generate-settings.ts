// The resolved settings of one generation: a plain type shared by the backend interface (backend.ts) and the
// settings defaults/validation (generate-options.ts), so those two import it from here and not from each other.
import type { GuidanceMode } from '../reference/flow-match.js';

export interface GenerateSettings {
  prompt: string;
  negativePrompt: string;
  frames: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  guidanceMode: GuidanceMode;
  seed: number;
}
