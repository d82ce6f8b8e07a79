// End-to-end: the in-browser preview runs the real model. The server exposes a make-tiny checkpoint at
// /api/model/; the app's worker streams it by HTTP range reads and runs the text-to-video pipeline on
// SwiftShader's WebGPU in headless Chromium. Screenshot: test-artifacts/client-local-model.png.

import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { launchChromium } from '../browser/chromium.js';
import { startTestServer, TEST_TOKEN, type TestServer } from '../server/helpers.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let ts: TestServer;
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-local-model-'));
  await makeTinyCheckpoint(join(dir, 'model'), { seed: 5 });
  await build({ configFile: join(repo, 'client/vite.config.ts'), logLevel: 'error', build: { outDir: join(dir, 'dist'), emptyOutDir: true } });
  ts = await startTestServer({ staticDir: join(dir, 'dist'), modelDir: join(dir, 'model') });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('in-browser preview with the model', () => {
  it('streams the server\'s checkpoint and runs the pipeline in a worker on WebGPU', async () => {
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
