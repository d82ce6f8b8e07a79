// `parallax make-tiny DIR`: writes a tiny random-weight Vchitect-2.0 checkpoint (real layout) for tests and demos.
import { Option, type Command } from 'commander';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { DTYPE_CHOICES, parseIntArg, type DTypeChoice } from '../options.js';

const DTYPE_MAP = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

export function registerMakeTiny(program: Command): void {
  program
    .command('make-tiny')
    .description('write a tiny Vchitect-2.0 diffusers checkpoint with seeded RANDOM weights (for tests and demos; it generates noise-like videos)')
    .argument('<dir>', 'output folder (created if needed)')
    .addOption(new Option('--dtype <dtype>', 'storage dtype of the weights').choices(DTYPE_CHOICES).default('f32'))
    .option('--shards <n>', 'write the transformer as N shards + index.json', parseIntArg('--shards', 1), 1)
    .option('--seed <n>', 'weight seed', parseIntArg('--seed', 0), 1234)
    .option('--layers <n>', 'transformer blocks (default 3)', parseIntArg('--layers', 1))
    .option('--heads <n>', 'attention heads (default 4)', parseIntArg('--heads', 1))
    .option('--head-dim <n>', 'channels per head (default 16; a multiple of 4)', parseIntArg('--head-dim', 4))
    .action(async (dir: string, opts: { dtype: DTypeChoice; shards: number; seed: number; layers?: number; heads?: number; headDim?: number }) => {
      const transformer = { num_layers: opts.layers, num_attention_heads: opts.heads, attention_head_dim: opts.headDim };
      const t = await makeTinyCheckpoint(dir, { dtype: DTYPE_MAP[opts.dtype], transformerShards: opts.shards, seed: opts.seed, transformer });
      const tr = t.transformer;
      console.log(`wrote tiny checkpoint ${dir} (${opts.dtype}, seed ${opts.seed}${opts.shards > 1 ? `, transformer in ${opts.shards} shards` : ''}): transformer ${tr.num_layers} layers, D=${tr.num_attention_heads * tr.attention_head_dim}; random weights`);
    });
}
