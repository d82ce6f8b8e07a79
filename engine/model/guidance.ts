// Classifier-free guidance on the device: v = v_u + g (v_c - v_u) (spec section 4), shared by the one-device GPU
// backend and the CFG-parallel transformer so that every layout combines the branches with the same kernels.
import { axpby, sub } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';

/** Returns a new tensor v_u + weight (v_c - v_u); the inputs are left alone. */
export function guideVelocity(cond: Tensor, uncond: Tensor, weight: number): Tensor {
  const diff = sub(cond, uncond);
  try {
    return axpby(uncond, diff, 1, weight);
  } finally {
    diff.dispose();
  }
}
