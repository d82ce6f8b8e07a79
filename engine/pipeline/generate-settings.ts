// The resolved settings of one generation: a plain type shared by the backend interface (backend.ts) and the
// settings defaults/validation (generate-options.ts), so those two import it from here and not from each other;
// likewise where a generation's initial latents came from (init-latents.ts loads them).
import type { DType } from '../io/dtype.js';
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

/** Where a generation's initial latents came from (recorded in the result and the sidecar). */
export type InitLatentsInfo =
  | { source: 'seed'; seed: number }
  | {
    source: 'file' | 'tensor';
    /** File path (a path source), for the record. */
    path?: string;
    /** SHA-256 of the file's bytes (file sources). */
    fileSha256?: string;
    /** Stored dtype in the file (file sources). */
    dtype?: DType;
    /** SHA-256 of the float32 little-endian latents the sampler starts from (what the ranks of a parallel run agree on). */
    sha256: string;
  };
