// Registry of kernel variants per op. Each op declares its kernel contract (bindings, params, grid) in its
// wrapper; a variant is a WGSL file that honours the contract plus one registerVariant() line. Tests and
// benchmarks iterate over variants(op), so a new variant is covered with no other change.
// Choose a variant at run time with PARALLAX_KERNEL_<OP>=<name> (e.g. PARALLAX_KERNEL_MATMUL=matmul_tiled).

import type { Device } from '../gpu/device.js';

export interface Variant<Spec = unknown> {
  /** Op family, e.g. 'matmul'. */
  op: string;
  /** Unique variant name, e.g. 'matmul_tiled'. */
  name: string;
  /** Kernel-specific settings the op wrapper understands (kernel file, tile sizes, ...). */
  spec: Spec;
  /** Whether the variant can run on this device (features, limits); default: always. */
  available?: (device: Device) => boolean;
  /** Higher wins when several are available and none is forced. */
  priority?: number;
  /** Settings the autotuner may try (engine/ops/tuning.ts); a variant without it is never a tuning candidate. */
  tune?: TuneSpace;
}

export type TuneValue = number | string | boolean;
export type TuneSettings = Record<string, TuneValue>;

/** A variant's tuning space: every combination of `params` values that `valid` accepts (default: all). */
export interface TuneSpace {
  /** Setting name -> the values to try, e.g. { TM: [2, 4, 8] } (names are the op's spec knobs, e.g. defines);
   *  a function when the useful space depends on the adapter (small on CPU adapters, where each try is slow). */
  params: Record<string, readonly TuneValue[]> | ((device: Device) => Record<string, readonly TuneValue[]>);
  /** Rejects combinations the device cannot run (workgroup size or storage limits) or that are pointless. */
  valid?(settings: TuneSettings, device: Device): boolean;
}

/** Every settings combination of a variant's tuning space that is valid on the device ([{}] for an empty space). */
export function tuneSettings(v: Variant, device: Device): TuneSettings[] {
  if (!v.tune) return [];
  let out: TuneSettings[] = [{}];
  const params = typeof v.tune.params === 'function' ? v.tune.params(device) : v.tune.params;
  for (const [k, vals] of Object.entries(params)) out = out.flatMap((s) => vals.map((x) => ({ ...s, [k]: x })));
  return out.filter((s) => !v.tune!.valid || v.tune!.valid(s, device));
}

const table = new Map<string, Variant[]>();

export function registerVariant<Spec>(v: Variant<Spec>): void {
  const list = table.get(v.op) ?? [];
  if (list.some((x) => x.name === v.name)) throw new Error(`Variant ${v.name} of ${v.op} is registered twice`);
  list.push(v as Variant);
  table.set(v.op, list);
}

export function variants<Spec>(op: string, device?: Device): Variant<Spec>[] {
  const list = (table.get(op) ?? []) as Variant<Spec>[];
  return device ? list.filter((v) => !v.available || v.available(device)) : list;
}

export function allOps(): string[] {
  return [...table.keys()].sort();
}

/** The variant to use: an explicit name, else PARALLAX_KERNEL_<OP>, else the available one of highest priority. */
export function pickVariant<Spec>(op: string, device: Device, name?: string): Variant<Spec> {
  const envName = typeof process !== 'undefined' ? process.env?.[`PARALLAX_KERNEL_${op.toUpperCase()}`] : undefined;
  const want = name ?? envName;
  const list = variants<Spec>(op);
  if (want) {
    const v = list.find((x) => x.name === want);
    if (!v) throw new Error(`No variant '${want}' of op ${op}; known: ${list.map((x) => x.name).join(', ')}`);
    if (v.available && !v.available(device)) throw new Error(`Variant ${want} of ${op} is not available on ${device.adapter.description || device.label}`);
    return v;
  }
  const ok = list.filter((v) => !v.available || v.available(device));
  if (!ok.length) throw new Error(`No variant of op ${op} is available on this device (registered: ${list.map((x) => x.name).join(', ') || 'none'})`);
  return ok.reduce((a, b) => ((b.priority ?? 0) > (a.priority ?? 0) ? b : a));
}
