// Dispatch-grid helpers: fold a large 1-D workgroup count into 2-D so it fits maxComputeWorkgroupsPerDimension.
// Kernels recover the linear workgroup index as wid.x + wid.y * nwg.x and guard against overshoot.

export function grid2D(workgroups: number, maxPerDim = 65535): [number, number] {
  if (workgroups <= maxPerDim) return [Math.max(workgroups, 0), 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y];
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}
