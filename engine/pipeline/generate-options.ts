// Generation settings: the spec defaults (section 4), their validation with errors that name the fix, and the
// latent shape they imply for a given model.
import type { GuidanceMode } from '../reference/flow-match.js';
import type { BackendModelInfo } from './backend.js';
import type { GenerateSettings } from './generate-settings.js';

/** Reference defaults (spec section 4): 768x432, 40 frames, 100 steps, guidance 7.5 'reference', 8 fps. */
export const SPEC_DEFAULTS = {
  width: 768, height: 432, frames: 40, steps: 100, guidance: 7.5, guidanceMode: 'reference' as GuidanceMode, fps: 8, negativePrompt: '',
} as const;

export const GUIDANCE_MODES: readonly GuidanceMode[] = ['reference', 'constant'];

export type { GenerateSettings } from './generate-settings.js';

export class GenerateOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GenerateOptionsError';
  }
}

/** Pixel multiple that width/height must respect: VAE scale * patch size (16 for Vchitect-2.0). */
export function sizeMultiple(info: Pick<BackendModelInfo, 'vaeScale' | 'patchSize'>): number {
  return info.vaeScale * info.patchSize;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new GenerateOptionsError(`${name} must be an integer >= 1, got ${v}`);
}

/** Validates the settings against the model; throws GenerateOptionsError naming the setting and the fix. */
export function validateSettings(s: GenerateSettings, info: BackendModelInfo): void {
  if (typeof s.prompt !== 'string') throw new GenerateOptionsError('prompt must be a string');
  if (typeof s.negativePrompt !== 'string') throw new GenerateOptionsError('negativePrompt must be a string');
  positiveInt('frames', s.frames);
  positiveInt('steps', s.steps);
  positiveInt('width', s.width);
  positiveInt('height', s.height);
  const m = sizeMultiple(info);
  const maxSide = info.posEmbedMaxSize * m;
  for (const [name, v] of [['width', s.width], ['height', s.height]] as const) {
    if (v % m !== 0) {
      const lo = Math.max(m, Math.floor(v / m) * m);
      throw new GenerateOptionsError(`${name} ${v} is not a multiple of ${m} (VAE x${info.vaeScale} * patch ${info.patchSize}); try ${lo} or ${lo + m}`);
    }
    if (v > maxSide) throw new GenerateOptionsError(`${name} ${v} exceeds the model's maximum ${maxSide} (pos_embed_max_size ${info.posEmbedMaxSize} patches * ${m})`);
  }
  if (!Number.isFinite(s.guidance) || s.guidance < 0) throw new GenerateOptionsError(`guidance must be a finite number >= 0, got ${s.guidance}`);
  if (!GUIDANCE_MODES.includes(s.guidanceMode)) {
    throw new GenerateOptionsError(`guidanceMode must be one of ${GUIDANCE_MODES.join(', ')}, got ${JSON.stringify(s.guidanceMode)}`);
  }
  if (!Number.isSafeInteger(s.seed) || s.seed < 0) throw new GenerateOptionsError(`seed must be an integer in [0, 2^53), got ${s.seed}`);
}

/** Latent shape [1, F, C, height/vaeScale, width/vaeScale]. */
export function latentShape(s: Pick<GenerateSettings, 'frames' | 'width' | 'height'>, info: BackendModelInfo): number[] {
  return [1, s.frames, info.latentChannels, s.height / info.vaeScale, s.width / info.vaeScale];
}

/** A random seed in [0, 2^32) from the platform's crypto RNG. */
export function randomSeed(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
}

/** Fills in the spec defaults (random seed when none) and validates against the model (throws GenerateOptionsError). */
export function resolveGenerateSettings(o: Partial<GenerateSettings> & { prompt: string }, info: BackendModelInfo): GenerateSettings {
  const s: GenerateSettings = {
    prompt: o.prompt,
    negativePrompt: o.negativePrompt ?? SPEC_DEFAULTS.negativePrompt,
    frames: o.frames ?? SPEC_DEFAULTS.frames,
    width: o.width ?? SPEC_DEFAULTS.width,
    height: o.height ?? SPEC_DEFAULTS.height,
    steps: o.steps ?? SPEC_DEFAULTS.steps,
    guidance: o.guidance ?? SPEC_DEFAULTS.guidance,
    guidanceMode: o.guidanceMode ?? SPEC_DEFAULTS.guidanceMode,
    seed: o.seed ?? randomSeed(),
  };
  validateSettings(s, info);
  return s;
}
