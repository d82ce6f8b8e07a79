// `parallax eval-prompts --model DIR`: how well a model follows its prompts. Generates each held-out synthetic prompt
// (or those of a JSONL file), reads colour, shape, direction and background back from the frames, and reports the
// share read back correctly per attribute (target for the trained default: >= 80% each), with a JSON report and a
// contact sheet (first and last frame of every sample).
import { Option, type Command } from 'commander';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ATTRIBUTE_NAMES, confusion, confusionLines, contactSheet, evaluatePrompts, heldOutPrompts, type EvalPrompt, type EvalSettings } from '../../engine/data/eval-prompts.js';
import { BACKEND_NAMES, type BackendName } from '../../engine/pipeline/backends.js';
import { TextToVideoPipeline } from '../../engine/pipeline/text-to-video.js';
import { encodeRgbPng } from '../../engine/video/png.js';
import { COMPUTE_DTYPE_CHOICES, parseFloatArg, parseIntArg, requireModelDir, type ComputeDType } from '../options.js';

interface EvalCliOptions extends EvalSettings {
  model: string;
  prompts?: string;
  backend: BackendName;
  dtype?: ComputeDType;
  out?: string;
  sheet?: string;
}

/** Reads prompts with attributes from JSONL ({"text": ..., "attributes": {colour, shape, direction, background}}). */
export async function readEvalPrompts(path: string): Promise<EvalPrompt[]> {
  const text = await readFile(path, 'utf8').catch((e: Error) => {
    throw new Error(`cannot read prompts file ${path}: ${e.message}`);
  });
  return text.split('\n').map((l, i) => [l.trim(), i + 1] as const).filter(([l]) => l).map(([l, line]) => {
    let row: { text?: unknown; attributes?: Record<string, unknown> };
    try {
      row = JSON.parse(l);
    } catch {
      throw new Error(`${path}:${line}: not JSON`);
    }
    const a = row.attributes;
    if (typeof row.text !== 'string' || !a || ATTRIBUTE_NAMES.some((k) => typeof a[k] !== 'string')) {
      throw new Error(`${path}:${line}: each line needs "text" and "attributes" with ${ATTRIBUTE_NAMES.join(', ')} (as in the heldout.jsonl that \`parallax data synth\` writes)`);
    }
    return { text: row.text, attributes: a as unknown as EvalPrompt['attributes'] };
  });
}

export function registerEvalPrompts(program: Command): void {
  program
    .command('eval-prompts')
    .description('measure prompt following: generate held-out synthetic prompts and read colour, shape, direction and background back from the frames')
    .requiredOption('--model <dir>', 'diffusers checkpoint folder')
    .option('--prompts <file>', 'JSONL prompts with attributes (default: the built-in held-out combinations)')
    .option('--frames <n>', 'frames per video', parseIntArg('--frames', 2), 8)
    .option('--width <px>', 'width', parseIntArg('--width', 16), 64)
    .option('--height <px>', 'height', parseIntArg('--height', 16), 64)
    .option('--steps <n>', 'denoising steps', parseIntArg('--steps', 1), 20)
    .option('--guidance <g>', 'classifier-free guidance scale', parseFloatArg('--guidance', 0), 4)
    .addOption(new Option('--guidance-mode <mode>', 'reference: the Vchitect per-step weight; constant: plain CFG').choices(['reference', 'constant']).default('reference'))
    .option('--seeds <n>', 'videos per prompt (seeds seed, seed+1, ...)', parseIntArg('--seeds', 1), 1)
    .option('--seed <n>', 'first seed', parseIntArg('--seed', 0), 0)
    .addOption(new Option('--backend <name>', 'gpu (WebGPU) or reference (float64 CPU, slow)').choices(BACKEND_NAMES).default('gpu'))
    .addOption(new Option('--dtype <dtype>', 'GPU compute dtype').choices(COMPUTE_DTYPE_CHOICES))
    .option('--out <file>', 'write the report (settings, accuracy, every sample) as JSON')
    .option('--sheet <png>', 'write a contact sheet: first and last frame of every sample, one row each')
    .action(async (o: EvalCliOptions) => {
      await requireModelDir(o.model);
      const prompts = o.prompts ? await readEvalPrompts(o.prompts) : heldOutPrompts();
      const pipe = await TextToVideoPipeline.fromPretrained(o.model, { backend: o.backend, backendOptions: { dtype: o.dtype } });
      try {
        const settings: EvalSettings = { frames: o.frames, width: o.width, height: o.height, steps: o.steps, guidance: o.guidance, guidanceMode: o.guidanceMode, seeds: o.seeds, seed: o.seed };
        const report = await evaluatePrompts(pipe, prompts, settings, (done, total, s) => {
          const marks = ATTRIBUTE_NAMES.map((a) => `${a} ${s.correct[a] ? 'ok' : `${s.got[a]}`}`).join(', ');
          console.error(`[${done}/${total}] "${s.prompt}" seed ${s.seed}: ${marks}`);
        });
        console.log(`prompt following over ${report.samples.length} videos (${prompts.length} prompts x ${o.seeds} seeds, ${o.width}x${o.height}x${o.frames}, ${o.steps} steps, guidance ${o.guidance} ${o.guidanceMode}):`);
        console.log('| attribute | correct | target 80% |\n|---|---|---|');
        for (const a of [...ATTRIBUTE_NAMES, 'all'] as const) {
          const acc = report.accuracy[a];
          console.log(`| ${a} | ${(100 * acc).toFixed(1)}% | ${a === 'all' ? '' : acc >= 0.8 ? 'met' : 'not met'} |`);
        }
        for (const a of ATTRIBUTE_NAMES) console.log(`${a}, wanted -> read back: ${confusionLines(report.samples, a).join('; ')}`);
        if (o.out) {
          await mkdir(dirname(o.out), { recursive: true });
          const samples = report.samples.map(({ firstFrame: _f, lastFrame: _l, ...rest }) => rest);
          await writeFile(o.out, JSON.stringify({ model: o.model, settings: report.settings, accuracy: report.accuracy, confusion: Object.fromEntries(ATTRIBUTE_NAMES.map((a) => [a, confusion(report.samples, a)])), samples }, null, 2) + '\n');
        }
        if (o.sheet) {
          const sheet = contactSheet(report.samples, o.width, o.height);
          await mkdir(dirname(o.sheet), { recursive: true });
          await writeFile(o.sheet, encodeRgbPng(sheet.rgb, sheet.width, sheet.height));
        }
      } finally {
        await pipe.dispose();
      }
    });
}
