// The default model of `parallax demo` and `parallax serve` (no --model): $PARALLAX_MODEL when set, else the
// trained checkpoint committed at <repo>/models/shapes when it holds a valid checkpoint, else none (the callers
// then fall back: demo to a random tiny checkpoint, serve to the FakeGenerator). Also reads and writes the model
// card (parallax-card.json, engine/io/model-card.ts) next to a checkpoint. Node only.

import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCheckpoint, validateCheckpoint } from './checkpoint.js';
import { MODEL_CARD_FILE, parseModelCard, shapesModelCard, type ModelCard, type ShapesCardOptions } from './model-card.js';

/** Environment variable naming the default model folder (beats the committed one); "none": no default model. */
export const MODEL_ENV = 'PARALLAX_MODEL';
/** The repository's root folder. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the trained default checkpoint is committed. */
export const REPO_DEFAULT_MODEL_DIR = join(REPO_ROOT, 'models', 'shapes');
/** How to get the trained default model when it is missing. */
export const TRAIN_HINT = '`npm run train:tiny` trains it (about 2 hours on a 2-core CPU) into models/shapes';

export interface DefaultModel {
  /** Absolute checkpoint folder. */
  dir: string;
  /** Where it came from: $PARALLAX_MODEL or the committed models/shapes. */
  source: 'env' | 'repo';
  /** Its card, or null when the folder has no parallax-card.json. */
  card: ModelCard | null;
}

export type DefaultModelLookup = { model: DefaultModel; reason?: undefined } | { model: null; reason: string };

/** The folder as the user would type it: relative to the working directory when inside it. */
export function displayPath(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !rel.startsWith('/') ? rel : dir;
}

/** Why `dir` is not a usable checkpoint (missing, no model_index.json, fails validation), or null when it is. */
export async function checkpointProblem(dir: string): Promise<string | null> {
  const st = await stat(dir).catch(() => null);
  if (!st) return 'does not exist';
  if (!st.isDirectory()) return 'is not a folder';
  if (!(await stat(join(dir, 'model_index.json')).catch(() => null))?.isFile()) return 'has no model_index.json (not a complete diffusers checkpoint folder)';
  try {
    const ck = await openCheckpoint(dir);
    try {
      validateCheckpoint(ck);
    } finally {
      await ck.close();
    }
    return null;
  } catch (e) {
    return `does not load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

/** The card in `dir` (parallax-card.json), null when there is none; a malformed card throws naming the file and field. */
export async function readModelCard(dir: string): Promise<ModelCard | null> {
  const file = join(dir, MODEL_CARD_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)}); rewrite it with writeModelCard (engine/io/default-model.ts)`);
  }
  return parseModelCard(json, file);
}

/** Writes `card` (checked first) as parallax-card.json into the checkpoint folder `dir`; returns the file. */
export async function writeModelCard(dir: string, card: ModelCard): Promise<string> {
  const file = join(dir, MODEL_CARD_FILE);
  const checked = parseModelCard(card, 'writeModelCard');
  await writeFile(file, JSON.stringify(checked, null, 2) + '\n');
  return file;
}

/**
 * What the trainer calls after training the shapes model: writes the card of the synthetic-shapes model (vocabulary
 * from engine/data/synth.ts, 64x64, 8 frames, the given steps and guidance, example prompts) into `dir`.
 */
export async function writeShapesModelCard(dir: string, o: ShapesCardOptions): Promise<string> {
  const problem = await checkpointProblem(dir);
  if (problem) throw new Error(`writeShapesModelCard: ${dir} ${problem}; write the card into a complete checkpoint folder`);
  return writeModelCard(dir, shapesModelCard(o));
}

/**
 * The default model: $PARALLAX_MODEL (must be a valid checkpoint, else an error naming the variable; "none" means
 * no default model, for the fallbacks), else models/shapes when it is a valid checkpoint, else none with the reason.
 */
export async function resolveDefaultModel(opts: { env?: NodeJS.ProcessEnv; repoDir?: string } = {}): Promise<DefaultModelLookup> {
  const env = opts.env ?? process.env;
  const fromEnv = env[MODEL_ENV];
  if (fromEnv?.trim() === 'none') return { model: null, reason: `${MODEL_ENV}=none` };
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const dir = resolve(fromEnv);
    const problem = await checkpointProblem(dir);
    if (problem) throw new Error(`${MODEL_ENV}=${fromEnv}: that folder ${problem}; point it at a checkpoint folder (with model_index.json) or unset it`);
    return { model: { dir, source: 'env', card: await readModelCard(dir) } };
  }
  const dir = resolve(opts.repoDir ?? REPO_DEFAULT_MODEL_DIR);
  const problem = await checkpointProblem(dir);
  if (problem) return { model: null, reason: `the trained default model ${displayPath(dir)} ${problem}` };
  return { model: { dir, source: 'repo', card: await readModelCard(dir) } };
}
