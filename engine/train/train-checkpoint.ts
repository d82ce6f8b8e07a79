// Training checkpoints (Node only). OUT/ becomes a complete diffusers folder that `parallax generate --model OUT`
// loads as it is: every part of the source folder except the trained one is hard-linked (copied where links fail),
// the trained part (transformer/ or vae/) gets its config and the exported weights (the EMA when on) in the source's
// tensor order and dtypes. OUT/train-state/ holds what --resume needs: the f32 weights, Adam m and v, the EMA, and
// state.json (step, options, fingerprints). Every file is written under a temporary name and renamed; train-state/
// is written whole as a new folder and swapped in (train-state.old is the fallback while the swap runs).

import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WeightStore } from '../io/sharded.js';
import { openSafetensors, writeSafetensors, type DType, type WriteTensor } from '../io/safetensors.js';

export const STATE_DIR = 'train-state';
export const STATE_VERSION = 1;
/** What OUT/ holds besides the checkpoint: never copied from a source folder. */
const OWN_ENTRIES = new Set([STATE_DIR, `${STATE_DIR}.old`, 'cache', 'samples', 'train-log.jsonl', 'loss.png']);

export type HostTensors = Map<string, { shape: number[]; data: Float32Array }>;

export interface TrainStateFile {
  version: number;
  /** 'transformer' or 'vae'. */
  part: string;
  step: number;
  /** The options that must match on --resume (flat JSON values). */
  options: Record<string, unknown>;
  modelFingerprint: string;
  dataFingerprint: string;
  savedAt: string;
  /** Extra values of the trainer (e.g. the VAE's latent statistics). */
  extra?: Record<string, unknown>;
}

export interface SavedState {
  file: TrainStateFile;
  params: HostTensors;
  m: HostTensors;
  v: HostTensors;
  ema: HostTensors | null;
}

const exists = async (p: string) => !!(await stat(p).catch(() => null));

/** Hard-links (or copies) src to dst unless dst already is that file or a copy of it; folders recursively. */
async function linkTree(src: string, dst: string): Promise<void> {
  const st = await stat(src);
  if (st.isDirectory()) {
    await mkdir(dst, { recursive: true });
    for (const e of await readdir(src)) await linkTree(join(src, e), join(dst, e));
    return;
  }
  const d = await stat(dst).catch(() => null);
  if (d && (d.ino === st.ino || (d.size === st.size && d.mtimeMs >= st.mtimeMs))) return; // the same file (or its copy)
  const tmp = `${dst}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await link(src, tmp).catch(() => copyFile(src, tmp));
  await rename(tmp, dst);
}

async function writeJsonAtomic(path: string, obj: unknown): Promise<void> {
  await writeFile(`${path}.${process.pid}.tmp`, `${JSON.stringify(obj, null, 2)}\n`);
  await rename(`${path}.${process.pid}.tmp`, path);
}

async function writeTensorsAtomic(path: string, tensors: Iterable<[string, WriteTensor]>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeSafetensors(tmp, tensors, { format: 'pt' });
  await rename(tmp, path);
}

const f32 = (t: HostTensors) => [...t].map(([k, x]) => [k, { dtype: 'F32' as DType, shape: x.shape, data: x.data }] as [string, WriteTensor]);

export interface ExportOptions {
  /** Source diffusers folder. */
  source: string;
  out: string;
  /** The trained part's folder name: 'transformer' or 'vae'. */
  part: 'transformer' | 'vae';
  /** Its config.json contents. */
  config: Record<string, unknown>;
  /** The source's weight store of that part (tensor order and dtypes to keep). */
  sourceWeights: WeightStore;
  /** The weights to export, f32 on the host. */
  weights: HostTensors;
}

/** Writes OUT/ as a diffusers checkpoint: links of the other parts, the trained part's config and weights. */
export async function exportCheckpoint(o: ExportOptions): Promise<void> {
  await mkdir(o.out, { recursive: true });
  for (const e of await readdir(o.source)) {
    if (e === o.part || OWN_ENTRIES.has(e)) continue;
    await linkTree(join(o.source, e), join(o.out, e));
  }
  const dir = join(o.out, o.part);
  await mkdir(dir, { recursive: true });
  const tensors: [string, WriteTensor][] = [];
  for (const k of o.sourceWeights.keys()) {
    const info = o.sourceWeights.info(k);
    const w = o.weights.get(k);
    if (!w) {
      // integer buffers (never trained) are kept as they are
      const raw = await o.sourceWeights.read(k);
      tensors.push([k, { dtype: raw.dtype, shape: raw.shape, data: raw.bytes }]);
      continue;
    }
    const dtype = info.dtype === 'F16' || info.dtype === 'BF16' || info.dtype === 'F64' ? info.dtype : 'F32';
    tensors.push([k, { dtype, shape: w.shape, data: w.data }]);
  }
  await writeTensorsAtomic(join(dir, 'diffusion_pytorch_model.safetensors'), tensors);
  await writeJsonAtomic(join(dir, 'config.json'), o.config);
  // a sharded source's index must not shadow the single file
  await rm(join(dir, 'diffusion_pytorch_model.safetensors.index.json'), { force: true });
}

/** Writes OUT/train-state/ (a new folder swapped in). */
export async function saveTrainState(out: string, s: SavedState): Promise<void> {
  const final = join(out, STATE_DIR);
  const tmp = join(out, `${STATE_DIR}.${process.pid}.tmp`);
  const old = join(out, `${STATE_DIR}.old`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeTensorsAtomic(join(tmp, 'weights.safetensors'), f32(s.params));
  await writeTensorsAtomic(join(tmp, 'adam_m.safetensors'), f32(s.m));
  await writeTensorsAtomic(join(tmp, 'adam_v.safetensors'), f32(s.v));
  if (s.ema) await writeTensorsAtomic(join(tmp, 'ema.safetensors'), f32(s.ema));
  await writeJsonAtomic(join(tmp, 'state.json'), s.file);
  await rm(old, { recursive: true, force: true });
  if (await exists(final)) await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
}

async function readTensors(path: string): Promise<HostTensors> {
  const r = await openSafetensors(path);
  try {
    const out: HostTensors = new Map();
    for (const k of r.keys()) out.set(k, { shape: [...r.info(k).shape], data: await r.readFloat32(k) });
    return out;
  } finally {
    await r.close();
  }
}

/** The saved state's folder: train-state/, or train-state.old/ when a crash interrupted the swap; null when none. */
export async function findTrainState(out: string): Promise<string | null> {
  for (const d of [STATE_DIR, `${STATE_DIR}.old`]) if (await exists(join(out, d, 'state.json'))) return join(out, d);
  return null;
}

/** Reads OUT's train state (throws naming the file when it is unreadable). */
export async function loadTrainState(out: string): Promise<SavedState> {
  const dir = await findTrainState(out);
  if (!dir) throw new Error(`--resume: ${out} holds no training state (${join(out, STATE_DIR, 'state.json')} not found); start without --resume`);
  try {
    const file = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as TrainStateFile;
    if (file.version !== STATE_VERSION) throw new Error(`state version ${file.version}, this build reads ${STATE_VERSION}`);
    return {
      file,
      params: await readTensors(join(dir, 'weights.safetensors')),
      m: await readTensors(join(dir, 'adam_m.safetensors')),
      v: await readTensors(join(dir, 'adam_v.safetensors')),
      ema: (await exists(join(dir, 'ema.safetensors'))) ? await readTensors(join(dir, 'ema.safetensors')) : null,
    };
  } catch (e) {
    throw new Error(`--resume: cannot read the training state in ${dir}: ${(e as Error).message}`);
  }
}

const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));

/** Throws naming every difference between a saved run and this one (model, data, options). */
export function checkResume(saved: TrainStateFile, now: Omit<TrainStateFile, 'savedAt' | 'step' | 'version' | 'extra'>, flag: (k: string) => string = (k) => k): void {
  const diffs: string[] = [];
  if (saved.part !== now.part) diffs.push(`it trained the ${saved.part}, this run trains the ${now.part}`);
  if (saved.modelFingerprint !== now.modelFingerprint) diffs.push('the --model folder differs from the one it started from');
  if (saved.dataFingerprint !== now.dataFingerprint) diffs.push('the training data differs (a clip, caption, frame size or the VAE / text encoders changed)');
  for (const k of new Set([...Object.keys(saved.options), ...Object.keys(now.options)])) {
    if (JSON.stringify(saved.options[k]) !== JSON.stringify(now.options[k])) diffs.push(`${flag(k)} was ${show(saved.options[k])}, now ${show(now.options[k])}`);
  }
  if (diffs.length) throw new Error(`--resume: this run differs from the saved one at step ${saved.step}: ${diffs.join('; ')}. Resume with the same model, data and options, or train into a new --out`);
}
