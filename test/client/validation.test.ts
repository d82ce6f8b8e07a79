// Client-side validation must agree with the server's zod schema (server/schema.ts) on which fields are bad,
// for random requests around every limit, and parse form text the way people type it.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, GUIDANCE_MODES, MAX_SEED, parseJobRequest } from '../../server/schema.js';
import { checkRequest, parseNumber, validateForm, validateLong, type RawForm } from '../../client/validation.js';
import type { JobRequestBody } from '../../client/types.js';
import { clientConfigFor } from '../helpers/client-config.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/** Mostly a valid value; otherwise one near a limit: on it, just outside, off by a fraction, or far off. */
function around(r: () => number, min: number, max: number, multiple = 1): number {
  if (r() < 0.75) return min + multiple * Math.floor(r() * (Math.floor((max - min) / multiple) + 1));
  const pick = Math.floor(r() * 9);
  switch (pick) {
    case 0: return min;
    case 1: return max;
    case 2: return min - multiple;
    case 3: return max + multiple;
    case 4: return min + multiple * Math.floor(r() * ((max - min) / multiple));
    case 5: return min + Math.floor(r() * (max - min)) + 0.5;
    case 6: return -Math.floor(r() * 1000);
    case 7: return min + 1 + Math.floor(r() * (max - min - 1));
    default: return max * 10 + 3;
  }
}

describe('checkRequest mirrors the server schema', () => {
  for (const [name, limits] of [
    ['default limits', DEFAULT_LIMITS],
    ['odd limits', { ...DEFAULT_LIMITS, promptMaxChars: 37, minSize: 48, maxWidth: 1000, maxHeight: 600, sizeMultiple: 24, maxFrames: 13, maxSteps: 77, maxGuidance: 9.5, maxFps: 29 }],
  ] as const) {
    it(`agrees on bad fields for 300 random requests (${name})`, () => {
      const r = rng(limits.maxFrames * 7919);
      const cfg = clientConfigFor(limits);
      let badSeen = 0;
      let goodSeen = 0;
      for (let n = 0; n < 300; n++) {
        const len = [0, 1, limits.promptMaxChars, limits.promptMaxChars + 1, 5, 5, 5, 5][Math.floor(r() * 8)]!;
        const body: JobRequestBody = {
          prompt: r() < 0.1 ? ' '.repeat(Math.max(1, len)) : 'p'.repeat(len),
          negative_prompt: 'n'.repeat([0, 0, 0, limits.promptMaxChars, limits.promptMaxChars + 1][Math.floor(r() * 5)]!),
          frames: around(r, 1, limits.maxFrames),
          width: around(r, limits.minSize, limits.maxWidth, limits.sizeMultiple),
          height: around(r, limits.minSize, limits.maxHeight, limits.sizeMultiple),
          steps: around(r, 1, limits.maxSteps),
          guidance: r() < 0.5 ? around(r, 0, limits.maxGuidance) : r() * limits.maxGuidance * 1.05 - 0.1,
          guidance_mode: r() < 0.95 ? GUIDANCE_MODES[Math.floor(r() * GUIDANCE_MODES.length)]! : ('cfg' as never),
          fps: around(r, 1, limits.maxFps),
        };
        if (r() < 0.7) body.seed = around(r, 0, MAX_SEED);
        const server = parseJobRequest(body, limits, () => 1);
        const client = checkRequest(body, cfg);
        const serverFields = server.ok ? [] : [...new Set(server.errors.map((e) => e.field))].sort();
        expect(Object.keys(client).sort(), JSON.stringify(body).slice(0, 300)).toEqual(serverFields);
        if (!server.ok) {
          badSeen++;
          for (const [field, msg] of Object.entries(client)) {
            expect(server.errors.filter((e) => e.field === field).map((e) => e.message)).toContain(msg);
          }
        } else goodSeen++;
      }
      expect(badSeen).toBeGreaterThan(25);
      expect(goodSeen).toBeGreaterThan(5);
    });
  }
});

describe('parseNumber and validateForm', () => {
  const cfg = clientConfigFor(DEFAULT_LIMITS);
  const good: RawForm = { prompt: 'a cat', negative_prompt: '', frames: '8', width: '256', height: '144', steps: '10', guidance: '7.5', guidance_mode: 'reference', seed: '', fps: '8' };

  it('parses what people type and rejects the rest', () => {
    expect(parseNumber(' 42 ')).toBe(42);
    expect(parseNumber('-3.5')).toBe(-3.5);
    expect(parseNumber('.5')).toBe(0.5);
    expect(parseNumber('1e3')).toBe(1000);
    for (const bad of ['abc', '1,5', '0x10', '12px', 'NaN', 'Infinity', '--1']) expect(parseNumber(bad)).toBe('must be a number');
    expect(parseNumber('   ')).toBe('is required');
  });

  it('returns the body to post, leaving a blank seed to the server', () => {
    const { body, errors } = validateForm(good, cfg);
    expect(errors).toEqual({});
    expect(body).toEqual({ prompt: 'a cat', negative_prompt: '', frames: 8, width: 256, height: 144, steps: 10, guidance: 7.5, guidance_mode: 'reference', fps: 8 });
    expect(validateForm({ ...good, seed: '4294967295' }, cfg).body?.seed).toBe(4294967295);
  });

  it('names every bad field with the server wording', () => {
    const { body, errors } = validateForm({ ...good, prompt: ' ', width: '250', height: '', steps: '1.5', guidance: 'x', seed: '4294967296', fps: '61' }, cfg);
    expect(body).toBeNull();
    expect(errors).toEqual({
      prompt: 'must not be empty',
      width: 'must be a multiple of 16',
      height: 'is required',
      steps: 'must be an integer',
      guidance: 'must be a number',
      seed: 'must be <= 4294967295',
      fps: 'must be <= 60',
    });
  });
});

describe('validateLong: the long-video options of the form', () => {
  const strategies = ['clip-parallel', 'dualparal'];
  const raw = { long: '', block_frames: '', context_frames: '', dual_scope: '' };
  it('off: no fields; a strategy: only its own fields, blanks left to the server defaults', () => {
    expect(validateLong(raw, strategies)).toEqual({ body: {}, errors: {} });
    expect(validateLong({ ...raw, long: 'dualparal', dual_scope: 'window=2' }, strategies).body).toEqual({ long: 'dualparal' });
    expect(validateLong({ ...raw, long: 'dualparal', block_frames: '4', context_frames: '0' }, strategies).body).toEqual({ long: 'dualparal', block_frames: 4, context_frames: 0 });
    expect(validateLong({ ...raw, long: 'clip-parallel', block_frames: '4', dual_scope: ' window=2,top-k=4 ' }, strategies).body).toEqual({ long: 'clip-parallel', dual_scope: 'window=2,top-k=4' });
  });
  it('bad numbers and unknown strategies, in the server schema wording', () => {
    expect(validateLong({ ...raw, long: 'dualparal', block_frames: '0', context_frames: '1.5' }, strategies)).toEqual({
      body: null, errors: { block_frames: 'must be >= 1', context_frames: 'must be an integer' },
    });
    expect(validateLong({ ...raw, long: 'dualparal', context_frames: 'x' }, strategies).errors).toEqual({ context_frames: 'must be a number' });
    expect(validateLong({ ...raw, long: 'fifo' }, strategies).errors).toEqual({ long: 'must be one of: clip-parallel, dualparal' });
    // the server's wording for the same values
    const server = parseJobRequest({ prompt: 'x', long: 'dualparal', block_frames: 0, context_frames: 1.5 }, DEFAULT_LIMITS, () => 1);
    expect(server.ok ? [] : server.errors).toEqual([{ field: 'block_frames', message: 'must be >= 1' }, { field: 'context_frames', message: 'must be an integer' }]);
  });
});
