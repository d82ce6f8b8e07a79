// Fast checkpoint fingerprint for sidecars: SHA-256 over the JSON configs, the tokenizer files, and for every
// weight file its size, its safetensors header and the first and last 64 KiB of its data. Browser-safe (FileStore).
//
// Hashed, in this order, each entry as "<relative path>\n<length>\n<bytes>": model_index.json, scheduler config,
// every sub-model config.json, every tokenizer file present (vocab.json, merges.txt, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json), then each weight file (sorted by path): its size as text, its
// 8-byte length prefix + JSON header, and up to 64 KiB from the start and from the end of the file. It changes when
// a config, a tensor layout/dtype or the sampled bytes change; it does NOT read every weight byte (a change confined
// to the middle of a large tensor is not seen): it identifies checkpoints, it does not verify their integrity.
import type { Checkpoint } from '../io/checkpoint.js';
import { joinRel } from '../io/file-store.js';

const SAMPLE = 64 * 1024;
const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(new ArrayBuffer(n));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Hex SHA-256 fingerprint of an opened checkpoint (see the file header for exactly what is hashed). */
export async function checkpointHash(ckpt: Checkpoint): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const add = (name: string, bytes: Uint8Array) => parts.push(enc.encode(`${name}\n${bytes.length}\n`), bytes);
  const store = ckpt.store;
  const subs = [ckpt.transformer, ckpt.textEncoder, ckpt.textEncoder2, ckpt.textEncoder3, ckpt.vae].filter((s) => s !== undefined);
  const jsonFiles = ['model_index.json', 'scheduler/scheduler_config.json', ...subs.map((s) => s.configFile)];
  for (const d of Object.values(ckpt.tokenizerDirs)) {
    if (d) for (const f of TOKENIZER_FILES) jsonFiles.push(joinRel(d, f));
  }
  for (const f of jsonFiles) {
    if (await store.exists(f)) add(f, enc.encode(await store.readText(f)));
  }
  const weightFiles = new Set<string>();
  for (const s of subs) for (const k of s.weights.keys()) weightFiles.add(s.weights.fileOf(k));
  for (const f of [...weightFiles].sort()) {
    const src = await store.open(f);
    try {
      const size = await src.size();
      add(`${f}#size`, enc.encode(String(size)));
      const prefix = await src.read(0, Math.min(8, size));
      const headerLen = size >= 8 ? Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)) : 0;
      const headEnd = Math.min(size, 8 + headerLen);
      add(`${f}#header`, await src.read(0, headEnd));
      const firstLen = Math.min(SAMPLE, size - headEnd);
      add(`${f}#first`, await src.read(headEnd, firstLen));
      const lastStart = Math.max(headEnd + firstLen, size - SAMPLE);
      add(`${f}#last`, await src.read(lastStart, size - lastStart));
    } finally {
      await src.close?.();
    }
  }
  return sha256Hex(concat(parts));
}

/** SHA-256 of bytes as lowercase hex (WebCrypto: Node and the browser). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const copy = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
  const digest = await globalThis.crypto.subtle.digest('SHA-256', copy);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
