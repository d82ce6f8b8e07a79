// A Vchitect transformer whose weights are made on the fly in memory, one tensor at a time as the loader asks for
// it (no checkpoint file: the 2B shape would be a ~10 GB write): a WeightStore over transformerKeys(config) filled
// with fast seeded uniform noise scaled like make-tiny's (fan-in scaled matrices, norms near 1, small biases).
// For benchmarks on machines with little disk (bench/gpu.ts); the values are noise, the timings are real.

import type { VchitectTransformerConfig } from '../engine/io/configs.js';
import type { SubModel } from '../engine/io/checkpoint.js';
import { transformerKeys, type KeySpec } from '../engine/io/keys.js';
import type { TensorData, TensorInfo } from '../engine/io/safetensors-reader.js';
import type { WeightStore } from '../engine/io/sharded.js';
import { hashString } from '../engine/io/tiny-random.js';

/** The transformer config of a given size with the real model's fixed parts (patch 2, 16 latent channels). */
export function transformerConfig(o: { heads: number; headDim: number; layers: number; M: number; jointDim: number; pooledDim: number }): VchitectTransformerConfig {
  return {
    sample_size: 128, patch_size: 2, in_channels: 16, out_channels: 16, num_layers: o.layers,
    attention_head_dim: o.headDim, num_attention_heads: o.heads, joint_attention_dim: o.jointDim,
    caption_projection_dim: o.heads * o.headDim, pooled_projection_dim: o.pooledDim, pos_embed_max_size: o.M,
  };
}

/** Uniform noise in [-a, a) from a 32-bit xorshift, ~10x faster than Box-Muller normals for billions of values. */
function fill(out: Float32Array, seed: number, a: number, mean: number): void {
  let x = seed >>> 0 || 0x9e3779b9;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = mean - a + (x >>> 0) * k;
  }
}

export class RandomWeights implements WeightStore {
  readonly name: string;
  private readonly specs: Map<string, KeySpec>;
  constructor(config: VchitectTransformerConfig, private readonly seed = 1234) {
    this.name = `random weights (D=${config.num_attention_heads * config.attention_head_dim}, ${config.num_layers} layers, in memory)`;
    this.specs = new Map(transformerKeys(config).filter((s) => !s.optional).map((s) => [s.key, s]));
  }
  keys(): string[] {
    return [...this.specs.keys()];
  }
  has(key: string): boolean {
    return this.specs.has(key);
  }
  info(key: string): TensorInfo {
    const s = this.spec(key);
    return { name: key, dtype: 'F32', shape: s.shape, begin: 0, end: 4 * s.shape.reduce((x, y) => x * y, 1) };
  }
  fileOf(key: string): string {
    this.spec(key);
    return this.name;
  }
  async read(key: string): Promise<TensorData> {
    const f = await this.readFloat32(key);
    return { name: key, dtype: 'F32', shape: this.spec(key).shape, bytes: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
  }
  async readFloat32(key: string): Promise<Float32Array> {
    const s = this.spec(key);
    const out = new Float32Array(s.shape.reduce((x, y) => x * y, 1));
    const seed = (this.seed ^ hashString(key)) >>> 0;
    // Uniform [-a, a) has std a/sqrt(3): match make-tiny's std choices.
    const u = (std: number, mean = 0) => fill(out, seed, std * Math.sqrt(3), mean);
    if (key.endsWith('.bias')) u(0.02);
    else if (s.shape.length === 1) u(0.1, 1);
    else if (key === 'pos_embed.pos_embed') u(0.5);
    else {
      const fanIn = s.shape.slice(1).reduce((x, y) => x * y, 1);
      u((/norm1(_context)?\.linear|norm_out\.linear/.test(key) ? 0.5 : 1) / Math.sqrt(fanIn));
    }
    return out;
  }
  async close(): Promise<void> {}
  private spec(key: string): KeySpec {
    const s = this.specs.get(key);
    if (!s) throw new Error(`${this.name}: no tensor named ${key}`);
    return s;
  }
}

/** The sub-model VchitectTransformer.load takes. */
export function randomTransformer(config: VchitectTransformerConfig, seed?: number): SubModel<VchitectTransformerConfig> {
  return { name: 'transformer', dir: 'transformer', configFile: 'transformer/config.json (in memory)', config, weights: new RandomWeights(config, seed) };
}
