// Runs the portable kernel checks in headless Chromium (WebGPU on SwiftShader, f32): the engine must stay
// browser-clean. Serves the page with Vite on 127.0.0.1 and saves a screenshot to test-artifacts/.

import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { portableChecks } from './checks.js';

let server: ViteDevServer;
let browser: Browser;

beforeAll(async () => {
  server = await createServer({
    root: new URL('../..', import.meta.url).pathname,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('engine in headless Chromium', () => {
  it('runs every portable kernel check on navigator.gpu', async () => {
    const url = `${server.resolvedUrls!.local[0]!.replace(/\/$/, '')}/test/browser/page/index.html`;
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.__parallax?.done === true, undefined, { timeout: 240_000 });
    const state = await page.evaluate(() => window.__parallax!);
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/browser-kernels.png', fullPage: true });
    expect(state.error, `browser error; console:\n${logs.join('\n')}`).toBeUndefined();
    expect(state.results.length).toBe(state.expected);
    expect(state.results.length).toBeGreaterThan(portableChecks.length + 8);
    const failed = state.results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
  }, 300_000);
});
