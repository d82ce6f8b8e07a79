// Validation of POST /api/jobs bodies: defaults, every field's bounds, unknown fields, seed drawing.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, MAX_SEED, parseJobRequest, REQUEST_DEFAULTS } from '../../server/schema.js';

const parse = (body: unknown) => parseJobRequest(body, DEFAULT_LIMITS, () => 1234);

function fieldsOf(body: unknown): string[] {
  const r = parse(body);
  if (r.ok) throw new Error(`expected failure for ${JSON.stringify(body)}`);
  return r.errors.map((e) => e.field).sort();
}

describe('parseJobRequest', () => {
  it('fills reference defaults and draws a seed when missing', () => {
    const r = parse({ prompt: 'a cat' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({ prompt: 'a cat', ...REQUEST_DEFAULTS, seed: 1234 });
  });

  it('keeps a given seed including 0 and the max', () => {
    for (const seed of [0, 7, MAX_SEED]) {
      const r = parse({ prompt: 'x', seed });
      expect(r.ok && r.value.seed).toBe(seed);
    }
  });

  it('accepts random valid requests', () => {
    for (let i = 0; i < 50; i++) {
      const body = {
        prompt: 'p'.repeat(1 + Math.floor(Math.random() * 2000)),
        width: 16 * (4 + Math.floor(Math.random() * 77)),
        height: 16 * (4 + Math.floor(Math.random() * 77)),
        frames: 1 + Math.floor(Math.random() * 120),
        steps: 1 + Math.floor(Math.random() * 500),
        guidance: Math.random() * 30,
        guidance_mode: Math.random() < 0.5 ? 'reference' : 'constant',
        fps: 1 + Math.floor(Math.random() * 60),
        seed: Math.floor(Math.random() * MAX_SEED),
      };
      const r = parse(body);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });

  it.each([
    [{}, ['prompt']],
    [{ prompt: '' }, ['prompt']],
    [{ prompt: '   ' }, ['prompt']],
    [{ prompt: 5 }, ['prompt']],
    [{ prompt: 'x'.repeat(2001) }, ['prompt']],
    [{ prompt: 'x', negative_prompt: 'x'.repeat(2001) }, ['negative_prompt']],
    [{ prompt: 'x', width: 100 }, ['width']],
    [{ prompt: 'x', width: 48 }, ['width']],
    [{ prompt: 'x', width: 1296 }, ['width']],
    [{ prompt: 'x', height: 432.5 }, ['height']],
    [{ prompt: 'x', height: '432' }, ['height']],
    [{ prompt: 'x', frames: 0 }, ['frames']],
    [{ prompt: 'x', frames: 121 }, ['frames']],
    [{ prompt: 'x', steps: 1.5 }, ['steps']],
    [{ prompt: 'x', steps: 501 }, ['steps']],
    [{ prompt: 'x', guidance: -0.1 }, ['guidance']],
    [{ prompt: 'x', guidance: 31 }, ['guidance']],
    [{ prompt: 'x', guidance_mode: 'cosine' }, ['guidance_mode']],
    [{ prompt: 'x', seed: 1.5 }, ['seed']],
    [{ prompt: 'x', seed: -1 }, ['seed']],
    [{ prompt: 'x', seed: MAX_SEED + 1 }, ['seed']],
    [{ prompt: 'x', fps: 0 }, ['fps']],
    [{ prompt: 'x', extra: 1 }, ['extra']],
    [{ prompt: 'x', width: 100, steps: 0, bogus: true }, ['bogus', 'steps', 'width']],
  ])('rejects %j naming %j', (body, fields) => {
    expect(fieldsOf(body)).toEqual(fields);
  });

  it('says why, e.g. the multiple of 16', () => {
    const r = parse({ prompt: 'x', width: 100 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toEqual({ field: 'width', message: 'must be a multiple of 16' });
  });

  it('rejects non-objects', () => {
    for (const body of [null, [], 'x', 3]) {
      const r = parse(body);
      expect(r.ok).toBe(false);
    }
  });
});
