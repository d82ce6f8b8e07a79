// `parallax tune`: fills the autotuner's cache (engine/ops/tuning.ts) for the adapter in use ahead of time. With
// --model it records the (op, shape class) problems that one text encoding and one transformer forward at the
// given size hit (dispatches skipped: shapes only, so the record is quick at any size); without, each tunable op's
// representative shapes. Then it times every registered variant x tile setting per class, keeps the winners in
// the cache and prints them.

import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { Device } from '../../engine/gpu/device.js';
import { openCheckpoint } from '../../engine/io/checkpoint.js';
import { matmulDefaultCandidate } from '../../engine/ops/matmul-tune.js';
import '../../engine/ops/tuners.js';
import { loadTuneCache, saveTuneCache } from '../../engine/ops/tune-store.js';
import { adapterKey, opTuner, recordProblems, settingsLabel, tunableOps, tuneProblems, type TuneProblem, type TunedRow } from '../../engine/ops/tuning.js';
import { latentShape, SPEC_DEFAULTS } from '../../engine/pipeline/generate-options.js';
import { GpuBackend } from '../../engine/pipeline/gpu-backend.js';
import { COMPUTE_DTYPE_CHOICES, fmtMs, parseIntArg, requireModelDir, type ComputeDType } from '../options.js';

interface TuneOpts {
  model?: string;
  width: number;
  height: number;
  frames: number;
  dtype: ComputeDType;
  ops?: string;
  force?: boolean;
  reps: number;
}

/** The problems one text encoding + one transformer forward at the size hit, with the GPU work skipped. */
async function recordModelProblems(device: Device, o: TuneOpts): Promise<TuneProblem[]> {
  const ckpt = await openCheckpoint(await requireModelDir(o.model));
  try {
    const backend = await GpuBackend.create(ckpt, { device, dtype: o.dtype });
    const dispatch = device.dispatch;
    try {
      // Only the shapes matter here: skipping the kernels makes the record take seconds at any size.
      device.dispatch = () => {};
      return await recordProblems(async () => {
        const text = await backend.encodeText('a tuning prompt');
        const shape = latentShape({ frames: o.frames, width: o.width, height: o.height }, backend.info);
        await backend.velocity({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }, 500, text);
      });
    } finally {
      device.dispatch = dispatch;
      await backend.dispose();
    }
  } finally {
    await ckpt.close();
  }
}

function printWinners(rows: TunedRow[]): void {
  const head = ['op', 'class', 'timed shape', 'winner', 'ms', 'default ms', 'speed-up'];
  const body = rows.map((r) => [
    r.op, r.classKey, r.shape, `${r.winner.variant}${Object.keys(r.winner.settings).length ? ` [${settingsLabel(r.winner.settings)}]` : ''}`,
    r.ms.toFixed(2) + (r.cached ? ' (cached)' : ''), r.defaultMs === null ? '-' : r.defaultMs.toFixed(2),
    r.defaultMs === null ? '-' : `${(r.defaultMs / r.ms).toFixed(2)}x`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ');
  console.log(line(head));
  for (const b of body) console.log(line(b));
}

export function registerTune(program: Command): void {
  program
    .command('tune')
    .description('time every kernel variant and tile setting for the shape classes a generation hits, on this adapter, and keep the winners in the tuning cache (used by generate, forward and serve)')
    .option('--model <dir>', 'record the shapes of one text encoding + transformer forward of this checkpoint (default: representative Vchitect-2B shapes)')
    .option('--width <px>', 'video width for --model', parseIntArg('--width', 1), SPEC_DEFAULTS.width)
    .option('--height <px>', 'video height for --model', parseIntArg('--height', 1), SPEC_DEFAULTS.height)
    .option('--frames <n>', 'frame count for --model', parseIntArg('--frames', 1), SPEC_DEFAULTS.frames)
    .addOption(new Option('--dtype <dtype>', 'compute dtype').choices(COMPUTE_DTYPE_CHOICES).default('f32'))
    .option('--ops <list>', 'comma-separated ops to tune (default: every tunable op)')
    .option('--force', 're-time classes that already have a cached winner')
    .option('--reps <n>', 'timed runs per candidate (median)', parseIntArg('--reps', 1), 3)
    .addHelpText('after', '\nThe cache is <cache dir>/tune.json (global --cache-dir, else $PARALLAX_CACHE_DIR, else $XDG_CACHE_HOME/parallax or ~/.cache/parallax), keyed by adapter, driver and kernel source hash. PARALLAX_TUNE_CACHE=off ignores it; PARALLAX_KERNEL_<OP> still forces a variant.')
    .action(async (o: TuneOpts, cmd: Command) => {
      const cacheDir = (cmd.optsWithGlobals() as { cacheDir?: string }).cacheDir;
      const ops = o.ops ? o.ops.split(',').map((s) => s.trim()).filter(Boolean) : tunableOps();
      for (const op of ops) if (!opTuner(op)) throw new Error(`--ops: '${op}' is not a tunable op (tunable: ${tunableOps().join(', ')})`);
      const { store } = await loadTuneCache(cacheDir);
      const device = await Device.create({ label: 'tune' });
      try {
        if (o.dtype === 'f16' && !device.f16) throw new Error('--dtype f16: this adapter has no shader-f16; tune with --dtype f32');
        console.error(`Adapter: ${adapterKey(device)}`);
        const t0 = performance.now();
        let problems: TuneProblem[];
        if (o.model) {
          problems = await recordModelProblems(device, o);
          console.error(`Recorded ${problems.length} shape classes from ${o.model} at ${o.width}x${o.height}, ${o.frames} frames (${fmtMs(performance.now() - t0)})`);
        } else {
          problems = ops.flatMap((op) => opTuner(op)!.defaults?.(device, o.dtype) ?? []);
        }
        problems = problems.filter((p) => ops.includes(p.op));
        if (!problems.length) throw new Error(`nothing to tune for --ops ${ops.join(',')}`);
        const bar = new cliProgress.SingleBar({ format: 'tune [{bar}] {value}/{total} candidates | class {cls} | {what}', stream: process.stderr, hideCursor: true, noTTYOutput: false }, cliProgress.Presets.shades_classic);
        const tty = process.stderr.isTTY;
        let done = 0;
        let total = 0;
        const rows = await tuneProblems(device, problems, {
          force: o.force, reps: o.reps,
          defaultOf: (d, p) => (p.op === 'matmul' ? matmulDefaultCandidate(d, p) : undefined),
          onProblem: (i, n, p, cands) => {
            total += cands;
            const what = opTuner(p.op)!.describe(p.problem);
            if (tty) {
              if (!bar.isActive) bar.start(total, done, { cls: `${i + 1}/${n}`, what });
              else bar.setTotal(total);
              bar.update(done, { cls: `${i + 1}/${n}`, what });
            } else {
              console.error(`tune ${i + 1}/${n}: ${p.op} ${p.classKey} (${what}), ${cands} candidates`);
            }
          },
          onCandidate: () => {
            done++;
            if (tty) bar.update(done);
          },
        });
        if (tty && bar.isActive) bar.stop();
        await saveTuneCache(store);
        printWinners(rows);
        console.error(`Tuned ${rows.filter((r) => !r.cached).length} classes (${rows.filter((r) => r.cached).length} already cached) in ${fmtMs(performance.now() - t0)}; cache: ${store.where}`);
      } finally {
        device.destroy();
      }
    });
}
