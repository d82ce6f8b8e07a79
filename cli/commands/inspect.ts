// `parallax inspect DIR`: checkpoint summary (configs, parameters, dtypes, validation) and a memory estimate.
import { Option, type Command } from 'commander';
import { openCheckpoint } from '../../engine/io/checkpoint.js';
import { estimateMemory, formatInspect, formatMemoryEstimate, inspectCheckpoint } from '../../engine/io/inspect.js';
import { SPEC_DEFAULTS } from '../../engine/pipeline/generate-options.js';
import { DTYPE_CHOICES, parseIntArg, requireModelDir, type DTypeChoice } from '../options.js';

const DTYPE_MAP = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('summarize a checkpoint (configs, parameter counts, dtypes, validation) and estimate the memory of a generation')
    .argument('<dir>', 'diffusers checkpoint folder')
    .option('--frames <n>', 'frames for the memory estimate', parseIntArg('--frames', 1), SPEC_DEFAULTS.frames)
    .option('--width <px>', 'width for the memory estimate', parseIntArg('--width', 1), SPEC_DEFAULTS.width)
    .option('--height <px>', 'height for the memory estimate', parseIntArg('--height', 1), SPEC_DEFAULTS.height)
    .addOption(new Option('--dtype <dtype>', 'GPU dtype for the memory estimate').choices(DTYPE_CHOICES).default('f16'))
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { frames: number; width: number; height: number; dtype: DTypeChoice; json?: boolean }) => {
      await requireModelDir(dir);
      const ckpt = await openCheckpoint(dir);
      try {
        const info = await inspectCheckpoint(ckpt);
        const mem = estimateMemory(ckpt, { frames: opts.frames, width: opts.width, height: opts.height, dtype: DTYPE_MAP[opts.dtype] });
        if (opts.json) console.log(JSON.stringify({ ...info, memoryEstimate: mem }, null, 2));
        else {
          console.log(formatInspect(info));
          console.log(`for ${opts.width}x${opts.height}, ${opts.frames} frames, ${opts.dtype}:`);
          console.log(formatMemoryEstimate(mem));
        }
        if (!info.validation.ok) process.exitCode = 1;
      } finally {
        await ckpt.close();
      }
    });
}
