// Job request validation (zod): field limits, defaults, and the 400-error shape naming each bad field.
// The same limits are published by GET /api/config so clients can validate before submitting.
import { z } from 'zod';
import type { ModelCard } from '../engine/io/model-card.js';

export const GUIDANCE_MODES = ['reference', 'constant'] as const;
export type GuidanceMode = (typeof GUIDANCE_MODES)[number];

export interface RequestLimits {
  promptMaxChars: number;
  minSize: number;
  maxWidth: number;
  maxHeight: number;
  sizeMultiple: number;
  maxFrames: number;
  maxSteps: number;
  maxGuidance: number;
  maxFps: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  promptMaxChars: 2000,
  minSize: 64,
  maxWidth: 1280,
  maxHeight: 1280,
  sizeMultiple: 16,
  maxFrames: 120,
  maxSteps: 500,
  maxGuidance: 30,
  maxFps: 60,
};

/** Reference defaults from the Vchitect-2.0 spec (section 4). */
export const REQUEST_DEFAULTS = {
  negative_prompt: '',
  frames: 40,
  width: 768,
  height: 432,
  steps: 100,
  guidance: 7.5,
  guidance_mode: 'reference' as GuidanceMode,
  fps: 8,
};

export const MAX_SEED = 0xffffffff;

export type RequestDefaults = typeof REQUEST_DEFAULTS;

/** The field limits as GET /api/config publishes them (snake_case, min/max ranges). */
export function publishedLimits(l: RequestLimits) {
  return {
    prompt_max_chars: l.promptMaxChars,
    width: { min: l.minSize, max: l.maxWidth, multiple_of: l.sizeMultiple },
    height: { min: l.minSize, max: l.maxHeight, multiple_of: l.sizeMultiple },
    frames: { min: 1, max: l.maxFrames },
    steps: { min: 1, max: l.maxSteps },
    guidance: { min: 0, max: l.maxGuidance },
    fps: { min: 1, max: l.maxFps },
    seed: { min: 0, max: MAX_SEED },
  };
}

/** The defaults for a model: its card's recommended settings (size, frames, steps, guidance, fps), else the spec's. */
export function modelRequestDefaults(card: ModelCard | null | undefined): RequestDefaults {
  if (!card) return REQUEST_DEFAULTS;
  const r = card.recommended;
  return { ...REQUEST_DEFAULTS, width: r.width, height: r.height, frames: r.frames, steps: r.steps, guidance: r.guidance, guidance_mode: r.guidanceMode, fps: r.fps };
}

/** Long-video strategies a job may ask for (docs/long-video.md; the same as `generate --long`). */
export const LONG_STRATEGIES = ['clip-parallel', 'dualparal'] as const;
export type LongStrategyName = (typeof LONG_STRATEGIES)[number];

/** A fully defaulted, validated job request (what is stored and handed to the Generator). */
export interface JobRequest {
  prompt: string;
  negative_prompt: string;
  frames: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  guidance_mode: GuidanceMode;
  seed: number;
  fps: number;
  /** Long video (absent: ordinary sampling): `generate --long`. */
  long?: LongStrategyName;
  /** long 'dualparal': latent frames per block and context frames (`--block-frames`, `--context-frames`). */
  block_frames?: number;
  context_frames?: number;
  /** long 'clip-parallel': dual-scope options as `--dual-scope` takes them, e.g. "window=4,top-k=8". */
  dual_scope?: string;
}

export interface FieldError {
  field: string;
  message: string;
}

function clampDefault(value: number, max: number, min: number): number {
  return Math.min(Math.max(value, min), max);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * The limits every generator can meet: the server's limits tightened by what each generator says it can make
 * (a loaded model's largest side, the fake generator's options). Smallest maxima, largest minimum, and a size
 * multiple that is a multiple of every generator's.
 */
export function tightenLimits(base: RequestLimits, parts: readonly (Partial<RequestLimits> | undefined)[]): RequestLimits {
  const out = { ...base };
  for (const p of parts) {
    if (!p) continue;
    for (const k of ['promptMaxChars', 'maxWidth', 'maxHeight', 'maxFrames', 'maxSteps', 'maxGuidance', 'maxFps'] as const) {
      if (p[k] !== undefined) out[k] = Math.min(out[k], p[k]);
    }
    if (p.minSize !== undefined) out.minSize = Math.max(out.minSize, p.minSize);
    if (p.sizeMultiple !== undefined) out.sizeMultiple = (out.sizeMultiple / gcd(out.sizeMultiple, p.sizeMultiple)) * p.sizeMultiple;
  }
  return out;
}

/**
 * The request defaults under `limits`: `base` (the spec's, or a model card's: modelRequestDefaults) with its size
 * scaled down (same aspect, rounded down to the size multiple) to fit a model that cannot make it, frames and steps
 * clamped. Published in /api/config.
 */
export function requestDefaults(limits: RequestLimits, base: RequestDefaults = REQUEST_DEFAULTS): RequestDefaults {
  const d = base;
  const m = limits.sizeMultiple;
  const scale = Math.min(1, limits.maxWidth / d.width, limits.maxHeight / d.height);
  const side = (v: number, max: number) => clampDefault(Math.floor((v * scale) / m) * m, Math.floor(max / m) * m, Math.ceil(limits.minSize / m) * m);
  return {
    ...d,
    width: side(d.width, limits.maxWidth),
    height: side(d.height, limits.maxHeight),
    frames: clampDefault(d.frames, limits.maxFrames, 1),
    steps: clampDefault(d.steps, limits.maxSteps, 1),
    guidance: clampDefault(d.guidance, limits.maxGuidance, 0),
    fps: clampDefault(d.fps, limits.maxFps, 1),
  };
}

/** Builds the zod schema for a POST /api/jobs body under the given limits. */
export function jobRequestSchema(limits: RequestLimits, base: RequestDefaults = REQUEST_DEFAULTS) {
  const size = (max: number) =>
    z
      .number({ error: 'must be a number' })
      .int({ error: 'must be an integer' })
      .min(limits.minSize, { error: `must be >= ${limits.minSize}` })
      .max(max, { error: `must be <= ${max}` })
      .refine((v) => v % limits.sizeMultiple === 0, { error: `must be a multiple of ${limits.sizeMultiple}` });
  const d = requestDefaults(limits, base);
  return z.strictObject(
    {
      prompt: z
        .string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') })
        .refine((s) => s.trim().length > 0, { error: 'must not be empty' })
        .refine((s) => s.length <= limits.promptMaxChars, { error: `must be at most ${limits.promptMaxChars} characters` }),
      negative_prompt: z
        .string({ error: 'must be a string' })
        .max(limits.promptMaxChars, { error: `must be at most ${limits.promptMaxChars} characters` })
        .default(d.negative_prompt),
      frames: z
        .number({ error: 'must be a number' })
        .int({ error: 'must be an integer' })
        .min(1, { error: 'must be >= 1' })
        .max(limits.maxFrames, { error: `must be <= ${limits.maxFrames}` })
        .default(d.frames),
      width: size(limits.maxWidth).default(d.width),
      height: size(limits.maxHeight).default(d.height),
      steps: z
        .number({ error: 'must be a number' })
        .int({ error: 'must be an integer' })
        .min(1, { error: 'must be >= 1' })
        .max(limits.maxSteps, { error: `must be <= ${limits.maxSteps}` })
        .default(d.steps),
      guidance: z
        .number({ error: 'must be a number' })
        .min(0, { error: 'must be >= 0' })
        .max(limits.maxGuidance, { error: `must be <= ${limits.maxGuidance}` })
        .default(d.guidance),
      guidance_mode: z.enum(GUIDANCE_MODES, { error: `must be one of: ${GUIDANCE_MODES.join(', ')}` }).default(d.guidance_mode),
      seed: z
        .number({ error: 'must be a number' })
        .int({ error: 'must be an integer' })
        .min(0, { error: 'must be >= 0' })
        .max(MAX_SEED, { error: `must be <= ${MAX_SEED}` })
        .optional(),
      fps: z
        .number({ error: 'must be a number' })
        .int({ error: 'must be an integer' })
        .min(1, { error: 'must be >= 1' })
        .max(limits.maxFps, { error: `must be <= ${limits.maxFps}` })
        .default(d.fps),
      long: z.enum(LONG_STRATEGIES, { error: `must be one of: ${LONG_STRATEGIES.join(', ')}` }).optional(),
      block_frames: z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(1, { error: 'must be >= 1' }).optional(),
      context_frames: z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(0, { error: 'must be >= 0' }).optional(),
      dual_scope: z.string({ error: 'must be a string' }).max(200, { error: 'must be at most 200 characters' }).optional(),
    },
    { error: 'must be a JSON object' },
  );
}

export type ParseResult = { ok: true; value: JobRequest } | { ok: false; errors: FieldError[] };

/**
 * Validates a parsed JSON body. A missing seed is drawn at random (so every stored job is reproducible).
 * Errors list every offending field, e.g. {field: 'width', message: 'must be a multiple of 16'}.
 */
export function parseJobRequest(body: unknown, limits: RequestLimits, randomSeed: () => number, base: RequestDefaults = REQUEST_DEFAULTS): ParseResult {
  const result = jobRequestSchema(limits, base).safeParse(body);
  if (!result.success) {
    const errors: FieldError[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) errors.push({ field: key, message: 'unknown field' });
        continue;
      }
      const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)';
      errors.push({ field, message: issue.message });
    }
    return { ok: false, errors };
  }
  const v = result.data;
  return { ok: true, value: { ...v, seed: v.seed ?? randomSeed() } };
}
