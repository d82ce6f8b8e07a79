// A checkpoint's "model card" (parallax-card.json next to model_index.json): its name, what it was trained on,
// the prompt vocabulary, the recommended settings and example prompts. Pure TypeScript (no Node imports): the
// server publishes the card in /api/config and the web app builds its model preset and example prompts from it.
// shapesModelCard() builds the card of the model trained on the synthetic shape clips (engine/data/synth.ts).

import { BACKGROUND_COLOURS, DIRECTIONS, SHAPE_COLOURS, SHAPES, caption, heldOutCombinations, isHeldOut, type Attributes, type BackgroundColour, type ShapeColour } from '../data/synth.js';

/** File name of the card inside a checkpoint folder. */
export const MODEL_CARD_FILE = 'parallax-card.json';
/** Format tag of the current card layout. */
export const MODEL_CARD_FORMAT = 'parallax-model-card/1';

export interface RecommendedSettings {
  width: number;
  height: number;
  frames: number;
  steps: number;
  guidance: number;
  guidanceMode: 'reference' | 'constant';
  fps: number;
}

export interface ModelCard {
  format: typeof MODEL_CARD_FORMAT;
  /** Short name shown in the app and the logs, e.g. "Parallax shapes". */
  name: string;
  /** One or two sentences: what the model is and what it was trained on. */
  description: string;
  /** The caption template of the training data, e.g. "a {colour} {shape} moving {direction} on a {background} background". */
  promptTemplate: string;
  /** The words each template slot takes. */
  vocabulary: Record<string, string[]>;
  recommended: RecommendedSettings;
  /** Prompts that show what the model does (at least one; the first is the demo's). */
  examples: string[];
  /** Free-form facts about the training run (steps, time, data size, evaluation), as the trainer wrote them. */
  training?: Record<string, unknown>;
}

export const SHAPES_PROMPT_TEMPLATE = 'a {colour} {shape} moving {direction} on a {background} background';

/**
 * Example prompts for the shapes model: one per direction, varied colour, shape and background, all combinations the
 * model was trained on (not held out), so they show what it learned. Deterministic.
 */
export function shapesExamplePrompts(): string[] {
  const colours = Object.keys(SHAPE_COLOURS) as ShapeColour[];
  const backgrounds = Object.keys(BACKGROUND_COLOURS) as BackgroundColour[];
  const held = heldOutCombinations();
  const out: string[] = [];
  DIRECTIONS.forEach((direction, i) => {
    const colour = colours[i % colours.length]!;
    const shape = SHAPES[i % SHAPES.length]!;
    for (let k = 0; k < backgrounds.length; k++) {
      const background = backgrounds[(i + 1 + k) % backgrounds.length]!;
      const a: Attributes = { colour, shape, direction, background };
      if (background === colour || isHeldOut(a, held)) continue;
      out.push(caption(a));
      return;
    }
  });
  return out;
}

export interface ShapesCardOptions {
  /** Recommended denoising steps (what the trained model needs; measured by the trainer). */
  steps: number;
  /** Recommended classifier-free guidance scale. */
  guidance: number;
  guidanceMode?: 'reference' | 'constant';
  /** Default 8 (the synth clips' rate is not stored; 8 shows 8 frames in one second). */
  fps?: number;
  /** Default 64x64 and 8 frames: the training clips' size. */
  width?: number;
  height?: number;
  frames?: number;
  /** Default shapesExamplePrompts(). */
  examples?: string[];
  name?: string;
  description?: string;
  training?: Record<string, unknown>;
}

/** The card of the tiny model trained on the synthetic shape clips; the vocabulary comes from engine/data/synth.ts. */
export function shapesModelCard(o: ShapesCardOptions): ModelCard {
  const width = o.width ?? 64;
  const height = o.height ?? 64;
  const frames = o.frames ?? 8;
  return parseModelCard({
    format: MODEL_CARD_FORMAT,
    name: o.name ?? 'Parallax shapes',
    description: o.description ?? `A tiny Vchitect-2.0 model (make-tiny --preset shapes) trained on synthetic ${width}x${height}, ${frames}-frame clips of one coloured shape moving in a straight line over a plain background (parallax data synth). It knows only the words of its captions.`,
    promptTemplate: SHAPES_PROMPT_TEMPLATE,
    vocabulary: {
      colour: Object.keys(SHAPE_COLOURS),
      shape: [...SHAPES],
      direction: [...DIRECTIONS],
      background: Object.keys(BACKGROUND_COLOURS),
    },
    recommended: { width, height, frames, steps: o.steps, guidance: o.guidance, guidanceMode: o.guidanceMode ?? 'reference', fps: o.fps ?? 8 },
    examples: o.examples ?? shapesExamplePrompts(),
    ...(o.training ? { training: o.training } : {}),
  }, 'shapesModelCard');
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Checks a parsed card (JSON) and returns it typed; a bad field throws an error naming the source, the field and
 * what it should be. Unknown top-level fields are kept out (only the known ones are returned).
 */
export function parseModelCard(v: unknown, source: string): ModelCard {
  const bad = (field: string, want: string): never => {
    throw new Error(`${source}: model card field ${field} ${want} (see docs/training.md "The model card")`);
  };
  if (!isObj(v)) return bad('(top level)', 'must be a JSON object');
  if (v.format !== MODEL_CARD_FORMAT) bad('format', `must be "${MODEL_CARD_FORMAT}" (got ${JSON.stringify(v.format)})`);
  const str = (k: string) => (typeof v[k] === 'string' && (v[k] as string).trim() !== '' ? (v[k] as string) : bad(k, 'must be a non-empty string'));
  const name = str('name');
  const description = str('description');
  const promptTemplate = str('promptTemplate');
  if (!isObj(v.vocabulary)) bad('vocabulary', 'must be an object of word lists, e.g. {"colour": ["red", ...]}');
  const vocabulary: Record<string, string[]> = {};
  for (const [k, words] of Object.entries(v.vocabulary as Record<string, unknown>)) {
    if (!Array.isArray(words) || words.length === 0 || !words.every((w) => typeof w === 'string' && w !== '')) bad(`vocabulary.${k}`, 'must be a non-empty list of words');
    vocabulary[k] = [...(words as string[])];
  }
  const r = v.recommended;
  if (!isObj(r)) return bad('recommended', 'must be an object {width, height, frames, steps, guidance, guidanceMode, fps}');
  const int = (k: string, min: number) => (Number.isInteger(r[k]) && (r[k] as number) >= min ? (r[k] as number) : bad(`recommended.${k}`, `must be an integer >= ${min} (got ${JSON.stringify(r[k])})`));
  const width = int('width', 1);
  const height = int('height', 1);
  const frames = int('frames', 1);
  const steps = int('steps', 1);
  const fps = int('fps', 1);
  const guidance = typeof r.guidance === 'number' && Number.isFinite(r.guidance) && r.guidance >= 0 ? r.guidance : bad('recommended.guidance', `must be a number >= 0 (got ${JSON.stringify(r.guidance)})`);
  const guidanceMode = r.guidanceMode === 'reference' || r.guidanceMode === 'constant' ? r.guidanceMode : bad('recommended.guidanceMode', `must be "reference" or "constant" (got ${JSON.stringify(r.guidanceMode)})`);
  const ex = v.examples;
  if (!Array.isArray(ex) || ex.length === 0 || !ex.every((p) => typeof p === 'string' && p.trim() !== '')) bad('examples', 'must be a non-empty list of prompts');
  if (v.training !== undefined && !isObj(v.training)) bad('training', 'must be an object when present');
  return {
    format: MODEL_CARD_FORMAT, name, description, promptTemplate, vocabulary,
    recommended: { width, height, frames, steps, guidance, guidanceMode, fps },
    examples: [...(ex as string[])],
    ...(v.training !== undefined ? { training: v.training as Record<string, unknown> } : {}),
  };
}

/** "64×64 · 8 frames · 20 steps": the recommended settings in one line. */
export function describeRecommended(r: RecommendedSettings): string {
  return `${r.width}×${r.height} · ${r.frames} frame${r.frames === 1 ? '' : 's'} · ${r.steps} step${r.steps === 1 ? '' : 's'}`;
}
