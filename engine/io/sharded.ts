// Weight stores: one interface over a single safetensors file or a sharded checkpoint
// (`*.safetensors.index.json` with a `weight_map` key -> shard file), looked up by tensor name.
import type { FileStore } from './file-store.js';
import { joinRel } from './file-store.js';
import { SafetensorsReader, toFloat32, type TensorData, type TensorInfo } from './safetensors-reader.js';

export interface WeightStore {
  /** Path (relative to the checkpoint root) of the file or index, for messages. */
  readonly name: string;
  keys(): string[];
  has(key: string): boolean;
  info(key: string): TensorInfo;
  /** The file (relative path) holding `key`. */
  fileOf(key: string): string;
  read(key: string): Promise<TensorData>;
  readFloat32(key: string): Promise<Float32Array>;
  close(): Promise<void>;
}

export class SingleFileWeights implements WeightStore {
  constructor(readonly name: string, readonly reader: SafetensorsReader) {}
  static async open(store: FileStore, rel: string): Promise<SingleFileWeights> {
    return new SingleFileWeights(rel, await SafetensorsReader.open(await store.open(rel)));
  }
  keys(): string[] {
    return this.reader.keys();
  }
  has(key: string): boolean {
    return this.reader.has(key);
  }
  info(key: string): TensorInfo {
    if (!this.reader.has(key)) throw new Error(`${this.name}: no tensor named ${key}`);
    return this.reader.info(key);
  }
  fileOf(key: string): string {
    this.info(key);
    return this.name;
  }
  read(key: string): Promise<TensorData> {
    this.info(key);
    return this.reader.read(key);
  }
  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.read(key));
  }
  close(): Promise<void> {
    return this.reader.close();
  }
}

/** A sharded checkpoint: every key of the index is checked against its shard's header at open. */
export class ShardedWeights implements WeightStore {
  private constructor(
    readonly name: string,
    private readonly keyToShard: Map<string, string>,
    private readonly shards: Map<string, SafetensorsReader>,
    readonly metadata: Record<string, unknown>,
  ) {}

  static async open(store: FileStore, indexRel: string): Promise<ShardedWeights> {
    let index: unknown;
    try {
      index = JSON.parse(await store.readText(indexRel));
    } catch (e) {
      throw new Error(`${indexRel}: cannot read sharded index JSON (${(e as Error).message})`);
    }
    const wm = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
      throw new Error(`${indexRel}: missing "weight_map" object (expected {"weight_map": {"<key>": "<shard>.safetensors"}})`);
    }
    const dir = indexRel.includes('/') ? indexRel.slice(0, indexRel.lastIndexOf('/')) : '';
    const keyToShard = new Map<string, string>();
    for (const [k, v] of Object.entries(wm as Record<string, unknown>)) {
      if (typeof v !== 'string' || v.includes('..')) throw new Error(`${indexRel}: weight_map[${k}] must be a shard file name, got ${JSON.stringify(v)}`);
      keyToShard.set(k, joinRel(dir, v));
    }
    const shards = new Map<string, SafetensorsReader>();
    try {
      for (const shard of new Set(keyToShard.values())) {
        if (!(await store.exists(shard))) throw new Error(`${indexRel}: shard ${shard} listed in weight_map does not exist`);
        shards.set(shard, await SafetensorsReader.open(await store.open(shard)));
      }
      for (const [k, shard] of keyToShard) {
        if (!shards.get(shard)!.has(k)) throw new Error(`${indexRel}: weight_map says ${k} is in ${shard}, but that shard has no such tensor`);
      }
      for (const [shard, r] of shards) {
        for (const k of r.keys()) {
          const listed = keyToShard.get(k);
          if (listed !== shard) {
            throw new Error(`${indexRel}: shard ${shard} holds tensor ${k} which weight_map ${listed ? `assigns to ${listed}` : 'does not list'}`);
          }
        }
      }
    } catch (e) {
      for (const r of shards.values()) await r.close();
      throw e;
    }
    const meta = (index as { metadata?: unknown }).metadata;
    return new ShardedWeights(indexRel, keyToShard, shards, typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {});
  }

  get shardFiles(): string[] {
    return [...this.shards.keys()];
  }
  keys(): string[] {
    return [...this.keyToShard.keys()];
  }
  has(key: string): boolean {
    return this.keyToShard.has(key);
  }
  fileOf(key: string): string {
    const s = this.keyToShard.get(key);
    if (!s) throw new Error(`${this.name}: no tensor named ${key} in weight_map`);
    return s;
  }
  private reader(key: string): SafetensorsReader {
    return this.shards.get(this.fileOf(key))!;
  }
  info(key: string): TensorInfo {
    return this.reader(key).info(key);
  }
  read(key: string): Promise<TensorData> {
    return this.reader(key).read(key);
  }
  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.read(key));
  }
  async close(): Promise<void> {
    for (const r of this.shards.values()) await r.close();
  }
}

/**
 * Open the weights of one sub-model folder: `<base>.safetensors`, else `<base>.safetensors.index.json`,
 * trying each base name in order. Returns null when none exists.
 */
export async function openWeights(store: FileStore, dir: string, baseNames: readonly string[]): Promise<WeightStore | null> {
  for (const base of baseNames) {
    const single = joinRel(dir, `${base}.safetensors`);
    if (await store.exists(single)) return SingleFileWeights.open(store, single);
    const index = joinRel(dir, `${base}.safetensors.index.json`);
    if (await store.exists(index)) return ShardedWeights.open(store, index);
  }
  return null;
}
