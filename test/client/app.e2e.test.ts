// End-to-end: builds the web app with Vite, serves it from the job server (FakeGenerator, 127.0.0.1:0) and
// drives it in headless Chromium (SwiftShader WebGPU): token from #token=, submit, live progress and previews,
// the finished video, re-run, cancel, validation, 401 handling, WebSocket reconnect, in-browser preview; a model with
// a card: its preset first, its example prompts clickable.
// Screenshots go to test-artifacts/client-*.png. (The in-browser preview with a real model: local-model.e2e.test.ts.)
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelCard } from '../../engine/io/model-card.js';
import { launchChromium } from '../browser/chromium.js';
import { startTestServer, TEST_TOKEN, type TestServer } from '../server/helpers.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(repo, 'test-artifacts');

let outDir: string;
let ts: TestServer;
let browser: Browser;
let page: Page;
const logs: string[] = [];

interface JobLite {
  id: string;
  status: string;
  request: Record<string, unknown>;
}

async function listJobs(): Promise<JobLite[]> {
  const r = await ts.api('/api/jobs?limit=200');
  return ((await r.json()) as { jobs: JobLite[] }).jobs;
}

async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; browser console:\n${logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setPrompt(text: string): Promise<void> {
  await page.fill('#f-prompt', text);
}

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'parallax-client-dist-'));
  await build({ configFile: join(repo, 'client/vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
  ts = await startTestServer({ staticDir: outDir, fake: { msPerStep: 120 }, previewIntervalMs: 50 });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await ts?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('web app in headless Chromium', () => {
  it('opens with the token from #token=, stores it and removes it from the URL', async () => {
    await page.goto(`${ts.server.url}/#token=${TEST_TOKEN}`);
    await page.waitForFunction(() => window.__parallaxApp?.ready && window.__parallaxApp.connection === 'open', undefined, { timeout: 20_000 });
    expect(await page.evaluate(() => localStorage.getItem('parallax.token'))).toBe(TEST_TOKEN);
    expect(new URL(page.url()).hash).toBe('');
    expect(await page.textContent('#conn')).toContain('Live');
    // defaults from /api/config fill the form
    expect(await page.inputValue('#f-width')).toBe('768');
    expect(await page.inputValue('#f-steps')).toBe('100');
  });

  it('shows inline validation messages and submits nothing while the form is invalid', async () => {
    await setPrompt('   ');
    await page.fill('#f-width', '100');
    await page.fill('#f-fps', '0');
    await page.click('#generate');
    expect(await page.textContent('#err-prompt')).toMatch(/must not be empty/);
    expect(await page.textContent('#err-width')).toMatch(/multiple of 16/);
    expect(await page.textContent('#err-fps')).toMatch(/>= 1/);
    expect(await page.getAttribute('#f-width', 'aria-invalid')).toBe('true');
    await page.screenshot({ path: join(SHOTS, 'client-validation.png') });
    expect(await listJobs()).toHaveLength(0);
    // fixing the fields clears the messages
    await page.fill('#f-width', '256');
    await page.fill('#f-fps', '8');
    await setPrompt('ok');
    expect(await page.textContent('#err-width')).toBe('');
  });

  it('submits a job, shows live progress and previews, then plays the finished video', async () => {
    await setPrompt('A paper boat drifting down a rainy street, cinematic');
    await page.click('[data-preset=preview]');
    expect(await page.inputValue('#f-width')).toBe('256');
    expect(await page.inputValue('#f-height')).toBe('144');
    expect(await page.inputValue('#f-frames')).toBe('8');
    await page.fill('#f-steps', '16');
    await page.fill('#f-seed', '1234');
    await page.click('#generate');
    const job = await waitFor(async () => (await listJobs())[0], 'the job to be created');
    expect(job.request).toMatchObject({ width: 256, height: 144, frames: 8, steps: 16, seed: 1234, prompt: 'A paper boat drifting down a rainy street, cinematic' });
    const item = `.queue-item[data-job="${job.id}"]`;
    const stats = await waitFor(async () => {
      const t = await page.textContent(`${item} .stats`).catch(() => null);
      return t && /Step [1-9]\d*\/16 · [\d.]+ (it\/s|s\/it) · ETA/.test(t) ? t : null;
    }, 'step k/n with it/s and ETA');
    expect(stats).toMatch(/Step \d+\/16/);
    const src = await waitFor(async () => {
      const s = await page.getAttribute(`${item} img.live-preview`, 'src').catch(() => null);
      return s?.startsWith('data:image/png;base64,') ? s : null;
    }, 'a live preview image');
    expect(src.length).toBeGreaterThan(40);
    const width = await page.evaluate((sel) => (document.querySelector(`${sel} .progress .fill`) as HTMLElement).style.width, item);
    expect(parseFloat(width)).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'client-running.png') });

    await page.waitForFunction((id) => document.querySelector<HTMLVideoElement>('#player-video')?.getAttribute('src') === `/api/jobs/${id}/video`, job.id, { timeout: 20_000 });
    const video = await page.evaluate(() => {
      const v = document.querySelector<HTMLVideoElement>('#player-video')!;
      return { src: v.src, poster: v.poster };
    });
    expect(video.src).toBe(`${ts.server.url}/api/jobs/${job.id}/video`);
    expect(video.poster).toBe(`${ts.server.url}/api/jobs/${job.id}/frames/0`);
    const res = await fetch(video.src);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const card = `.gallery-item[data-job="${job.id}"]`;
    await page.waitForFunction((sel) => document.querySelector(`${sel} .badge`)?.textContent === 'Done', card);
    expect(await page.getAttribute(`${card} [data-action=mp4]`, 'href')).toBe(`/api/jobs/${job.id}/video`);
    expect(await page.getAttribute(`${card} [data-action=sidecar]`, 'href')).toBe(`/api/jobs/${job.id}/sidecar`);
    expect(await page.$(`.queue-item[data-job="${job.id}"]`)).toBeNull();
    await page.screenshot({ path: join(SHOTS, 'client-finished.png'), fullPage: true });
  });

  it('re-runs a gallery job with one click (same settings and seed)', async () => {
    const [first] = await listJobs();
    await page.fill('#f-prompt', 'something else');
    await page.fill('#f-seed', '');
    await page.click(`.gallery-item[data-job="${first!.id}"] [data-action=rerun]`);
    const jobs = await waitFor(async () => {
      const l = await listJobs();
      return l.length === 2 ? l : null;
    }, 'the re-run job');
    expect(jobs[0]!.id).not.toBe(first!.id);
    expect(jobs[0]!.request).toEqual(first!.request);
    expect(await page.inputValue('#f-prompt')).toBe(first!.request.prompt);
    expect(await page.inputValue('#f-seed')).toBe('1234');
    await waitFor(async () => (await listJobs())[0]!.status === 'succeeded', 're-run to finish');
  });

  it('cancels a running job from the queue, and a queued one behind it', async () => {
    await setPrompt('A long job to cancel');
    await page.click('[data-preset=default]');
    await page.fill('#f-seed', '7');
    await page.click('#generate');
    await setPrompt('A queued job behind it');
    await page.click('#generate');
    const [queued, running] = await waitFor(async () => {
      const l = await listJobs();
      return l.length === 4 && l[1]!.status === 'running' ? l : null;
    }, 'a running and a queued job');
    await page.waitForSelector(`.queue-item[data-job="${queued!.id}"] .status:text("Queued · next")`);
    await page.waitForFunction((id) => /Step [1-9]/.test(document.querySelector(`.queue-item[data-job="${id}"] .stats`)?.textContent ?? ''), running!.id);
    await page.screenshot({ path: join(SHOTS, 'client-queue.png') });
    await page.click(`.queue-item[data-job="${running!.id}"] button`);
    await page.waitForFunction((id) => document.querySelector(`.gallery-item[data-job="${id}"] .badge`)?.textContent === 'Cancelled', running!.id, { timeout: 10_000 });
    await page.click(`.gallery-item[data-job="${queued!.id}"] [data-action=cancel]`);
    await page.waitForFunction((id) => document.querySelector(`.gallery-item[data-job="${id}"] .badge`)?.textContent === 'Cancelled', queued!.id, { timeout: 10_000 });
    const byId = new Map((await listJobs()).map((j) => [j.id, j.status]));
    expect(byId.get(running!.id)).toBe('cancelled');
    expect(byId.get(queued!.id)).toBe('cancelled');
    expect(await page.$$('.queue-item')).toHaveLength(0);
  });

  it('deletes a finished job from the gallery after a confirming second click', async () => {
    const [victim] = (await listJobs()).filter((j) => j.status === 'cancelled');
    const btn = `.gallery-item[data-job="${victim!.id}"] [data-action=delete]`;
    await page.click(btn);
    expect(await page.textContent(btn)).toBe('Delete?');
    expect((await listJobs()).some((j) => j.id === victim!.id)).toBe(true);
    await page.click(btn);
    await page.waitForSelector(`.gallery-item[data-job="${victim!.id}"]`, { state: 'detached', timeout: 10_000 });
    expect((await listJobs()).some((j) => j.id === victim!.id)).toBe(false);
    // Active jobs offer Cancel, not Delete.
    expect(await page.$$('.gallery-item [data-action=delete]')).toHaveLength((await listJobs()).filter((j) => !['queued', 'running'].includes(j.status)).length);
  });

  it('asks for the token again on 401 and retries with the new one', async () => {
    await page.evaluate(() => localStorage.setItem('parallax.token', 'wrong-token-wrong-token'));
    await page.click('[data-preset=preview]');
    await page.fill('#f-steps', '4');
    await setPrompt('after a wrong token');
    await page.click('#generate');
    await page.waitForSelector('#token-dialog');
    expect(await page.textContent('#token-dialog .reason')).toMatch(/rejected the token \(401/);
    await page.screenshot({ path: join(SHOTS, 'client-token.png') });
    await page.fill('#token-input', TEST_TOKEN);
    await page.click('#token-save');
    await waitFor(async () => (await listJobs()).find((j) => j.request.prompt === 'after a wrong token'), 'the job submitted after the new token');
    expect(await page.evaluate(() => localStorage.getItem('parallax.token'))).toBe(TEST_TOKEN);
  });

  it('reconnects the WebSocket and refetches the queue', async () => {
    const states: string[] = [];
    await page.exposeFunction('__recordState', (s: string) => states.push(s));
    await page.evaluate(() => {
      const feed = window.__parallaxApp!.feed!;
      feed.onState((s) => void (window as unknown as { __recordState(s: string): void }).__recordState(s));
      (feed as unknown as { socket: WebSocket }).socket.close();
    });
    // a job submitted while the socket is down must still show up (list refetched on reconnect)
    const r = await ts.submit({ prompt: 'submitted while offline', width: 256, height: 144, frames: 4, steps: 3 });
    expect(r.status).toBe(201);
    await page.waitForFunction(() => window.__parallaxApp!.connection === 'open', undefined, { timeout: 10_000 });
    expect(states).toContain('reconnecting');
    expect(states.at(-1)).toBe('open');
    await page.waitForSelector(`.gallery-item[data-job="${r.body.id}"]`, { timeout: 10_000 });
  });

  it('runs the in-browser preview on WebGPU in a worker and plays its frames', async () => {
    await page.waitForFunction(() => /WebGPU ready|not available/.test(document.querySelector('#local-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
    expect(await page.textContent('#local-status')).toMatch(/WebGPU ready: .* shader-f16 (yes|no)/);
    expect(await page.textContent('#gpu-pill')).toMatch(/WebGPU ✓/);
    await page.click('[data-preset=preview]');
    await page.fill('#f-seed', '99');
    await setPrompt('A lighthouse in a storm');
    await page.click('#preview-local');
    await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector<HTMLElement>('#local')?.dataset.state ?? ''), undefined, { timeout: 60_000 });
    expect(await page.textContent('#local-stats'), logs.join('\n')).toMatch(/^Done: 8 frames/);
    expect(await page.getAttribute('#local', 'data-frames')).toBe('8');
    // the canvas shows a picture, not a blank: several distinct colours
    const colours = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('#local-canvas')!;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const set = new Set<number>();
      for (let i = 0; i < d.length; i += 4 * 97) set.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
      return set.size;
    });
    expect(colours).toBeGreaterThan(20);
    await page.screenshot({ path: join(SHOTS, 'client-local-preview.png'), fullPage: true });
  });

  it('says so and keeps to the server when the browser has no WebGPU', async () => {
    const p2 = await browser.newPage();
    await p2.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    await p2.goto(ts.server.url);
    await p2.waitForFunction(() => window.__parallaxApp?.ready === true);
    expect(await p2.textContent('#local-status')).toMatch(/WebGPU is not available in this browser \(navigator.gpu is missing\): videos are generated on the server only/);
    expect(await p2.textContent('#gpu-pill')).toMatch(/WebGPU ✗/);
    await p2.fill('#f-prompt', 'no gpu here');
    await p2.click('#preview-local');
    expect(await p2.textContent('#local-status')).toMatch(/use Generate to run on the server/);
    await p2.close();
  });
});

describe('web app on a server whose model makes at most 256x256, with many jobs', () => {
  let ts2: TestServer;
  let p2: Page;
  beforeAll(async () => {
    ts2 = await startTestServer({ staticDir: outDir, fake: { msPerStep: 20, limits: { maxWidth: 256, maxHeight: 256 }, shouldFail: (r) => r.prompt.includes('FAIL') } });
    // 57 finished jobs straight into the store: more than one page of the gallery (50).
    const store = ts2.server.store;
    const req = { prompt: 'old job', negative_prompt: '', frames: 1, width: 64, height: 64, steps: 1, guidance: 7.5, guidance_mode: 'reference' as const, seed: 1, fps: 8 };
    for (let i = 0; i < 57; i++) {
      const id = crypto.randomUUID();
      store.insert(id, { ...req, prompt: `old job ${i}` }, 'ip:test', Date.now() - 100_000 + i);
      store.finish(id, 'cancelled', Date.now());
    }
    p2 = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    p2.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    await p2.goto(`${ts2.server.url}/#token=${TEST_TOKEN}`);
    await p2.waitForFunction(() => window.__parallaxApp?.ready === true, undefined, { timeout: 20_000 });
  }, 60_000);
  afterAll(async () => {
    await p2?.close();
    await ts2?.close();
  });

  it('uses the model limits: fitted defaults, presets beyond them disabled, inline message for 320', async () => {
    expect(await p2.inputValue('#f-width')).toBe('256');
    expect(await p2.inputValue('#f-height')).toBe('144');
    expect(await p2.isDisabled('[data-preset=default]')).toBe(true);
    expect(await p2.isDisabled('[data-preset=draft]')).toBe(true);
    expect(await p2.isDisabled('[data-preset=preview]')).toBe(false);
    await p2.fill('#f-prompt', 'too wide');
    await p2.fill('#f-width', '320');
    await p2.click('#generate');
    expect(await p2.textContent('#err-width')).toBe('Width must be <= 256');
  });

  it('shows a failed job next to the Generate button', async () => {
    await p2.fill('#f-width', '64');
    await p2.fill('#f-height', '64');
    await p2.fill('#f-steps', '4');
    await p2.fill('#f-frames', '1');
    await p2.fill('#f-prompt', 'please FAIL');
    await p2.click('#generate');
    await p2.waitForFunction(() => /The job failed: .*simulated failure/.test(document.querySelector('#form-banner')?.textContent ?? ''), undefined, { timeout: 15_000 });
    expect(await p2.isVisible('#form-banner')).toBe(true);
  });

  it('pages the gallery: the newest 50, then older jobs on demand', async () => {
    expect(await p2.$$('.gallery-item')).toHaveLength(51); // 50 of the first page + the failed job
    await p2.click('#gallery-more');
    await p2.waitForFunction(() => document.querySelectorAll('.gallery-item').length === 58, undefined, { timeout: 10_000 });
    expect(await p2.isHidden('#gallery-more')).toBe(true);
    expect(await p2.textContent('.gallery-item:last-child .prompt')).toBe('old job 0');
    expect(await p2.textContent('.gallery-item .meta')).toMatch(/1 frame @/);
  });
});

describe('web app on a server whose model has a card (the trained default model)', () => {
  // Written by hand, so the expected labels and values do not come from the code under test.
  const card = {
    format: 'parallax-model-card/1', name: 'Parallax shapes', description: 'test card', promptTemplate: 'a {colour} {shape} moving {direction} on a {background} background',
    vocabulary: { colour: ['red', 'blue'], shape: ['circle', 'square'], direction: ['left', 'up'], background: ['black'] },
    recommended: { width: 64, height: 64, frames: 8, steps: 24, guidance: 4, guidanceMode: 'constant', fps: 6 },
    examples: ['a red circle moving left on a black background', 'a blue square moving up on a black background'],
  } as const;
  let ts3: TestServer;
  let p3: Page;
  let modelDir: string;
  beforeAll(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'parallax-client-card-'));
    await writeFile(join(modelDir, 'model_index.json'), '{"_class_name":"VchitectXLPipeline"}');
    ts3 = await startTestServer({ staticDir: outDir, modelDir, modelCard: parseModelCard(card, 'test'), fake: { msPerStep: 5, limits: { maxWidth: 256, maxHeight: 256 } } });
    p3 = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    p3.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    await p3.goto(`${ts3.server.url}/#token=${TEST_TOKEN}`);
    await p3.waitForFunction(() => window.__parallaxApp?.ready === true, undefined, { timeout: 20_000 });
  }, 60_000);
  afterAll(async () => {
    await p3?.close();
    await ts3?.close();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  it('offers the card\'s settings as the first, active preset and its example prompts; a click fills the prompt; a job gets the card\'s values', async () => {
    expect(await p3.textContent('#server-info')).toContain('model: Parallax shapes');
    expect(await p3.getAttribute('.preset:first-child', 'data-preset')).toBe('model');
    expect(await p3.textContent('[data-preset=model] .preset-name')).toBe('Shapes 64×64 · 8 frames');
    expect(await p3.getAttribute('[data-preset=model]', 'class')).toContain('active');
    expect(await p3.isDisabled('[data-preset=default]')).toBe(true);
    expect(await p3.inputValue('#f-width')).toBe('64');
    expect(await p3.inputValue('#f-guidance')).toBe('4');
    expect(await p3.getAttribute('#f-prompt', 'placeholder')).toBe(card.examples[0]);
    expect(await p3.$$eval('.example', (els) => els.map((e) => e.textContent))).toEqual([...card.examples]);
    // another preset, then the model's again: guidance, fps and the guidance mode come back too
    await p3.click('[data-preset=preview]');
    await p3.fill('#f-guidance', '9');
    expect(await p3.getAttribute('[data-preset=model]', 'class')).not.toContain('active');
    await p3.selectOption('#f-guidance_mode', 'reference');
    await p3.click('[data-preset=model]');
    expect(await p3.inputValue('#f-steps')).toBe('24');
    expect(await p3.inputValue('#f-fps')).toBe('6');
    expect(await p3.inputValue('#f-guidance_mode')).toBe('constant');
    await p3.click('.example:nth-of-type(2)');
    expect(await p3.inputValue('#f-prompt')).toBe(card.examples[1]);
    expect(await p3.textContent('#local-note')).toContain('Runs Parallax shapes in a Web Worker');
    await p3.click('#generate');
    const job = await waitFor(async () => ((await (await ts3.api('/api/jobs')).json()) as { jobs: JobLite[] }).jobs[0], 'the submitted job');
    expect(job.request).toMatchObject({ prompt: card.examples[1], width: 64, height: 64, frames: 8, steps: 24, guidance: 4, guidance_mode: 'constant', fps: 6 });
    await p3.screenshot({ path: join(SHOTS, 'client-model-card.png') });
  });
});
