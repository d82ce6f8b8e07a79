// Client-side job request validation mirroring the server's limits (GET /api/config) and messages, so the
// form shows inline errors before submitting. The server stays the authority (its 400 fields are shown too).
import type { GuidanceMode, JobRequestBody, ServerConfig } from './types.js';

export const REQUEST_FIELDS = ['prompt', 'negative_prompt', 'frames', 'width', 'height', 'steps', 'guidance', 'guidance_mode', 'seed', 'fps'] as const;
export type RequestField = (typeof REQUEST_FIELDS)[number];
export type FieldErrors = Partial<Record<RequestField, string>>;
/** Form values as typed (strings from inputs); seed may be blank (the server draws one). */
export type RawForm = Record<RequestField, string>;

type Limits = ServerConfig['limits'];

function intIn(v: number, min: number, max: number): string | null {
  if (!Number.isFinite(v)) return 'must be a number';
  if (!Number.isInteger(v)) return 'must be an integer';
  if (v < min) return `must be >= ${min}`;
  if (v > max) return `must be <= ${max}`;
  return null;
}

function sizeError(v: number, r: Limits['width']): string | null {
  return intIn(v, r.min, r.max) ?? (v % r.multiple_of === 0 ? null : `must be a multiple of ${r.multiple_of}`);
}

/** Checks a typed request body against the limits; one message per bad field (server wording). */
export function checkRequest(body: JobRequestBody, cfg: Pick<ServerConfig, 'limits' | 'guidance_modes'>): FieldErrors {
  const l = cfg.limits;
  const errors: FieldErrors = {};
  const set = (f: RequestField, m: string | null) => {
    if (m) errors[f] = m;
  };
  if (typeof body.prompt !== 'string') set('prompt', 'must be a string');
  else if (body.prompt.trim().length === 0) set('prompt', 'must not be empty');
  else if (body.prompt.length > l.prompt_max_chars) set('prompt', `must be at most ${l.prompt_max_chars} characters`);
  if (body.negative_prompt.length > l.prompt_max_chars) set('negative_prompt', `must be at most ${l.prompt_max_chars} characters`);
  set('frames', intIn(body.frames, l.frames.min, l.frames.max));
  set('width', sizeError(body.width, l.width));
  set('height', sizeError(body.height, l.height));
  set('steps', intIn(body.steps, l.steps.min, l.steps.max));
  if (!Number.isFinite(body.guidance)) set('guidance', 'must be a number');
  else if (body.guidance < l.guidance.min) set('guidance', `must be >= ${l.guidance.min}`);
  else if (body.guidance > l.guidance.max) set('guidance', `must be <= ${l.guidance.max}`);
  if (!cfg.guidance_modes.includes(body.guidance_mode)) set('guidance_mode', `must be one of: ${cfg.guidance_modes.join(', ')}`);
  if (body.seed !== undefined) set('seed', intIn(body.seed, l.seed.min, l.seed.max));
  set('fps', intIn(body.fps, l.fps.min, l.fps.max));
  return errors;
}

/** Parses a numeric input: blank is 'is required', text that is not a plain decimal number is 'must be a number'. */
export function parseNumber(text: string): number | string {
  const s = text.trim();
  if (s === '') return 'is required';
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return 'must be a number';
  return Number(s);
}

/** Validates the raw form: returns the request body to POST, or the errors to show next to each field. */
export function validateForm(raw: RawForm, cfg: Pick<ServerConfig, 'limits' | 'guidance_modes'>): { body: JobRequestBody | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const num = (f: RequestField, optional = false): number => {
    if (optional && raw[f].trim() === '') return NaN;
    const v = parseNumber(raw[f]);
    if (typeof v === 'string') {
      errors[f] = v;
      return NaN;
    }
    return v;
  };
  const seedText = raw.seed.trim();
  const body: JobRequestBody = {
    prompt: raw.prompt,
    negative_prompt: raw.negative_prompt,
    frames: num('frames'),
    width: num('width'),
    height: num('height'),
    steps: num('steps'),
    guidance: num('guidance'),
    guidance_mode: raw.guidance_mode as GuidanceMode,
    fps: num('fps'),
  };
  if (seedText !== '') body.seed = num('seed', true);
  const checked = checkRequest(body, cfg);
  for (const f of REQUEST_FIELDS) if (!errors[f] && checked[f]) errors[f] = checked[f];
  return Object.keys(errors).length > 0 ? { body: null, errors } : { body, errors };
}

/** The long-video part of the form as typed: strategy ('' = none), DualParal B and C, clip-parallel dual-scope. */
export interface RawLong {
  long: string;
  block_frames: string;
  context_frames: string;
  dual_scope: string;
}
export type LongField = keyof RawLong;

/**
 * The request fields of the long-video options (only those of the chosen strategy; blank B / C / dual-scope = the
 * server's defaults), or the errors per field. Whether the frames fit the blocks (C <= B, frames = n*B + C) and the
 * group's GPUs is the server's to say (its message is `generate --long`'s, shown in the form's banner).
 */
export function validateLong(raw: RawLong, strategies: readonly string[]): { body: Partial<Pick<JobRequestBody, 'long' | 'block_frames' | 'context_frames' | 'dual_scope'>> | null; errors: Partial<Record<LongField, string>> } {
  const errors: Partial<Record<LongField, string>> = {};
  if (raw.long === '') return { body: {}, errors };
  if (!strategies.includes(raw.long)) return { body: null, errors: { long: `must be one of: ${strategies.join(', ')}` } };
  const body: Partial<Pick<JobRequestBody, 'long' | 'block_frames' | 'context_frames' | 'dual_scope'>> = { long: raw.long as JobRequestBody['long'] };
  if (raw.long === 'dualparal') {
    for (const [f, min] of [['block_frames', 1], ['context_frames', 0]] as const) {
      if (raw[f].trim() === '') continue;
      const v = parseNumber(raw[f]);
      const err = typeof v === 'string' ? v : intIn(v, min, Number.MAX_SAFE_INTEGER);
      if (err) errors[f] = err;
      else body[f] = v as number;
    }
  }
  if (raw.long === 'clip-parallel' && raw.dual_scope.trim() !== '') body.dual_scope = raw.dual_scope.trim();
  return Object.keys(errors).length > 0 ? { body: null, errors } : { body, errors };
}
