// The automatic choice of row-kernel variants: explicit names and PARALLAX_KERNEL_<OP> win, CPU adapters get the
// fewest threads per row (subgroup first), GPUs the widest variant that leaves ~4 loads per thread.

import { afterEach, describe, expect, it } from 'vitest';
import '../../../engine/ops/norm.js';
import { isCpuAdapter, pickRowVariant, subgroupFits } from '../../../engine/ops/row-variants.js';
import { variants } from '../../../engine/ops/registry.js';
import { testDevice } from '../../helpers/gpu.js';

const device = await testDevice();

describe('pickRowVariant', () => {
  afterEach(() => {
    delete process.env.PARALLAX_KERNEL_LAYERNORM;
  });

  it('registers row, multirow, narrow and (when subgroups fit) subgroup variants', () => {
    const names = variants('layernorm').map((v) => v.name).sort();
    expect(names).toEqual(['layernorm_multirow', 'layernorm_narrow', 'layernorm_row', 'layernorm_subgroup']);
    expect(variants('layernorm', device).some((v) => v.name === 'layernorm_subgroup')).toBe(subgroupFits(device, 8));
  });

  it('honours explicit names and the environment', () => {
    expect(pickRowVariant('layernorm', device, 384, 'layernorm_row').name).toBe('layernorm_row');
    process.env.PARALLAX_KERNEL_LAYERNORM = 'layernorm_multirow';
    expect(pickRowVariant('layernorm', device, 384).name).toBe('layernorm_multirow');
  });

  it('picks by adapter kind and row width', () => {
    const auto = pickRowVariant('layernorm', device, 384);
    if (isCpuAdapter(device)) {
      expect(auto.name).toBe(subgroupFits(device, 8) ? 'layernorm_subgroup' : 'layernorm_narrow');
    } else {
      expect(auto.name).toBe('layernorm_multirow');
      expect(pickRowVariant('layernorm', device, 1024).name).toBe('layernorm_row');
    }
  });
});
