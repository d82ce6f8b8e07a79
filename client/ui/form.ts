// The generation form: prompt, the model's example prompts (clickable), negative prompt, presets (the model's
// recommended settings first when it has a card), settings with inline validation messages (limits from
// GET /api/config), seed randomizer, and the Generate / Preview-in-browser buttons.
import { examplePrompts, matchPreset, presetsFor } from '../presets.js';
import type { JobRequest, JobRequestBody, ServerConfig } from '../types.js';
import { checkRequest, REQUEST_FIELDS, validateForm, validateLong, type FieldErrors, type LongField, type RawForm, type RequestField } from '../validation.js';
import { h, icon } from './dom.js';

const NUMERIC: { field: RequestField; label: string; step?: string; hint?: (c: ServerConfig) => string }[] = [
  { field: 'width', label: 'Width', step: '16', hint: (c) => `${c.limits.width.min}–${c.limits.width.max}, ×${c.limits.width.multiple_of}` },
  { field: 'height', label: 'Height', step: '16', hint: (c) => `${c.limits.height.min}–${c.limits.height.max}, ×${c.limits.height.multiple_of}` },
  { field: 'frames', label: 'Frames', hint: (c) => `${c.limits.frames.min}–${c.limits.frames.max}` },
  { field: 'fps', label: 'FPS', hint: (c) => `${c.limits.fps.min}–${c.limits.fps.max}` },
  { field: 'steps', label: 'Steps', hint: (c) => `${c.limits.steps.min}–${c.limits.steps.max}` },
  { field: 'guidance', label: 'Guidance', step: '0.5', hint: (c) => `${c.limits.guidance.min}–${c.limits.guidance.max}` },
];

export interface FormView {
  root: HTMLElement;
  read(): RawForm;
  fill(req: Partial<JobRequest>): void;
  /** Validates; shows messages inline; returns the body or null. */
  validate(): JobRequestBody | null;
  showErrors(errors: FieldErrors): void;
  setBanner(msg: string | null, kind?: 'error' | 'info'): void;
  setBusy(busy: boolean): void;
}

export function buildForm(cfg: ServerConfig, handlers: { onSubmit(body: JobRequestBody): void; onLocalPreview(body: JobRequestBody): void }): FormView {
  const inputs = new Map<RequestField, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>();
  const errorEls = new Map<RequestField, HTMLElement>();
  const errEl = (f: RequestField) => {
    const e = h('div', { class: 'field-error', id: `err-${f}`, role: 'alert' });
    errorEls.set(f, e);
    return e;
  };

  const examples = examplePrompts(cfg);
  const prompt = h('textarea', { id: 'f-prompt', name: 'prompt', rows: 3, placeholder: examples[0] ?? 'A corgi surfing a wave at sunset, cinematic, 35mm', maxlength: cfg.limits.prompt_max_chars });
  const card = cfg.model?.card;
  const exampleRow = examples.length
    ? h('div', { class: 'examples', id: 'examples', title: card ? `${card.name} knows only its training captions: ${card.promptTemplate}` : '' },
        h('span', { class: 'muted small' }, 'Try:'),
        ...examples.map((text) => h('button', { type: 'button', class: 'example', 'data-example': text, onclick: () => {
          prompt.value = text;
          if (touched) validateNow();
          prompt.focus();
        } }, text)))
    : null;
  const negative = h('textarea', { id: 'f-negative_prompt', name: 'negative_prompt', rows: 2, placeholder: 'blurry, low quality, watermark', maxlength: cfg.limits.prompt_max_chars });
  inputs.set('prompt', prompt);
  inputs.set('negative_prompt', negative);

  const mode = h('select', { id: 'f-guidance_mode', name: 'guidance_mode' }, ...cfg.guidance_modes.map((m) => h('option', { value: m }, m)));
  inputs.set('guidance_mode', mode);
  const seed = h('input', { id: 'f-seed', name: 'seed', type: 'text', inputmode: 'numeric', placeholder: 'random', autocomplete: 'off' });
  inputs.set('seed', seed);

  const presets = presetsFor(cfg);
  const presetButtons = presets.map((p) => {
    // A preset the server's model cannot make (e.g. 768x432 on a 256-pixel model) is shown but disabled.
    const bad = Object.keys(checkRequest({ ...cfg.defaults, prompt: 'x', ...p.values }, cfg));
    const title = bad.length ? `${p.hint} — beyond this server's limits (${bad.join(', ')}: see the hints below)` : p.hint;
    return h('button', { type: 'button', class: 'preset', 'data-preset': p.id, title, disabled: bad.length > 0, onclick: () => {
      fill({ ...p.values, ...(p.mode ? { guidance_mode: p.mode } : {}) });
      syncPreset();
    } }, h('span', { class: 'preset-name' }, p.label), h('span', { class: 'preset-hint' }, p.hint));
  });

  const numericFields = NUMERIC.map(({ field, label, step, hint }) => {
    const input = h('input', { id: `f-${field}`, name: field, type: 'number', step: step ?? '1', inputmode: 'decimal' });
    inputs.set(field, input);
    input.addEventListener('input', syncPreset);
    return h('label', { class: 'field' }, h('span', { class: 'label' }, label, h('span', { class: 'hint' }, hint?.(cfg) ?? '')), input, errEl(field));
  });

  // Long video (docs/long-video.md): a strategy, DualParal's block and context frames, clip parallelism's dual-scope.
  const strategies = cfg.long_strategies ?? [];
  const longSel = h('select', { id: 'f-long', name: 'long' }, h('option', { value: '' }, 'off'), ...strategies.map((x) => h('option', { value: x }, x === 'dualparal' ? 'DualParal (blocks, plays while it grows)' : x === 'clip-parallel' ? 'clip parallelism (one clip per GPU)' : x)));
  const blockIn = h('input', { id: 'f-block_frames', name: 'block_frames', type: 'number', step: '1', inputmode: 'numeric', placeholder: '8' });
  const contextIn = h('input', { id: 'f-context_frames', name: 'context_frames', type: 'number', step: '1', inputmode: 'numeric', placeholder: '4' });
  const scopeIn = h('input', { id: 'f-dual_scope', name: 'dual_scope', type: 'text', placeholder: 'window=8,top-k=16', autocomplete: 'off' });
  const longInputs: Record<LongField, HTMLInputElement | HTMLSelectElement> = { long: longSel, block_frames: blockIn, context_frames: contextIn, dual_scope: scopeIn };
  const longErr = new Map<LongField, HTMLElement>((['long', 'block_frames', 'context_frames', 'dual_scope'] as const).map((f) => [f, h('div', { class: 'field-error', id: `err-${f}`, role: 'alert' })]));
  const blockField = h('label', { class: 'field' }, h('span', { class: 'label' }, 'Block frames', h('span', { class: 'hint' }, 'B; frames = n·B + C')), blockIn, longErr.get('block_frames')!);
  const contextField = h('label', { class: 'field' }, h('span', { class: 'label' }, 'Context frames', h('span', { class: 'hint' }, 'C, 0–B')), contextIn, longErr.get('context_frames')!);
  const scopeField = h('label', { class: 'field' }, h('span', { class: 'label' }, 'Dual-scope', h('span', { class: 'hint' }, 'blank = defaults')), scopeIn, longErr.get('dual_scope')!);
  const syncLong = () => {
    blockField.hidden = contextField.hidden = longSel.value !== 'dualparal';
    scopeField.hidden = longSel.value !== 'clip-parallel';
  };
  longSel.addEventListener('change', syncLong);
  syncLong();
  const longRow = h('div', { class: 'grid', id: 'long-options', hidden: strategies.length === 0 },
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'Long video', h('span', { class: 'hint' }, 'progress per block')), longSel, longErr.get('long')!),
    blockField, contextField, scopeField);
  function readLong() {
    const raw = { long: longSel.value, block_frames: blockIn.value, context_frames: contextIn.value, dual_scope: scopeIn.value };
    const r = validateLong(raw, strategies);
    for (const [f, el] of longErr) {
      el.textContent = r.errors[f] ? `${f === 'long' ? 'Long video' : f === 'block_frames' ? 'Block frames' : f === 'context_frames' ? 'Context frames' : 'Dual-scope'} ${r.errors[f]}` : '';
      longInputs[f].classList.toggle('invalid', !!r.errors[f]);
    }
    return r.body;
  }

  const banner = h('div', { class: 'banner', id: 'form-banner', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'generate' }, 'Generate');
  const local = h('button', { type: 'button', class: 'secondary', id: 'preview-local', title: 'Run a preview on this computer’s GPU (WebGPU)' }, 'Preview in browser');

  const form = h(
    'form',
    { class: 'card form', id: 'job-form', novalidate: true },
    h('label', { class: 'field wide' }, h('span', { class: 'label' }, 'Prompt'), prompt, errEl('prompt')),
    ...(exampleRow ? [exampleRow] : []),
    h('label', { class: 'field wide' }, h('span', { class: 'label' }, 'Negative prompt'), negative, errEl('negative_prompt')),
    h('div', { class: 'presets' }, ...presetButtons),
    h('div', { class: 'grid' },
      ...numericFields,
      h('label', { class: 'field' }, h('span', { class: 'label' }, 'Guidance mode'), mode, errEl('guidance_mode')),
      h('label', { class: 'field' }, h('span', { class: 'label' }, 'Seed', h('span', { class: 'hint' }, 'blank = random')),
        h('div', { class: 'seed-row' }, seed, h('button', { type: 'button', class: 'icon', id: 'seed-random', title: 'New random seed', onclick: () => {
          seed.value = String(Math.floor(Math.random() * (cfg.limits.seed.max + 1)));
          validateNow();
        } }, icon('dice'))),
        errEl('seed')),
    ),
    longRow,
    banner,
    h('div', { class: 'actions' }, submit, local),
  );

  function read(): RawForm {
    const out = {} as RawForm;
    for (const f of REQUEST_FIELDS) out[f] = inputs.get(f)!.value;
    return out;
  }

  function fill(req: Partial<JobRequest>): void {
    for (const f of REQUEST_FIELDS) {
      const v = req[f];
      if (v !== undefined) inputs.get(f)!.value = String(v);
    }
    if ('long' in req || 'prompt' in req) {
      // A job's own request (rerun): its long options, or none.
      longSel.value = req.long ?? '';
      blockIn.value = req.block_frames === undefined ? '' : String(req.block_frames);
      contextIn.value = req.context_frames === undefined ? '' : String(req.context_frames);
      scopeIn.value = req.dual_scope ?? '';
      syncLong();
    }
    syncPreset();
    if (touched) validateNow();
  }

  function syncPreset(): void {
    const num = (f: RequestField) => Number(inputs.get(f)!.value);
    const p = matchPreset({ width: num('width'), height: num('height'), frames: num('frames'), steps: num('steps'), guidance: num('guidance'), fps: num('fps') }, presets);
    for (const b of presetButtons) b.classList.toggle('active', b.dataset.preset === p?.id);
  }

  function showErrors(errors: FieldErrors): void {
    for (const f of REQUEST_FIELDS) {
      const msg = errors[f];
      const el = errorEls.get(f);
      if (el) el.textContent = msg ? `${labelOf(f)} ${msg}` : '';
      inputs.get(f)!.classList.toggle('invalid', !!msg);
      inputs.get(f)!.setAttribute('aria-invalid', msg ? 'true' : 'false');
    }
  }

  let touched = false;
  function validateNow(): JobRequestBody | null {
    const { body, errors } = validateForm(read(), cfg);
    showErrors(errors);
    return body;
  }
  for (const el of inputs.values()) el.addEventListener('input', () => touched && validateNow());

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    touched = true;
    const body = validateNow();
    const long = readLong();
    if (body && long) handlers.onSubmit({ ...body, ...long });
  });
  local.addEventListener('click', () => {
    touched = true;
    const body = validateNow();
    if (body) handlers.onLocalPreview(body);
  });
  prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });

  fill({ ...cfg.defaults });
  return {
    root: form,
    read,
    fill,
    validate: validateNow,
    showErrors,
    setBanner(msg, kind = 'error') {
      banner.hidden = !msg;
      banner.textContent = msg ?? '';
      banner.className = `banner ${kind}`;
    },
    setBusy(busy) {
      submit.disabled = busy;
      submit.textContent = busy ? 'Submitting…' : 'Generate';
    },
  };
}

const LABELS: Partial<Record<RequestField, string>> = { fps: 'FPS', negative_prompt: 'Negative prompt', guidance_mode: 'Guidance mode' };

function labelOf(f: RequestField): string {
  return LABELS[f] ?? f.charAt(0).toUpperCase() + f.slice(1);
}

/** The local-preview button, for enabling/disabling from the app. */
export function localPreviewButton(root: HTMLElement): HTMLButtonElement {
  return root.querySelector<HTMLButtonElement>('#preview-local')!;
}
