// Launches Debian's headless Chromium with WebGPU on SwiftShader through playwright-core (no browser download).

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(): string | undefined {
  return process.env.PARALLAX_CHROMIUM ?? CHROMIUM_PATHS.find((p) => existsSync(p));
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('Chromium not found: run `node scripts/setup.mjs --browser` as root (installs Debian\'s chromium), or set PARALLAX_CHROMIUM.');
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}
