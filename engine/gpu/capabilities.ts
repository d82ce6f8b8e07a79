// The one place that negotiates WebGPU features and limits: what the adapter offers, what Parallax asks for,
// and the resulting capability record every op consults (f16, subgroups, timestamps, binding limits).

export interface Capabilities {
  f16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxUniformBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
  minUniformBufferOffsetAlignment: number;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  features: string[];
}

/** Limits Parallax raises to the adapter's maximum when it can. */
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface FeatureRequest {
  /** Ask for shader-f16 when offered (default true). */
  f16?: boolean;
  /** Ask for timestamp-query when offered (default true). */
  timestamps?: boolean;
  /** Ask for subgroups when offered (default true). */
  subgroups?: boolean;
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { backendType?: string; adapterType?: string };
  const backend = info.backendType ?? guessBackend(info);
  return {
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    device: info.device || '',
    description: info.description || '',
    backend,
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    features: [...adapter.features].map(String).sort(),
  };
}

function guessBackend(info: GPUAdapterInfo): string {
  const d = `${info.description} ${info.vendor}`.toLowerCase();
  if (d.includes('llvmpipe') || d.includes('lavapipe')) return 'vulkan (lavapipe, CPU)';
  if (d.includes('swiftshader')) return 'vulkan (SwiftShader, CPU)';
  return 'unknown';
}

/** Builds the GPUDeviceDescriptor pieces from what the adapter offers and what the caller wants. */
export function negotiate(adapter: GPUAdapter, want: FeatureRequest = {}): {
  requiredFeatures: GPUFeatureName[];
  requiredLimits: Record<string, number>;
} {
  const requiredFeatures: GPUFeatureName[] = [];
  const offer = (f: string) => adapter.features.has(f);
  if ((want.f16 ?? true) && offer('shader-f16')) requiredFeatures.push('shader-f16');
  if ((want.timestamps ?? true) && offer('timestamp-query')) requiredFeatures.push('timestamp-query');
  if ((want.subgroups ?? true) && offer('subgroups')) requiredFeatures.push('subgroups' as GPUFeatureName);
  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, number>;
  for (const name of WANTED_LIMITS) {
    const v = limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  return { requiredFeatures, requiredLimits };
}

export function capabilitiesOf(device: GPUDevice): Capabilities {
  const l = device.limits;
  return {
    f16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups'),
    timestampQuery: device.features.has('timestamp-query'),
    maxBufferSize: l.maxBufferSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxUniformBufferBindingSize: l.maxUniformBufferBindingSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
  };
}
