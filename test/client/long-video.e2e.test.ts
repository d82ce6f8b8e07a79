// End-to-end in headless Chromium with the real engine (tiny checkpoint, a group of two ranks on the one adapter): the
// form's long-video option submits a DualParal job, the queue shows its progress per block, the player plays the video
// while it grows (Media Source Extensions where this Chromium takes H.264, else the <video> reloaded per block: the
// test reads which) and ends on the whole video; a layout that does not fit shows the CLI's message in the banner.
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { PipelineGenerator } from '../../server/pipeline-generator.js';
import { launchChromium } from '../browser/chromium.js';
import { startTestServer, TEST_TOKEN, type TestServer } from '../server/helpers.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(repo, 'test-artifacts');
let dir: string;
let ts: TestServer;
let gen: PipelineGenerator;
let browser: Browser;
let page: Page;
const logs: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-client-long-'));
  await build({ configFile: join(repo, 'client/vite.config.ts'), logLevel: 'error', build: { outDir: join(dir, 'dist'), emptyOutDir: true } });
  await makeTinyCheckpoint(join(dir, 'model'), { seed: 6 });
  gen = new PipelineGenerator({ model: join(dir, 'model'), devices: [0, 0] });
  await gen.load();
  ts = await startTestServer({ generators: [gen], staticDir: join(dir, 'dist'), limits: { minSize: 32 }, previewIntervalMs: 0 });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  mkdirSync(SHOTS, { recursive: true });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  await gen?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function fillJob(frames: number): Promise<void> {
  await page.fill('#f-prompt', 'a red fox');
  for (const [f, v] of [['width', '32'], ['height', '32'], ['frames', String(frames)], ['steps', '2'], ['guidance', '4'], ['fps', '4']] as const) await page.fill(`#f-${f}`, v);
  await page.selectOption('#f-long', 'dualparal');
  await page.fill('#f-block_frames', '2');
  await page.fill('#f-context_frames', '1');
}

describe('long video in the web app', () => {
  it('a DualParal job: progress per block, the growing video plays, then the whole video', async () => {
    await page.goto(`${ts.server.url}/#token=${TEST_TOKEN}`);
    await page.waitForFunction(() => window.__parallaxApp?.ready && window.__parallaxApp.connection === 'open', undefined, { timeout: 30_000 });
    expect(await page.isVisible('#f-dual_scope')).toBe(false);
    await fillJob(7);
    expect(await page.isVisible('#f-block_frames')).toBe(true);
    await page.click('#generate');
    // the queue's per-block line and the player's growing caption
    const line = await page.waitForFunction(() => {
      const t = document.querySelector('.queue-item .stats')?.textContent ?? '';
      return /block \d\/3 in the video/.test(t) ? t : null;
    }, undefined, { timeout: 240_000 }).then((h) => h.jsonValue());
    expect(line).toMatch(/^Step \d\/6 · block \d\/3 in the video \(frames \d-\d\)/);
    const caption = await page.waitForFunction(() => document.querySelector('#player-blocks')?.textContent ?? null, undefined, { timeout: 60_000 }).then((h) => h.jsonValue());
    expect(caption).toMatch(/^Growing: block [123] of 3 in the video \((Media Source Extensions|reloaded per block)\)$/);
    const mse = caption!.includes('Media Source');
    const src = await page.getAttribute('#player-video', 'src');
    if (mse) expect(src).toMatch(/^blob:/);
    else expect(src).toMatch(/\/stream\?block=\d$/);
    await page.screenshot({ path: join(SHOTS, 'client-long-growing.png') });
    // finished: the whole video (MSE: the rest appended in place; reload: the final file)
    await page.waitForFunction(() => !document.querySelector('#player-blocks') && document.querySelector('#player .card-actions a'), undefined, { timeout: 240_000 });
    const after = await page.getAttribute('#player-video', 'src');
    if (mse) expect(after).toMatch(/^blob:/);
    else expect(after).toMatch(/\/api\/jobs\/[0-9a-f-]{36}\/video$/);
    // the browser decoded the whole video: 7 frames at 4 fps buffered, no media error
    const media = await page.waitForFunction(() => {
      const v = document.querySelector<HTMLVideoElement>('#player-video')!;
      const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
      return v.error || end >= 1.7 ? { error: v.error?.message ?? null, end, readyState: v.readyState } : null;
    }, undefined, { timeout: 30_000 }).then((h) => h.jsonValue());
    expect(media!.error).toBeNull();
    expect(media!.end).toBeCloseTo(7 / 4, 1);
    expect(media!.readyState).toBeGreaterThanOrEqual(2);
    expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
    console.log(`growing video mode in this Chromium: ${mse ? 'Media Source Extensions' : 'reload per block'}`);
  }, 480_000);

  it('frames that do not fit the blocks: the server\'s (the CLI\'s) message in the banner', async () => {
    await fillJob(8);
    await page.click('#generate');
    await page.waitForFunction(() => /do not fit blocks of B = 2 with C = 1/.test(document.querySelector('#form-banner')?.textContent ?? ''), undefined, { timeout: 20_000 });
  });
});
