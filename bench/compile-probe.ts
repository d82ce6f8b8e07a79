// Probe: pipeline compile + first run time of norm variants on this adapter (development aid).
import { Device } from '../engine/gpu/device.js';
import { Tensor } from '../engine/tensor.js';
import { layerNorm } from '../engine/ops/norm.js';
const d = await Device.create();
for (const variant of ['layernorm_row', 'layernorm_multirow']) {
  for (const D of [3, 64]) {
    const x = Tensor.zeros(d, [4, D]);
    const t0 = performance.now();
    layerNorm(x, { eps: 1e-6, variant });
    await d.sync();
    console.log(variant, D, (performance.now() - t0).toFixed(0), 'ms');
  }
}
d.destroy();
