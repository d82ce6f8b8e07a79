// Request limits come from what the generators can make: a model (here a FakeGenerator claiming a 256-pixel
// maximum side, as the tiny checkpoint does) tightens /api/config, the defaults and POST validation (400 naming
// the limit instead of a job that fails a millisecond later).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, parseJobRequest, requestDefaults, tightenLimits } from '../../server/schema.js';
import { FakeGenerator } from '../../server/fake-generator.js';
import { startTestServer, waitForStatus, type TestServer } from './helpers.js';

describe('tightenLimits and requestDefaults', () => {
  it('takes the smallest maxima, the largest minimum and a common size multiple', () => {
    const l = tightenLimits(DEFAULT_LIMITS, [{ maxWidth: 256, maxHeight: 512, sizeMultiple: 16 }, undefined, { maxHeight: 384, minSize: 96, sizeMultiple: 24 }, {}]);
    expect(l).toEqual({ ...DEFAULT_LIMITS, maxWidth: 256, maxHeight: 384, minSize: 96, sizeMultiple: 48 });
    expect(tightenLimits(DEFAULT_LIMITS, [])).toEqual(DEFAULT_LIMITS);
  });

  it('scales the 768x432 default down to fit, keeping the aspect and the multiple', () => {
    expect(requestDefaults(DEFAULT_LIMITS)).toMatchObject({ width: 768, height: 432, frames: 40, steps: 100 });
    const small = { ...DEFAULT_LIMITS, maxWidth: 256, maxHeight: 256 };
    expect(requestDefaults(small)).toMatchObject({ width: 256, height: 144 });
    const odd = { ...DEFAULT_LIMITS, maxWidth: 1000, maxHeight: 200, sizeMultiple: 24, minSize: 48, maxFrames: 13, maxSteps: 7 };
    const d = requestDefaults(odd);
    expect(d.width % 24).toBe(0);
    expect(d.height % 24).toBe(0);
    expect(d.height).toBeLessThanOrEqual(200);
    expect(d.width / d.height).toBeGreaterThan(1.5);
    expect([d.frames, d.steps]).toEqual([13, 7]);
    // The defaults are valid requests under their limits.
    for (const lim of [DEFAULT_LIMITS, small, odd]) {
      const r = parseJobRequest({ prompt: 'x' }, lim, () => 1);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });
});

describe('a server whose model makes at most 256x256', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ generators: [new FakeGenerator({ msPerStep: 1, limits: { maxWidth: 256, maxHeight: 256 } })], limits: { maxFrames: 60 } });
  });
  afterAll(() => t.close());

  it('/api/config advertises the model limits and defaults that fit them', async () => {
    const cfg = await (await t.api('/api/config', { auth: false })).json();
    expect(cfg.limits.width).toEqual({ min: 64, max: 256, multiple_of: 16 });
    expect(cfg.limits.height).toEqual({ min: 64, max: 256, multiple_of: 16 });
    expect(cfg.limits.frames).toEqual({ min: 1, max: 60 });
    expect(cfg.defaults).toMatchObject({ width: 256, height: 144, frames: 40 });
  });

  it('a size the model cannot make is a 400 naming the limit, not a failed job', async () => {
    const before = (await (await t.api('/api/jobs?limit=200')).json()).jobs.length;
    const r = await t.submit({ prompt: 'too wide', width: 320, height: 64, steps: 1, frames: 1 });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('invalid_request');
    expect(r.body.fields).toEqual([{ field: 'width', message: 'must be <= 256' }]);
    expect(r.body.error).toContain('width must be <= 256');
    expect((await (await t.api('/api/jobs?limit=200')).json()).jobs.length).toBe(before);
  });

  it('a request without a size gets the fitted defaults and succeeds', async () => {
    const r = await t.submit({ prompt: 'defaults', steps: 1, frames: 1 });
    expect(r.status).toBe(201);
    expect([r.body.request.width, r.body.request.height]).toEqual([256, 144]);
    await waitForStatus(t, r.body.id, ['succeeded']);
  });
});
