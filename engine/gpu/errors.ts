// Typed errors of the GPU runtime. Each says which op (and shapes) failed and what to do about it.

export class ParallaxGPUError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No usable adapter: the message carries the command that fixes it. */
export class NoAdapterError extends ParallaxGPUError {}

/** WebGPU validation error raised while running an op. */
export class GPUValidationError extends ParallaxGPUError {
  constructor(readonly op: string, readonly detail: string) {
    super(`WebGPU validation error in ${op}: ${detail}`);
  }
}

/** The device ran out of memory while running an op or allocating a tensor. */
export class GPUOutOfMemoryError extends ParallaxGPUError {
  constructor(readonly op: string, readonly detail: string, stats?: { liveBytes: number; peakBytes: number }) {
    super(
      `GPU out of memory in ${op}: ${detail}` +
        (stats ? ` (live ${fmtBytes(stats.liveBytes)}, peak ${fmtBytes(stats.peakBytes)})` : '') +
        '. Reduce frames or resolution, use --dtype f16, or spread the work over more devices.',
    );
  }
}

/** A tensor or binding exceeds a device limit and the op cannot split it. */
export class LimitExceededError extends ParallaxGPUError {
  constructor(readonly op: string, readonly limit: string, readonly needed: number, readonly allowed: number, hint: string) {
    super(`${op} needs ${fmtBytes(needed)} but the device's ${limit} is ${fmtBytes(allowed)}. ${hint}`);
  }
}

/** Shapes or dtypes that do not fit an op. */
export class ShapeError extends ParallaxGPUError {}

/** The device was lost (driver reset, process teardown). */
export class DeviceLostError extends ParallaxGPUError {}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${u[i]}`;
}
