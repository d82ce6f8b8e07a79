// End-to-end with the real engine on a make-tiny checkpoint, in headless Chromium: a prompt submitted in the app
// runs on the server's GPU pipeline (live steps and previews) and ends in a <video> that decodes and plays; and the
// in-browser preview streams the checkpoint the server exposes at /api/model/ by HTTP range reads and runs the
// pipeline in a worker on SwiftShader's WebGPU. Screenshots: test-artifacts/client-engine-*.png, client-local-model.png.

import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { PipelineGenerator } from '../../server/pipeline-generator.js';
import { launchChromium } from '../browser/chromium.js';
import { startTestServer, TEST_TOKEN, type TestServer } from '../server/helpers.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let ts: TestServer;
let browser: Browser;
let gen: PipelineGenerator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-local-model-'));
  await makeTinyCheckpoint(join(dir, 'model'), { seed: 5 });
  await build({ configFile: join(repo, 'client/vite.config.ts'), logLevel: 'error', build: { outDir: join(dir, 'dist'), emptyOutDir: true } });
  gen = new PipelineGenerator({ model: join(dir, 'model') });
  ts = await startTestServer({ staticDir: join(dir, 'dist'), modelDir: join(dir, 'model'), generators: [gen], previewIntervalMs: 0 });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  await gen?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('the app with the engine', () => {
  it('runs a submitted prompt on the server\'s GPU pipeline: progress, previews, a playing video', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    await page.goto(`${ts.server.url}/#token=${TEST_TOKEN}`);
    for (const [f, v] of [['frames', '3'], ['width', '64'], ['height', '64'], ['steps', '4'], ['seed', '8'], ['fps', '4']]) await page.fill(`#f-${f}`, v!);
    await page.fill('#f-prompt', 'a paper boat on a rainy street');
    await page.click('#generate');
    await page.waitForSelector('.queue-item img.live-preview', { timeout: 240_000 });
    await page.screenshot({ path: join(repo, 'test-artifacts', 'client-engine-running.png') });
    await page.waitForFunction(() => !!document.querySelector<HTMLVideoElement>('#player-video')?.getAttribute('src'), undefined, { timeout: 240_000 });
    // The MP4 is real H.264: the element decodes it (64x64), and playback advances.
    const played = await page.waitForFunction(() => {
      const v = document.querySelector<HTMLVideoElement>('#player-video')!;
      if (v.paused) void v.play().catch(() => undefined);
      return v.readyState >= 2 && v.videoWidth === 64 && v.videoHeight === 64 && v.currentTime > 0 ? { w: v.videoWidth, t: v.currentTime, d: v.duration } : null;
    }, undefined, { timeout: 60_000, polling: 200 });
    const v = (await played.jsonValue()) as { w: number; t: number; d: number };
    expect(v.w, logs.join('\n')).toBe(64);
    expect(v.d).toBeCloseTo(3 / 4, 1);
    await page.screenshot({ path: join(repo, 'test-artifacts', 'client-engine-finished.png') });
    await page.close();
  }, 300_000);

  it('previews in the browser: streams the server\'s checkpoint and runs the pipeline in a worker on WebGPU', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`${ts.server.url}/#token=${TEST_TOKEN}`);
    await page.waitForFunction(() => /WebGPU ready|not available/.test(document.querySelector('#local-status')?.textContent ?? ''), undefined, { timeout: 60_000 });
    for (const [f, v] of [['frames', '2'], ['width', '64'], ['height', '64'], ['steps', '2'], ['seed', '3']]) await page.fill(`#f-${f}`, v!);
    await page.fill('#f-prompt', 'a lighthouse in a storm');
    await page.click('#preview-local');
    await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector<HTMLElement>('#local')?.dataset.state ?? ''), undefined, { timeout: 240_000 });
    const stats = await page.textContent('#local-stats');
    expect(stats, logs.join('\n')).toMatch(/^Done: 2 frames .*\(pipeline, seed 3\)/);
    const colours = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('#local-canvas')!;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const set = new Set<number>();
      for (let i = 0; i < d.length; i += 4 * 13) set.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
      return set.size;
    });
    expect(colours).toBeGreaterThan(10);
    mkdirSync(join(repo, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(repo, 'test-artifacts', 'client-local-model.png'), fullPage: true });
    await page.close();
  }, 300_000);
});
