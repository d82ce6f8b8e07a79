// The kernel autotuner's table and timer: per adapter and per (op, shape class), the variant and settings that won
// when timed on that adapter. Ops consult tunedChoice() when no variant is forced; `parallax tune` (and tests) fill
// the table with tuneClass(); engine/ops/tune-store.ts saves and loads it (a file in Node, localStorage in a
// browser). Entries remember the hash of the winning kernel's source, so an edited kernel is re-tuned rather than
// trusted. No Node imports here: the engine also runs in browsers.

import type { Device } from '../gpu/device.js';
import { expandIncludes, shaderSource } from '../gpu/shader-source.js';
import { tuneSettings, variants, type TuneSettings } from './registry.js';

/** Bumped when the meaning of keys or entries changes (older tables are dropped). */
export const TUNE_FORMAT = 1;

/** What won for one (op, shape class) on one adapter. */
export interface TuneEntry {
  variant: string;
  settings: TuneSettings;
  /** Hash of the winner's expanded kernel source when it was timed. */
  sourceHash: string;
  /** Median milliseconds of the winner at the timed shape. */
  ms: number;
  /** The shape that was timed (for the winners table). */
  shape?: string;
  /** ISO date of the measurement. */
  at?: string;
}

export interface TuneTable {
  format: number;
  /** adapterKey -> `${op}|${classKey}` -> entry. */
  adapters: Record<string, Record<string, TuneEntry>>;
}

let table: TuneTable = { format: TUNE_FORMAT, adapters: {} };
let hits = 0;

/** Adapter identity: vendor, architecture, device, description (for Vulkan/Mesa it names the driver and LLVM) and backend. */
export function adapterKey(device: Device): string {
  let k = adapterKeys.get(device);
  if (k === undefined) {
    const a = device.adapter;
    k = [a.vendor, a.architecture, a.device, a.description, a.backend].join(' / ');
    adapterKeys.set(device, k);
  }
  return k;
}
const adapterKeys = new WeakMap<Device, string>();

/** FNV-1a (32-bit) of a string, hex: cheap and stable; it only has to notice edits. */
export function hashText(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

const sourceHashes = new Map<string, string>();
/** Hash of a kernel's source with its includes spliced in. */
export function kernelSourceHash(kernel: string): string {
  let h = sourceHashes.get(kernel);
  if (!h) {
    h = hashText(expandIncludes(kernel, shaderSource(kernel)));
    sourceHashes.set(kernel, h);
  }
  return h;
}

/** Forgets cached source hashes (tests that swap kernel sources). */
export function resetSourceHashes(): void {
  sourceHashes.clear();
}

/** The current table (to save it). */
export function tuneTable(): TuneTable {
  return table;
}

/** Replaces the in-memory table (after loading one); a table of another format is ignored. */
export function setTuneTable(t: TuneTable | null | undefined): void {
  table = t && t.format === TUNE_FORMAT && t.adapters && typeof t.adapters === 'object' ? t : { format: TUNE_FORMAT, adapters: {} };
}

/** Merges entries (e.g. freshly tuned ones) into the table. */
export function mergeTuneTable(t: TuneTable): void {
  if (t.format !== TUNE_FORMAT) return;
  for (const [ak, entries] of Object.entries(t.adapters)) table.adapters[ak] = { ...table.adapters[ak], ...entries };
}

/** How many choices were served from the table since start (reports, tests). */
export function tuneHits(): number {
  return hits;
}

/**
 * The tuned choice for (op, class) on this device, or undefined when there is none, its variant is gone or
 * unavailable, or its kernel source changed since it was timed. `kernelOf` maps a variant name to its kernel file.
 */
export function tunedChoice(device: Device, op: string, classKey: string, kernelOf: (variant: string) => string | undefined): TuneEntry | undefined {
  const forAdapter = table.adapters[adapterKey(device)];
  const e = forAdapter && Object.hasOwn(forAdapter, `${op}|${classKey}`) ? forAdapter[`${op}|${classKey}`] : undefined;
  if (!e) return undefined;
  const v = variants(op, device).find((x) => x.name === e.variant);
  const kernel = v && kernelOf(e.variant);
  if (!v || !kernel) return undefined;
  try {
    if (kernelSourceHash(kernel) !== e.sourceHash) return undefined;
  } catch {
    return undefined;
  }
  hits++;
  return e;
}

export function recordTuned(device: Device, op: string, classKey: string, e: TuneEntry): void {
  const ak = adapterKey(device);
  (table.adapters[ak] ??= {})[`${op}|${classKey}`] = e;
}

/** One candidate of a tuning run. */
export interface Candidate {
  variant: string;
  settings: TuneSettings;
}

/** Every tunable variant of the op available on the device, with each valid settings combination. */
export function candidatesFor(op: string, device: Device): Candidate[] {
  return variants(op, device).flatMap((v) => tuneSettings(v, device).map((settings) => ({ variant: v.name, settings })));
}

/** A candidate ready to time: run() records its dispatches (the tuner syncs). */
export interface TimedRun {
  run(): void;
  dispose(): void;
}

export interface TuneOptions {
  /** Timed runs per candidate after the warm-up (median taken); default 3. */
  reps?: number;
  /** A candidate with a timed run this many times slower than the best median so far is dropped; default 3. */
  cutoff?: number;
  /** Called after each candidate (progress bars). */
  onCandidate?(done: number, total: number, c: Candidate, ms: number | null): void;
}

export interface TuneResult {
  winner: Candidate;
  ms: number;
  /** Every candidate's median ms (null: dropped early or failed). */
  timings: { c: Candidate; ms: number | null; error?: string }[];
}

/**
 * Times each candidate on the device (one warm-up run that also compiles, then the median of `reps` synced runs)
 * and returns the fastest. A candidate that throws (e.g. a pipeline the driver rejects) is skipped.
 */
export async function timeCandidates(device: Device, cands: Candidate[], make: (c: Candidate) => TimedRun, opts: TuneOptions = {}): Promise<TuneResult> {
  const reps = opts.reps ?? 3;
  const cutoff = opts.cutoff ?? 3;
  let best: { c: Candidate; ms: number } | null = null;
  const timings: TuneResult['timings'] = [];
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i]!;
    let ms: number | null = null;
    let error: string | undefined;
    let r: TimedRun | undefined;
    try {
      r = make(c);
      r.run();
      await device.sync();
      const ts: number[] = [];
      for (let k = 0; k < reps; k++) {
        const t = now();
        r.run();
        await device.sync();
        ts.push(now() - t);
        if (best && ts[ts.length - 1]! > cutoff * best.ms) break;
      }
      ts.sort((x, y) => x - y);
      ms = ts.length === reps ? ts[Math.floor(reps / 2)]! : null;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    } finally {
      r?.dispose();
    }
    if (ms !== null && (!best || ms < best.ms)) best = { c, ms };
    timings.push({ c, ms, error });
    opts.onCandidate?.(i + 1, cands.length, c, ms);
  }
  if (!best) throw new Error(`No candidate ran (${timings.map((t) => `${t.c.variant}: ${t.error ?? 'too slow'}`).join('; ')})`);
  return { winner: best.c, ms: best.ms, timings };
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** `NAME=value,...` for tables and labels. */
export function settingsLabel(s: TuneSettings): string {
  return Object.entries(s).map(([k, v]) => `${k}=${v}`).join(',');
}

// ---------------------------------------------------------------- ops that can be tuned, and problem recording

/** A problem of one op as the tuner sees it: its class key and what the op's tuner needs to rebuild it. */
export interface TuneProblem {
  op: string;
  classKey: string;
  /** Op-specific, plain data (shapes, dtypes, flags). */
  problem: unknown;
}

/** What an op registers to be tunable: how to rebuild a problem with a given candidate, on fresh random buffers. */
export interface OpTuner {
  op: string;
  /** Kernel file of a variant (for the source hash). */
  kernelOf(variant: string): string | undefined;
  /** A runnable for one candidate on buffers of the problem's size (the tuner may shrink row counts it does not key on). */
  bench(device: Device, problem: unknown, c: Candidate): TimedRun;
  /** Short text for progress and tables, e.g. 'M=1296 K=1536 N=6144 f32'. */
  describe(problem: unknown): string;
  /** Problems to tune when no model run was recorded (representative shapes for the op). */
  defaults?(device: Device, dtype: 'f32' | 'f16'): TuneProblem[];
}

const tuners = new Map<string, OpTuner>();

export function registerOpTuner(t: OpTuner): void {
  tuners.set(t.op, t);
}

export function opTuner(op: string): OpTuner | undefined {
  return tuners.get(op);
}

export function tunableOps(): string[] {
  return [...tuners.keys()].sort();
}

let recording: Map<string, TuneProblem> | null = null;

/** Ops call this for each problem they run; it only records while recordProblems() is active. */
export function noteProblem(op: string, classKey: string, problem: () => unknown): void {
  if (!recording) return;
  const k = `${op}|${classKey}`;
  if (!recording.has(k)) recording.set(k, { op, classKey, problem: problem() });
}

/** Runs f and returns the distinct (op, class) problems it hit (the first problem seen of each class). */
export async function recordProblems(f: () => Promise<void>): Promise<TuneProblem[]> {
  const prev = recording;
  recording = new Map();
  const mine = recording;
  try {
    await f();
  } finally {
    recording = prev;
  }
  return [...mine.values()];
}

/** One row of the winners table. */
export interface TunedRow {
  op: string;
  classKey: string;
  shape: string;
  winner: Candidate;
  ms: number;
  /** The untuned default's median ms, when it was among the candidates. */
  defaultMs: number | null;
  /** Already in the table and not re-timed. */
  cached: boolean;
}

export interface TuneProblemsOptions extends TuneOptions {
  /** Re-time classes that already have a valid entry. */
  force?: boolean;
  /** The candidate an untuned run would use (for the speed-up column). */
  defaultOf?(device: Device, p: TuneProblem): Candidate | undefined;
  /** Keeps only the candidates it accepts (tests; --ops-like narrowing). */
  filter?(c: Candidate): boolean;
  /** Called before each class is timed. */
  onProblem?(index: number, total: number, p: TuneProblem, candidates: number): void;
}

/** Tunes each problem's class on the device (skipping classes with a valid entry unless force) and records winners. */
export async function tuneProblems(device: Device, problems: TuneProblem[], opts: TuneProblemsOptions = {}): Promise<TunedRow[]> {
  const rows: TunedRow[] = [];
  for (let i = 0; i < problems.length; i++) {
    const p = problems[i]!;
    const t = tuners.get(p.op);
    if (!t) throw new Error(`No tuner registered for op ${p.op} (tunable: ${tunableOps().join(', ') || 'none'})`);
    const shape = t.describe(p.problem);
    const have = !opts.force ? tunedChoice(device, p.op, p.classKey, t.kernelOf) : undefined;
    if (have) {
      rows.push({ op: p.op, classKey: p.classKey, shape, winner: { variant: have.variant, settings: have.settings }, ms: have.ms, defaultMs: null, cached: true });
      continue;
    }
    const cands = candidatesFor(p.op, device).filter((c) => !opts.filter || opts.filter(c));
    const def = opts.defaultOf?.(device, p);
    // The untuned default always competes (it may use shape-specific settings outside the space), so tuning
    // never makes a class slower than not tuning.
    if (def && !cands.some((c) => c.variant === def.variant && settingsLabel(c.settings) === settingsLabel(def.settings))) cands.unshift(def);
    opts.onProblem?.(i, problems.length, p, cands.length);
    const r = await timeCandidates(device, cands, (c) => t.bench(device, p.problem, c), opts);
    const kernel = t.kernelOf(r.winner.variant);
    if (!kernel) throw new Error(`${p.op}: the winner ${r.winner.variant} names no kernel`);
    recordTuned(device, p.op, p.classKey, { variant: r.winner.variant, settings: r.winner.settings, sourceHash: kernelSourceHash(kernel), ms: r.ms, shape, at: new Date().toISOString() });
    const defTiming = def && r.timings.find((x) => x.c.variant === def.variant && settingsLabel(x.c.settings) === settingsLabel(def.settings));
    rows.push({ op: p.op, classKey: p.classKey, shape, winner: r.winner, ms: r.ms, defaultMs: defTiming?.ms ?? null, cached: false });
  }
  return rows;
}
