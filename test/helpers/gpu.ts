// The shared test device: one per test file, created lazily; f16 tests skip cleanly when the adapter lacks it.

import { Device } from '../../engine/gpu/device.js';
import { Tensor } from '../../engine/tensor.js';
import type { DType } from '../../engine/dtype.js';
import { roundToF16 } from '../../engine/dtype.js';

let shared: Promise<Device> | null = null;

export function testDevice(): Promise<Device> {
  shared ??= Device.create({ label: 'test' });
  return shared;
}

/** The dtypes to test on this device: always f32, f16 when the adapter has shader-f16. */
export async function testDTypes(): Promise<DType[]> {
  const d = await testDevice();
  return d.f16 ? ['f32', 'f16'] : ['f32'];
}

/** Uploads data and returns the tensor plus the values exactly as stored (f16-rounded) for the reference. */
export function upload(device: Device, data: Float64Array, shape: number[], dtype: DType): { t: Tensor; stored: Float64Array } {
  const t = Tensor.from(device, data, shape, dtype);
  const stored = dtype === 'f16' ? data.map(roundToF16) : Float64Array.from(data, (v) => Math.fround(v));
  return { t, stored };
}
