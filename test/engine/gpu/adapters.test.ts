// Adapter enumeration through Dawn's listing, and index selection that refuses ambiguous names.

import { describe, expect, it } from 'vitest';
import { adapterFilterForIndex, listAdapters, parseAdapterList } from '../../../engine/gpu/adapters.js';
import { Device } from '../../../engine/gpu/device.js';

describe('adapters', () => {
  it('parses Dawn\'s listing', () => {
    const msg = "no suitable backends found\nAvailable adapters:\n * backend: 'vulkan', name: 'NVIDIA H100 80GB HBM3'\n * backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)'";
    expect(parseAdapterList(msg)).toEqual([
      { index: 0, backend: 'vulkan', name: 'NVIDIA H100 80GB HBM3' },
      { index: 1, backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
    ]);
  });

  it('maps an index to a name filter and refuses identical GPUs and bad indices', () => {
    const two = parseAdapterList(" * backend: 'vulkan', name: 'GPU A'\n * backend: 'vulkan', name: 'GPU B'");
    expect(adapterFilterForIndex(two, 1)).toBe('GPU B');
    expect(() => adapterFilterForIndex(two, 2)).toThrow(/index 2 does not exist.*2 adapter/);
    const twins = parseAdapterList(" * backend: 'vulkan', name: 'NVIDIA H100'\n * backend: 'vulkan', name: 'NVIDIA H100'");
    expect(() => adapterFilterForIndex(twins, 1)).toThrow(/share its name/);
  });

  it('enumerates this machine\'s adapters and opens one by index', async () => {
    const list = await listAdapters();
    expect(list.length).toBeGreaterThan(0);
    const d = await Device.create({ adapterIndex: 0, label: 'by-index' });
    expect(d.adapter.description.length + d.adapter.vendor.length).toBeGreaterThan(0);
    d.destroy();
  });
});
