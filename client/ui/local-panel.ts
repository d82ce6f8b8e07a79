// The "Preview in browser" panel: WebGPU status (adapter, f16), live progress of the worker run, and the
// resulting frames played in a loop on a canvas at the request's fps.
import type { LocalPreview } from '../local-preview.js';
import type { JobRequestBody } from '../types.js';
import type { LocalPreviewResult, WorkerInfo } from '../worker/protocol.js';
import { drawRgba, fmtDuration, fmtRate, h, plural } from './dom.js';

export interface LocalPanel {
  root: HTMLElement;
  setInfo(info: WorkerInfo | null): void;
  run(body: JobRequestBody): Promise<void>;
}

export function buildLocalPanel(preview: LocalPreview | null, onGpuInfo: (info: WorkerInfo | null) => void, modelUrl?: string, modelName?: string): LocalPanel {
  const status = h('div', { class: 'local-status', id: 'local-status' }, preview ? 'Starting the WebGPU worker…' : 'WebGPU is not available in this browser: videos are generated on the server only.');
  const canvas = h('canvas', { id: 'local-canvas', width: 512, height: 288 });
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'progress' }, fill);
  const stats = h('div', { class: 'stats', id: 'local-stats' });
  const stage = h('div', { class: 'stage', hidden: true }, canvas);
  const note = h('div', { class: 'muted small', id: 'local-note' }, modelUrl
    ? `Runs ${modelName ?? 'the server’s model'} in a Web Worker on this computer’s GPU, streaming the server’s checkpoint by HTTP range reads: keep it small (few frames, steps and pixels).`
    : 'Runs in a Web Worker on this computer’s GPU. The server has no model (no --model, and no trained default model in models/shapes), so this is a stand-in sampler on the engine’s kernels.');
  const root = h('section', { class: 'card local', id: 'local' }, h('h2', {}, 'Preview in browser'), status, stage, bar, stats, note);
  bar.hidden = true;
  let info: WorkerInfo | null = null;
  let timer: number | null = null;

  function play(result: LocalPreviewResult): void {
    if (timer !== null) clearInterval(timer);
    let f = 0;
    const tick = () => {
      const frame = result.frames[f % result.frames.length];
      if (frame) drawRgba(canvas, frame);
      f++;
    };
    tick();
    timer = window.setInterval(tick, 1000 / Math.max(1, result.fps));
  }

  const panel: LocalPanel = {
    root,
    setInfo(i) {
      info = i;
      onGpuInfo(i);
      if (!i) return;
      status.textContent = i.webgpu
        ? `WebGPU ready: ${i.adapter} · shader-f16 ${i.f16 ? 'yes' : 'no (f32)'}`
        : `WebGPU is not available in this browser (${i.error}): videos are generated on the server only.`;
      status.classList.toggle('bad', !i.webgpu);
    },
    async run(body) {
      if (!preview || !info?.webgpu) {
        status.textContent = 'WebGPU is not available here: use Generate to run on the server.';
        status.classList.add('bad');
        return;
      }
      if (timer !== null) clearInterval(timer);
      canvas.width = Math.min(512, body.width);
      canvas.height = Math.round((canvas.width * body.height) / body.width);
      stage.hidden = false;
      bar.hidden = false;
      fill.style.width = '0%';
      root.dataset.state = 'running';
      stats.textContent = 'Starting…';
      const seed = body.seed ?? Math.floor(Math.random() * 0xffffffff);
      // Progress comes through a comlink proxy (its own message port): it may arrive after the result.
      let finished = false;
      try {
        const result = await preview.run({ ...body, seed, model_url: modelUrl }, (p) => {
          if (finished) return;
          fill.style.width = `${(100 * p.step) / p.total}%`;
          stats.textContent = `Step ${p.step}/${p.total} · ${fmtRate(p.its)} · ETA ${fmtDuration(p.eta_s)}`;
          if (p.preview) drawRgba(canvas, p.preview);
        });
        finished = true;
        stats.textContent = `Done: ${plural(result.frames.length, 'frame')} in ${(result.ms / 1000).toFixed(2)} s (${result.kind}, seed ${seed}) · playing at ${result.fps} fps`;
        fill.style.width = '100%';
        root.dataset.state = 'done';
        root.dataset.frames = String(result.frames.length);
        play(result);
      } catch (err) {
        finished = true;
        root.dataset.state = 'error';
        stats.textContent = `Preview failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    },
  };
  return panel;
}
