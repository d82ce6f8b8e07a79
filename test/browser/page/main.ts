// Browser side of the Chromium suite: registers the WGSL sources through Vite, opens a device on navigator.gpu,
// runs the portable checks and publishes the results on window.__parallax for the driver to read.

import { Device } from '../../../engine/gpu/device.js';
import { registerShaderSources } from '../../../engine/gpu/shader-source.js';
import { portableChecks, type CheckResult } from '../checks.js';
import { kernelChecks } from '../kernel-checks.js';

registerShaderSources(import.meta.glob('/shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

declare global {
  interface Window {
    __parallax?: { done: boolean; adapter?: string; expected?: number; results: CheckResult[]; error?: string };
  }
}

async function main(): Promise<void> {
  const state: NonNullable<Window['__parallax']> = { done: false, results: [] };
  window.__parallax = state;
  const list = document.getElementById('results')!;
  try {
    const device = await Device.create({ label: 'browser' });
    state.adapter = `${device.adapter.vendor} ${device.adapter.architecture} f16=${device.f16}`;
    document.getElementById('adapter')!.textContent = `adapter: ${state.adapter}`;
    const all = [...portableChecks, ...kernelChecks(device)];
    state.expected = all.length;
    for (const check of all) {
      let r: CheckResult;
      try {
        r = await check.run(device);
      } catch (err) {
        r = { name: check.name, ok: false, detail: String(err) };
      }
      state.results.push(r);
      const li = document.createElement('li');
      li.className = r.ok ? 'ok' : 'bad';
      li.textContent = `${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.detail}`;
      list.appendChild(li);
    }
  } catch (err) {
    state.error = err instanceof Error ? `${err.message}\n${err.stack}` : String(err);
    document.getElementById('adapter')!.textContent = `error: ${state.error}`;
  }
  state.done = true;
}

void main();
