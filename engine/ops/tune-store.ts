// Where the autotuner's table (engine/ops/tuning.ts) lives between runs: Node keeps it in
// <cache dir>/tune.json (--cache-dir, else $PARALLAX_CACHE_DIR, else $XDG_CACHE_HOME/parallax, else
// ~/.cache/parallax); a browser keeps it in localStorage. Node modules are imported dynamically so the engine still
// bundles for browsers. PARALLAX_TUNE_CACHE=off ignores any stored table (untuned defaults).

import { mergeTuneTable, setTuneTable, tuneTable, TUNE_FORMAT, type TuneTable } from './tuning.js';

export const TUNE_FILE = 'tune.json';
const LOCAL_STORAGE_KEY = 'parallax.tune';

export interface TuneStore {
  /** Human-readable location (a path or 'localStorage'). */
  where: string;
  load(): Promise<TuneTable | null>;
  save(t: TuneTable): Promise<void>;
}

function env(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

/** Whether stored tables are to be used at all (PARALLAX_TUNE_CACHE=off disables them). */
export function tuneCacheEnabled(): boolean {
  return !/^(off|0|false|no)$/i.test(env('PARALLAX_TUNE_CACHE') ?? '');
}

/** The cache folder in Node: the explicit one, else $PARALLAX_CACHE_DIR, else $XDG_CACHE_HOME/parallax, else ~/.cache/parallax. */
export async function defaultCacheDir(explicit?: string): Promise<string> {
  if (explicit) return explicit;
  const fromEnv = env('PARALLAX_CACHE_DIR');
  if (fromEnv) return fromEnv;
  const path = await import('node:path');
  const xdg = env('XDG_CACHE_HOME');
  if (xdg) return path.join(xdg, 'parallax');
  const os = await import('node:os');
  return path.join(os.homedir(), '.cache', 'parallax');
}

function parse(text: string | null | undefined): TuneTable | null {
  if (!text) return null;
  try {
    const t = JSON.parse(text) as TuneTable;
    return t && t.format === TUNE_FORMAT && typeof t.adapters === 'object' ? t : null;
  } catch {
    return null;
  }
}

/** The store in a folder (Node). A missing or unreadable file loads as no table; saving merges with what is there. */
export async function fileTuneStore(dir?: string): Promise<TuneStore> {
  const folder = await defaultCacheDir(dir);
  const path = await import('node:path');
  const fs = await import('node:fs/promises');
  const file = path.join(folder, TUNE_FILE);
  const read = async () => parse(await fs.readFile(file, 'utf8').catch(() => null));
  return {
    where: file,
    load: read,
    async save(t) {
      // Another process may have tuned other classes meanwhile: keep its entries, ours win on conflicts.
      const merged: TuneTable = (await read()) ?? { format: TUNE_FORMAT, adapters: {} };
      for (const [ak, entries] of Object.entries(t.adapters)) merged.adapters[ak] = { ...merged.adapters[ak], ...entries };
      await fs.mkdir(folder, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, `${JSON.stringify(merged, null, 1)}\n`);
      await fs.rename(tmp, file);
    },
  };
}

/** The store of a browser page (localStorage), or an in-memory one where there is none. */
export function browserTuneStore(): TuneStore {
  const ls = (globalThis as { localStorage?: { getItem(k: string): string | null; setItem(k: string, v: string): void } }).localStorage;
  let mem: string | null = null;
  return {
    where: ls ? 'localStorage' : 'memory',
    load: async () => parse(ls ? ls.getItem(LOCAL_STORAGE_KEY) : mem),
    save: async (t) => {
      const text = JSON.stringify(t);
      if (ls) ls.setItem(LOCAL_STORAGE_KEY, text);
      else mem = text;
    },
  };
}

/** The platform's store: a file in Node, localStorage elsewhere. */
export async function platformTuneStore(dir?: string): Promise<TuneStore> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  return isNode ? fileTuneStore(dir) : browserTuneStore();
}

/**
 * Loads the stored table into the tuner (merging with entries already in memory) unless PARALLAX_TUNE_CACHE=off.
 * Returns the store (to save into after tuning) and how many entries it held. Never throws for a bad file.
 */
export async function loadTuneCache(dir?: string): Promise<{ store: TuneStore; entries: number }> {
  const store = await platformTuneStore(dir);
  if (!tuneCacheEnabled()) return { store, entries: 0 };
  const t = await store.load().catch(() => null);
  if (t) mergeTuneTable(t);
  return { store, entries: t ? Object.values(t.adapters).reduce((n, e) => n + Object.keys(e).length, 0) : 0 };
}

/** Saves the in-memory table (after `parallax tune`). */
export async function saveTuneCache(store: TuneStore): Promise<void> {
  await store.save(tuneTable());
}

/** Drops every in-memory entry (tests). */
export function clearTuneTable(): void {
  setTuneTable(null);
}
