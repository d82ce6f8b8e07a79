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
