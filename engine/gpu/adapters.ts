// Enumerates the adapters Dawn sees (Node only) and maps an adapter index to Dawn's `adapter=` name filter.
// Dawn's Node binding has no index option: it takes the FIRST adapter whose device name contains the filter, and
// it lists every adapter in the error it raises when nothing matches, which is how this module enumerates them.
// Identical GPUs (8 x H100) share one name, so an index among them cannot be selected this way: see
// docs/gpu-binding.md for the per-process isolation that works there.

import { isNode, loadDawn } from './platform.js';

export interface AdapterEntry {
  index: number;
  backend: string;
  name: string;
}

const NO_MATCH = '__parallax_enumerate_adapters__';

export async function listAdapters(): Promise<AdapterEntry[]> {
  if (!isNode) throw new Error('listAdapters() needs Dawn (Node); in a browser navigator.gpu offers one adapter per request.');
  const { create } = await loadDawn();
  const gpu = create([`adapter=${NO_MATCH}`]);
  try {
    const a = await gpu.requestAdapter();
    if (a) throw new Error('Dawn matched an impossible adapter name; cannot enumerate adapters');
    return [];
  } catch (err) {
    return parseAdapterList(String((err as Error).message ?? err));
  }
}

/** Parses Dawn's "Available adapters:\n * backend: 'vulkan', name: '...'" listing. */
export function parseAdapterList(message: string): AdapterEntry[] {
  const out: AdapterEntry[] = [];
  for (const m of message.matchAll(/\*\s*backend:\s*'([^']*)',\s*name:\s*'([^']*)'/g)) {
    out.push({ index: out.length, backend: m[1]!, name: m[2]! });
  }
  return out;
}

/** The `adapter=` filter that selects adapter `index`, or an error naming why it cannot be selected. */
export function adapterFilterForIndex(list: AdapterEntry[], index: number): string {
  const a = list[index];
  if (!a) throw new Error(`adapter index ${index} does not exist: Dawn sees ${list.length} adapter(s): ${list.map((x) => `${x.index}: ${x.name} (${x.backend})`).join('; ') || 'none'}`);
  const same = list.filter((x) => x.name.includes(a.name) || a.name.includes(x.name));
  if (same.length > 1) {
    throw new Error(`adapter ${index} (${a.name}) cannot be selected by index: ${same.length} adapters share its name and Dawn takes the first match. ` +
      'Give each process one GPU instead (isolation by the container runtime or launcher); see docs/gpu-binding.md.');
  }
  return a.name;
}
