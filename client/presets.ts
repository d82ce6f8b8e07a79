// Settings presets shown above the form: size, length and steps; guidance, fps and seed are left as they are.
import type { JobRequestBody } from './types.js';

export interface Preset {
  id: string;
  label: string;
  hint: string;
  values: Pick<JobRequestBody, 'width' | 'height' | 'frames' | 'steps'>;
}

export const PRESETS: Preset[] = [
  { id: 'preview', label: 'Preview', hint: '256×144 · 8 frames · 10 steps', values: { width: 256, height: 144, frames: 8, steps: 10 } },
  { id: 'draft', label: 'Draft', hint: '512×288 · 16 frames · 30 steps', values: { width: 512, height: 288, frames: 16, steps: 30 } },
  { id: 'default', label: 'Default', hint: '768×432 · 40 frames · 100 steps', values: { width: 768, height: 432, frames: 40, steps: 100 } },
];

/** The preset whose values match the form exactly, if any. */
export function matchPreset(v: Partial<Record<keyof Preset['values'], number>>): Preset | undefined {
  return PRESETS.find((p) => (Object.keys(p.values) as (keyof Preset['values'])[]).every((k) => v[k] === p.values[k]));
}
