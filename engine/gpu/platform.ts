// Finds the WebGPU entry point: `navigator.gpu` in browsers and workers, Dawn (the `webgpu` package) in Node.
// Node-only imports are dynamic so this module bundles cleanly for the browser. In Node, loading Dawn installs the
// GPU wait throttle (dawn-wait.ts) once per thread, so every wait of every Dawn instance sleeps instead of spinning.

import { installDawnWaitThrottle } from './dawn-wait.js';

export interface PlatformOptions {
  /** Dawn toggles to enable (Node only), e.g. ['vulkan_enable_f16_on_nvidia', 'allow_unsafe_apis']. */
  toggles?: string[];
  /** Dawn backend (Node only): 'vulkan', 'metal', 'd3d12', 'opengl', 'null', ... */
  backend?: string;
  /** Dawn adapter name substring (Node only). */
  adapterName?: string;
}

/** Dawn toggles Parallax always asks for: f16 on NVIDIA Vulkan is hidden without the first. */
export const DEFAULT_DAWN_TOGGLES = ['vulkan_enable_f16_on_nvidia'];

export const isNode: boolean =
  typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node &&
  typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu === 'undefined';

let nodeGlobalsInstalled = false;

/** The `webgpu` module, with its classes as globals (as in browsers) and the wait throttle installed (Node only). */
export async function loadDawn(): Promise<typeof import('webgpu')> {
  const mod = await import('webgpu');
  if (!nodeGlobalsInstalled) {
    // GPUBufferUsage, GPUMapMode, ... as globals, as in browsers.
    Object.assign(globalThis, mod.globals);
    installDawnWaitThrottle(globalThis as unknown as { setImmediate: unknown }, mod.globals as Record<string, unknown>);
    nodeGlobalsInstalled = true;
  }
  return mod;
}

/** Returns a fresh GPU object. In Node each call creates a new Dawn instance with the given toggles. */
export async function getGPU(opts: PlatformOptions = {}): Promise<GPU> {
  if (!isNode) {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) throw new Error('WebGPU is not available in this browser (navigator.gpu is missing). Use a browser with WebGPU enabled, or the server.');
    return gpu;
  }
  const mod = await loadDawn();
  const toggles = [...new Set([...DEFAULT_DAWN_TOGGLES, ...(opts.toggles ?? [])])];
  const env = typeof process !== 'undefined' ? process.env.PARALLAX_DAWN_TOGGLES : undefined;
  if (env) toggles.push(...env.split(',').map((s) => s.trim()).filter(Boolean));
  const options = [`enable-dawn-features=${toggles.join(',')}`];
  if (opts.backend) options.push(`backend=${opts.backend}`);
  if (opts.adapterName) options.push(`adapter=${opts.adapterName}`);
  return mod.create(options) as unknown as GPU;
}
