// Settings presets shown above the form, and the example prompts of the server's model. The generic presets set
// size, length and steps; when the served model has a card (parallax-card.json, published in /api/config), its
// recommended settings come first as the model's preset (also guidance and fps) and its example prompts are offered.
import type { ModelCard } from '../engine/io/model-card.js';
import type { JobRequestBody, ServerConfig } from './types.js';

export type PresetField = 'width' | 'height' | 'frames' | 'steps' | 'guidance' | 'fps';

export interface Preset {
  id: string;
  label: string;
  hint: string;
  values: Partial<Pick<JobRequestBody, PresetField>> & Pick<JobRequestBody, 'width' | 'height' | 'frames' | 'steps'>;
  /** Extra values the preset sets that are not numbers (the model's guidance mode). */
  mode?: JobRequestBody['guidance_mode'];
}

export const PRESETS: Preset[] = [
  { id: 'preview', label: 'Preview', hint: '256×144 · 8 frames · 10 steps', values: { width: 256, height: 144, frames: 8, steps: 10 } },
  { id: 'draft', label: 'Draft', hint: '512×288 · 16 frames · 30 steps', values: { width: 512, height: 288, frames: 16, steps: 30 } },
  { id: 'default', label: 'Default', hint: '768×432 · 40 frames · 100 steps', values: { width: 768, height: 432, frames: 40, steps: 100 } },
];

/** The card's name without a leading "Parallax" ("Parallax shapes" -> "Shapes"), for a short button label. */
function shortName(card: ModelCard): string {
  const n = card.name.replace(/^parallax\s+/i, '').trim() || card.name;
  return n.charAt(0).toUpperCase() + n.slice(1);
}

/** The preset of a model card: its recommended settings, labelled e.g. "Shapes 64×64 · 8 frames". */
export function cardPreset(card: ModelCard): Preset {
  const r = card.recommended;
  return {
    id: 'model',
    label: `${shortName(card)} ${r.width}×${r.height} · ${r.frames} frame${r.frames === 1 ? '' : 's'}`,
    hint: `recommended: ${r.steps} step${r.steps === 1 ? '' : 's'} · guidance ${r.guidance} · ${r.fps} fps`,
    values: { width: r.width, height: r.height, frames: r.frames, steps: r.steps, guidance: r.guidance, fps: r.fps },
    mode: r.guidanceMode,
  };
}

/** The presets for this server: the model's (when its card says) first, then the generic ones. */
export function presetsFor(cfg: Pick<ServerConfig, 'model'>): Preset[] {
  const card = cfg.model?.card;
  return card ? [cardPreset(card), ...PRESETS] : PRESETS;
}

/** Example prompts of the server's model (its card's), none when it has no card. */
export function examplePrompts(cfg: Pick<ServerConfig, 'model'>, max = 6): string[] {
  return cfg.model?.card?.examples.slice(0, max) ?? [];
}

/** The preset whose values match the form exactly, if any (the first, so the model's wins over a generic twin). */
export function matchPreset(v: Partial<Record<PresetField, number>>, presets: readonly Preset[] = PRESETS): Preset | undefined {
  return presets.find((p) => (Object.keys(p.values) as PresetField[]).every((k) => v[k] === p.values[k]));
}
