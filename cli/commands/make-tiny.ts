// `parallax make-tiny DIR`: writes a tiny random-weight Vchitect-2.0 checkpoint (real layout) for tests and demos,
// or from a preset (--preset shapes: the model trained on the synthetic shape clips).
import { Option, type Command } from 'commander';
import { makeTinyCheckpoint, TINY_PRESETS, type TinyPreset } from '../../engine/io/make-tiny.js';
import { DTYPE_CHOICES, parseIntArg, type DTypeChoice } from '../options.js';

const DTYPE_MAP = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

export function registerMakeTiny(program: Command): void {
  program
    .command('make-tiny')
    .description('write a tiny Vchitect-2.0 diffusers checkpoint with seeded RANDOM weights (for tests and demos; it generates noise-like videos). Default: 3 layers, D=64, 77 CLIP + 256 T5 text tokens as real checkpoints')
    .argument('<dir>', 'output folder (created if needed)')
    .addOption(new Option('--dtype <dtype>', 'storage dtype of the weights').choices(DTYPE_CHOICES).default('f32'))
    .option('--shards <n>', 'write the transformer as N shards + index.json', parseIntArg('--shards', 1), 1)
    .option('--seed <n>', 'weight seed', parseIntArg('--seed', 0), 1234)
    .addOption(new Option('--preset <name>', 'shapes: the model to train on the synthetic shape clips (`parallax data synth`): 16 CLIP + 16 T5 = 32 text tokens, tokenizers learned from every synth caption, transformer 6 layers, D=64 (4 heads x 16), patch 2, up to 256x256 pixels; default tiny VAE (64x64 pixels -> 8x8 latents)')
      .choices(Object.keys(TINY_PRESETS)))
    .option('--layers <n>', 'transformer blocks (default 3, or the preset\'s)', parseIntArg('--layers', 1))
    .option('--heads <n>', 'attention heads (default 4, or the preset\'s)', parseIntArg('--heads', 1))
    .option('--head-dim <n>', 'channels per head (default 16, or the preset\'s; a multiple of 4)', parseIntArg('--head-dim', 4))
    .action(async (dir: string, opts: { dtype: DTypeChoice; shards: number; seed: number; preset?: TinyPreset; layers?: number; heads?: number; headDim?: number }) => {
      const sizes = Object.entries({ num_layers: opts.layers, num_attention_heads: opts.heads, attention_head_dim: opts.headDim }).filter(([, v]) => v !== undefined);
      const transformer = sizes.length ? Object.fromEntries(sizes) : undefined;
      const t = await makeTinyCheckpoint(dir, { dtype: DTYPE_MAP[opts.dtype], transformerShards: opts.shards, seed: opts.seed, preset: opts.preset, transformer });
      const tr = t.transformer;
      const text = `${t.textLengths.clip} CLIP + ${t.textLengths.t5} T5 text tokens`;
      console.log(`wrote tiny checkpoint ${dir} (${opts.preset ? `preset ${opts.preset}, ` : ''}${opts.dtype}, seed ${opts.seed}${opts.shards > 1 ? `, transformer in ${opts.shards} shards` : ''}): transformer ${tr.num_layers} layers, D=${tr.num_attention_heads * tr.attention_head_dim}, ${text}; random weights`);
    });
}
