// A Parallax GPU device: one WebGPU device with its capabilities, buffer pool, pipeline cache, batched command
// encoding (many dispatches per submit), a per-batch uniform arena, typed errors and optional per-op GPU timing.

import { capabilitiesOf, describeAdapter, negotiate, type AdapterDescription, type Capabilities, type FeatureRequest } from './capabilities.js';
import { DeviceLostError, GPUOutOfMemoryError, GPUValidationError, LimitExceededError, NoAdapterError } from './errors.js';
import { getGPU, type PlatformOptions } from './platform.js';
import { BufferPool } from './pool.js';
import { hostSpan } from './host-spans.js';
import { loadShaderSources, shaderSource, shouldPrintShaders, specialize, type Defines } from './shader-source.js';

export interface DeviceOptions extends FeatureRequest, PlatformOptions {
  /** Label used in errors and logs (e.g. 'rank0'). */
  label?: string;
  /**
   * Time every dispatch: `true` or 'gpu' with timestamp queries when the adapter has them (else host timing),
   * 'host' with one submit per dispatch timed by its completion on the host (coarser; any adapter).
   */
  profile?: boolean | 'gpu' | 'host';
  powerPreference?: GPUPowerPreference;
  /** Dispatches recorded before an automatic submit. */
  maxDispatchesPerSubmit?: number;
  /** Use an existing GPU object (e.g. navigator.gpu) instead of creating one. */
  gpu?: GPU;
  /** Node: pick the adapter at this index of listAdapters() (refused when its name is ambiguous). */
  adapterIndex?: number;
}

/** A uniform field: the params struct of every kernel holds 4-byte scalars only, in declaration order. */
export type ParamField = { u32: number } | { i32: number } | { f32: number };
export const u32 = (v: number): ParamField => ({ u32: v });
export const i32 = (v: number): ParamField => ({ i32: v });
export const f32 = (v: number): ParamField => ({ f32: v });

/** A buffer binding: anything holding a GPUBuffer (tensors do), with an optional byte range. */
export interface Bindable {
  readonly buffer: GPUBuffer;
  readonly byteLength: number;
  readonly byteOffset?: number;
  readonly shape?: readonly number[];
  readonly dtype?: string;
}

export interface DispatchSpec {
  /** Op name for errors and profiles, e.g. 'matmul'. */
  op: string;
  /** Kernel file stem in shaders/, e.g. 'matmul'. */
  kernel: string;
  entry?: string;
  defines?: Defines;
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
  params?: ParamField[];
  /** Storage bindings in order: binding 1..n (binding 0 is the params uniform when params are given). */
  bindings: Bindable[];
  workgroups: [number, number?, number?];
  /** Floating-point operations of this dispatch (profiles report GFLOP/s from it). */
  flops?: number;
  /** Bytes it moves (default: the sum of its bound byte ranges, an upper bound for ops that read part of one). */
  bytes?: number;
}

/** How a profile's per-dispatch times were measured. */
export type ProfileTiming = 'gpu-timestamps' | 'host-completion';

export interface ProfileEntry {
  op: string;
  label: string;
  /** Duration of the dispatch. */
  ms: number;
  /** Start on the host's performance.now() timeline (GPU timestamps are aligned to their batch's submit). */
  startMs: number;
  flops?: number;
  bytes: number;
  timing: ProfileTiming;
}

interface PendingDispatch {
  op: string;
  label: string;
  flops?: number;
  bytes: number;
}

const UNIFORM_ARENA_BYTES = 64 * 1024;

export class Device {
  readonly pool: BufferPool;
  readonly caps: Capabilities;
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private uniformCpu = new Uint8Array(UNIFORM_ARENA_BYTES);
  private uniformView = new DataView(this.uniformCpu.buffer);
  private uniformGpu: GPUBuffer | null = null;
  private uniformUsed = 0;
  private pendingErrors: Promise<Error | null>[] = [];
  private lostReason: string | null = null;
  private profiling = false;
  private hostTiming = false;
  private querySet: GPUQuerySet | null = null;
  private queryLabels: PendingDispatch[] = [];
  private pendingProfiles: Promise<ProfileEntry[]>[] = [];
  /** GPU-clock ms minus host ms: the smallest (first timestamp - submit time) of any batch, since no dispatch starts before its batch is submitted. */
  private gpuClockOffset = Infinity;
  /** Total dispatches, buffer copies and submits since creation. */
  readonly counters = { dispatches: 0, copies: 0, submits: 0, pipelinesCompiled: 0 };
  readonly maxDispatchesPerSubmit: number;

  private constructor(
    /** The GPU object (Dawn instance) must stay referenced: Dawn tears the instance down when it is collected. */
    readonly instance: GPU,
    readonly gpu: GPUDevice,
    readonly adapter: AdapterDescription,
    readonly label: string,
    opts: DeviceOptions,
  ) {
    this.pool = new BufferPool(gpu);
    this.caps = capabilitiesOf(gpu);
    this.maxDispatchesPerSubmit = opts.maxDispatchesPerSubmit ?? 256;
    this.profiling = (opts.profile === true || opts.profile === 'gpu') && this.caps.timestampQuery;
    this.hostTiming = !!opts.profile && !this.profiling;
    gpu.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
    gpu.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(Promise.resolve(new GPUValidationError('(outside an op)', e.message)));
    });
  }

  /** Opens a device. Each call takes a fresh adapter: Dawn gives one device per adapter. */
  static async create(opts: DeviceOptions = {}): Promise<Device> {
    await loadShaderSources();
    if (opts.adapterIndex !== undefined && !opts.gpu) {
      const { listAdapters, adapterFilterForIndex } = await import('./adapters.js');
      opts = { ...opts, adapterName: adapterFilterForIndex(await listAdapters(), opts.adapterIndex) };
    }
    const gpu = opts.gpu ?? (await getGPU(opts));
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
    if (!adapter) throw new NoAdapterError(noAdapterHelp());
    const desc = describeAdapter(adapter);
    const { requiredFeatures, requiredLimits } = negotiate(adapter, opts);
    const gdev = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: opts.label });
    return new Device(gpu, gdev, desc, opts.label ?? 'gpu', opts);
  }

  /** Opens n devices (on one physical adapter they stand in for n GPUs). */
  static async createMany(n: number, opts: DeviceOptions = {}): Promise<Device[]> {
    const out: Device[] = [];
    for (let i = 0; i < n; i++) out.push(await Device.create({ ...opts, label: `${opts.label ?? 'gpu'}${i}` }));
    return out;
  }

  get f16(): boolean {
    return this.caps.f16;
  }

  // ---------------------------------------------------------------- pipelines

  pipeline(kernel: string, entry = 'main', defines: Defines = {}, constants: Record<string, number> = {}): GPUComputePipeline {
    const key = `${kernel}|${entry}|${stableKey(defines)}|${stableKey(constants)}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    const code = specialize(kernel, shaderSource(kernel), defines);
    const label = `${kernel}:${entry}[${stableKey(defines)}]`;
    if (shouldPrintShaders()) console.error(`// ===== ${label}\n${code}`);
    const module = this.gpu.createShaderModule({ code, label });
    p = this.gpu.createComputePipeline({ layout: 'auto', label, compute: { module, entryPoint: entry, constants } });
    this.pipelines.set(key, p);
    this.counters.pipelinesCompiled++;
    return p;
  }

  // ---------------------------------------------------------------- dispatch

  /** Records one dispatch. Submits automatically every maxDispatchesPerSubmit dispatches. */
  dispatch(spec: DispatchSpec): void {
    this.checkLost(spec.op);
    const maxBinding = this.caps.maxStorageBufferBindingSize;
    for (const b of spec.bindings) {
      if (b.byteLength > maxBinding) {
        throw new LimitExceededError(spec.op, 'maxStorageBufferBindingSize', b.byteLength, maxBinding,
          `A tensor of shape [${b.shape?.join(', ') ?? '?'}] is too large to bind at once; run the op in chunks (fewer frames per call) or use f16.`);
      }
    }
    const maxWg = this.caps.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = spec.workgroups;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new LimitExceededError(spec.op, 'maxComputeWorkgroupsPerDimension', Math.max(x, y, z), maxWg, 'The op must fold its grid (see grid2D in engine/gpu/grid.ts).');
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pipeline = this.pipeline(spec.kernel, spec.entry ?? 'main', spec.defines ?? {}, spec.constants ?? {});
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (spec.params && spec.params.length) {
      const { buffer, offset, size } = this.writeUniforms(spec.params);
      entries.push({ binding: binding++, resource: { buffer, offset, size } });
    }
    for (const b of spec.bindings) {
      const size = Math.ceil(b.byteLength / 4) * 4;
      entries.push({ binding: binding++, resource: { buffer: b.buffer, offset: b.byteOffset ?? 0, size } });
    }
    const label = `${spec.op} ${describeBindings(spec.bindings)}`;
    this.gpu.pushErrorScope('out-of-memory');
    this.gpu.pushErrorScope('validation');
    const bindGroup = this.gpu.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label });
    const bytes = spec.bytes ?? spec.bindings.reduce((a, b) => a + b.byteLength, 0);
    const pass = this.computePass({ op: spec.op, label, flops: spec.flops, bytes });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiling) this.endPass();
    this.watchScopes(spec.op, label);
    this.dispatches++;
    this.counters.dispatches++;
    if (this.hostTiming) this.timeOnHost({ op: spec.op, label, flops: spec.flops, bytes });
    else if (this.dispatches >= this.maxDispatchesPerSubmit) this.flush();
  }

  /**
   * Records a buffer-to-buffer copy (byte offsets and size multiples of 4, two different buffers) in the current
   * batch, in order with the dispatches around it. On CPU adapters a copy costs a few microseconds where a dispatch
   * costs tens, so layout ops whose copy is one contiguous range use this.
   */
  copyBuffer(src: GPUBuffer, srcByte: number, dst: GPUBuffer, dstByte: number, bytes: number): void {
    this.checkLost('copy');
    if (src === dst || srcByte % 4 || dstByte % 4 || bytes % 4) throw new Error(`copyBuffer: needs two buffers and 4-byte aligned offsets and size, got ${srcByte} -> ${dstByte}, ${bytes} bytes${src === dst ? ' within one buffer' : ''}`);
    if (!bytes) return;
    this.commandEncoder().copyBufferToBuffer(src, srcByte, dst, dstByte, bytes);
    this.counters.copies++;
  }

  /** Host-timed profiling: submits the dispatch alone and times it from the previous completion (or its submit). */
  private timeOnHost(d: PendingDispatch): void {
    this.flush();
    const submitted = performance.now();
    const prev = this.pendingProfiles[this.pendingProfiles.length - 1];
    this.pendingProfiles.push(
      (async () => {
        await this.gpu.queue.onSubmittedWorkDone();
        const end = performance.now();
        const before = prev ? await prev : [];
        const last = before[before.length - 1];
        const start = Math.max(submitted, last ? last.startMs + last.ms : submitted);
        return [{ ...d, ms: Math.max(0, end - start), startMs: start, timing: 'host-completion' as const }];
      })(),
    );
  }

  private computePass(d: PendingDispatch): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const enc = this.commandEncoder();
    if (this.profiling) {
      if (!this.querySet) this.querySet = this.gpu.createQuerySet({ type: 'timestamp', count: 2 * this.maxDispatchesPerSubmit });
      const i = this.queryLabels.length;
      this.queryLabels.push(d);
      this.pass = enc.beginComputePass({ label: d.label, timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    } else {
      this.pass = enc.beginComputePass({ label: 'parallax batch' });
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** The current command encoder (ends the open compute pass so copies can be recorded). */
  commandEncoder(): GPUCommandEncoder {
    if (this.pass) this.endPass();
    if (!this.encoder) this.encoder = this.gpu.createCommandEncoder({ label: `${this.label} batch` });
    return this.encoder;
  }

  private writeUniforms(params: ParamField[]): { buffer: GPUBuffer; offset: number; size: number } {
    const size = Math.max(16, Math.ceil((params.length * 4) / 16) * 16);
    const align = this.caps.minUniformBufferOffsetAlignment;
    let offset = Math.ceil(this.uniformUsed / align) * align;
    if (offset + size > UNIFORM_ARENA_BYTES) {
      this.flush();
      offset = 0;
    }
    if (!this.uniformGpu) {
      this.uniformGpu = this.gpu.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform arena' });
    }
    params.forEach((p, i) => {
      const o = offset + 4 * i;
      if ('u32' in p) this.uniformView.setUint32(o, p.u32 >>> 0, true);
      else if ('i32' in p) this.uniformView.setInt32(o, p.i32 | 0, true);
      else this.uniformView.setFloat32(o, p.f32, true);
    });
    this.uniformUsed = offset + size;
    return { buffer: this.uniformGpu, offset, size };
  }

  private watchScopes(op: string, label: string): void {
    const validation = this.gpu.popErrorScope();
    const oom = this.gpu.popErrorScope();
    this.pendingErrors.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        if (v) return new GPUValidationError(label, v.message);
        if (o) return new GPUOutOfMemoryError(op, `${label}: ${o.message}`, this.pool.stats);
        return null;
      }),
    );
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder && !this.pass) return;
    const enc = this.commandEncoder();
    if (this.profiling && this.querySet && this.queryLabels.length) this.resolveProfile(enc);
    if (this.uniformGpu && this.uniformUsed > 0) {
      this.gpu.queue.writeBuffer(this.uniformGpu, 0, this.uniformCpu, 0, Math.ceil(this.uniformUsed / 4) * 4);
    }
    this.gpu.queue.submit([enc.finish()]);
    this.counters.submits++;
    this.encoder = null;
    // The arena is referenced by submitted work: give the next batch a fresh one (destroy waits for the GPU).
    if (this.uniformGpu && this.uniformUsed > 0) {
      this.uniformGpu.destroy();
      this.uniformGpu = null;
    }
    this.uniformUsed = 0;
    this.dispatches = 0;
  }

  private resolveProfile(enc: GPUCommandEncoder): void {
    const n = this.queryLabels.length;
    const labels = this.queryLabels;
    this.queryLabels = [];
    const resolve = this.gpu.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = this.gpu.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(this.querySet!, 0, 2 * n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
    const submitted = performance.now(); // flush() submits right after this
    // The query set is reused by the next batch only after this one is submitted: queue order keeps them apart.
    this.pendingProfiles.push(
      (async () => {
        await this.gpu.queue.onSubmittedWorkDone();
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange().slice(0));
        read.destroy();
        resolve.destroy();
        const first = Number(t[0]!) / 1e6;
        this.gpuClockOffset = Math.min(this.gpuClockOffset, first - submitted);
        return labels.map((l, i) => {
          const begin = t[2 * i]!;
          const end = t[2 * i + 1]!;
          return { ...l, ms: end > begin ? Number(end - begin) / 1e6 : 0, startMs: Number(begin) / 1e6, timing: 'gpu-timestamps' as const };
        });
      })(),
    );
  }

  /** Waits for all submitted work and raises the first GPU error of any op since the last sync. */
  async sync(): Promise<void> {
    this.flush();
    const end = hostSpan(`${this.label} sync`, 'wait');
    await this.gpu.queue.onSubmittedWorkDone();
    end();
    await this.raiseErrors();
  }

  private async raiseErrors(): Promise<void> {
    if (!this.pendingErrors.length) return;
    const errs = await Promise.all(this.pendingErrors.splice(0));
    const first = errs.find((e) => e);
    if (first) throw first;
    this.checkLost('sync');
  }

  /**
   * Per-dispatch times recorded since the last call (needs DeviceOptions.profile), in submission order, with
   * GPU timestamps moved onto the host timeline.
   */
  async takeProfile(): Promise<ProfileEntry[]> {
    this.flush();
    const all = (await Promise.all(this.pendingProfiles.splice(0))).flat();
    const off = this.gpuClockOffset;
    return all.map((e) => (e.timing === 'gpu-timestamps' && Number.isFinite(off) ? { ...e, startMs: e.startMs - off } : e));
  }

  /** True when dispatches are timed with GPU timestamp queries. */
  get profilingEnabled(): boolean {
    return this.profiling;
  }

  /** How this device times dispatches, or null when it does not profile. */
  get profileTiming(): ProfileTiming | null {
    return this.profiling ? 'gpu-timestamps' : this.hostTiming ? 'host-completion' : null;
  }

  // ---------------------------------------------------------------- buffers

  /** Writes bytes into a buffer, after submitting recorded work so the write cannot overtake it. */
  writeBuffer(buffer: GPUBuffer, byteOffset: number, data: ArrayBufferView): void {
    this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const n = bytes.byteLength & ~3;
    if (n) this.gpu.queue.writeBuffer(buffer, byteOffset, bytes, 0, n);
    if (n < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(n));
      this.gpu.queue.writeBuffer(buffer, byteOffset + n, tail);
    }
  }

  /** Copies a byte range of a buffer to the host. */
  async readBuffer(buffer: GPUBuffer, byteOffset: number, byteLength: number, op = 'read'): Promise<ArrayBuffer> {
    this.checkLost(op);
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.gpu.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    if (size) this.commandEncoder().copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.flush();
    const end = hostSpan(`${this.label} ${op} ${byteLength} B`, 'wait');
    await staging.mapAsync(GPUMapMode.READ);
    end();
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.destroy();
    await this.raiseErrors();
    return out;
  }

  /** Fills a buffer range with a 32-bit pattern on the GPU queue (used to poison outputs in tests). */
  fillBuffer(buffer: GPUBuffer, byteOffset: number, byteLength: number, pattern32: number): void {
    const words = new Uint32Array(Math.ceil(byteLength / 4)).fill(pattern32 >>> 0);
    this.writeBuffer(buffer, byteOffset, words);
  }

  private checkLost(op: string): void {
    if (this.lostReason) throw new DeviceLostError(`Device ${this.label} was lost (${this.lostReason}); ${op} cannot run. Restart the process.`);
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.querySet?.destroy();
    this.gpu.destroy();
  }
}

function stableKey(o: Record<string, unknown>): string {
  return Object.keys(o)
    .sort()
    .map((k) => `${k}=${String(o[k])}`)
    .join(',');
}

function describeBindings(bs: Bindable[]): string {
  return bs.map((b) => (b.shape ? `${b.dtype ?? ''}[${b.shape.join('x')}]` : `${b.byteLength}B`)).join(' ');
}

export function noAdapterHelp(): string {
  const linux = typeof process !== 'undefined' && process.platform === 'linux';
  return linux
    ? 'No WebGPU adapter found. Run `npm run setup` (as root on Debian/Ubuntu it installs Mesa lavapipe 25.x, a CPU Vulkan driver, or tells you why the installed driver is not found; elsewhere it prints the command). With an NVIDIA GPU, install libvulkan1 and the driver\'s Vulkan ICD.'
    : 'No WebGPU adapter found. Install a Vulkan, Metal or D3D12 capable driver for your GPU.';
}
