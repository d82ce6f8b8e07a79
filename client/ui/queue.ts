// The queue panel: running jobs with live preview, progress bar, step k/n, it/s and ETA; queued jobs with their
// place in line; a cancel button on each; a DualParal job's blocks in its growing video. Items are keyed by job id and
// updated in place.
import type { JobState } from '../store.js';
import type { Job } from '../types.js';
import { fmtDuration, fmtRate, h } from './dom.js';
import { progressText, statusLabel } from './job-text.js';

interface Item {
  root: HTMLElement;
  img: HTMLImageElement;
  status: HTMLElement;
  bar: HTMLElement;
  stats: HTMLElement;
  cancel: HTMLButtonElement;
}

export function buildQueue(state: JobState, onCancel: (job: Job) => void): { root: HTMLElement; render(): void } {
  const list = h('div', { class: 'queue-list', id: 'queue-list' });
  const empty = h('div', { class: 'empty' }, 'Nothing queued. Write a prompt and press Generate (Ctrl+Enter).');
  const count = h('span', { class: 'count', id: 'queue-count' });
  const root = h('section', { class: 'card queue', id: 'queue' }, h('h2', {}, 'Queue ', count), empty, list);
  const items = new Map<string, Item>();

  function make(job: Job): Item {
    const img = h('img', { class: 'live-preview', alt: 'live preview', width: 160, height: 90 });
    const status = h('div', { class: 'status' });
    const fill = h('div', { class: 'fill' });
    const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0 }, fill);
    const stats = h('div', { class: 'stats' });
    const cancel = h('button', { type: 'button', class: 'ghost danger', onclick: () => onCancel(state.jobs.get(job.id) ?? job) }, 'Cancel');
    const rootEl = h('article', { class: 'queue-item', 'data-job': job.id },
      h('div', { class: 'thumb' }, img),
      h('div', { class: 'body' }, h('div', { class: 'prompt', title: job.request.prompt }, job.request.prompt), status, bar, stats),
      h('div', { class: 'side' }, cancel));
    return { root: rootEl, img, status, bar, stats, cancel };
  }

  function render(): void {
    const active = state.active();
    const keep = new Set(active.map((j) => j.id));
    for (const [id, it] of items) if (!keep.has(id)) {
      it.root.remove();
      items.delete(id);
    }
    active.forEach((job, i) => {
      let it = items.get(job.id);
      if (!it) {
        it = make(job);
        items.set(job.id, it);
      }
      if (list.children[i] !== it.root) list.insertBefore(it.root, list.children[i] ?? null);
      const live = state.live.get(job.id) ?? {};
      const total = job.progress.total || job.request.steps;
      const step = job.status === 'running' ? job.progress.step : 0;
      it.root.classList.toggle('running', job.status === 'running');
      it.status.textContent = statusLabel(job);
      it.status.className = `status badge ${job.status}`;
      (it.bar.firstChild as HTMLElement).style.width = `${total ? (100 * step) / total : 0}%`;
      it.bar.setAttribute('aria-valuemax', String(total));
      it.bar.setAttribute('aria-valuenow', String(step));
      it.stats.textContent = job.status === 'running' ? `${progressText(job, live)} · ${fmtRate(live.its ?? NaN)} · ETA ${fmtDuration(live.eta_s ?? NaN)}` : `${total} steps · waiting for a GPU`;
      if (live.preview && it.img.getAttribute('src') !== live.preview) it.img.src = live.preview;
      it.img.classList.toggle('blank', !live.preview);
      it.cancel.disabled = job.cancel_requested;
    });
    empty.hidden = active.length > 0;
    const running = active.filter((j) => j.status === 'running').length;
    count.textContent = active.length ? `${running} running · ${active.length - running} queued` : '';
  }
  return { root, render };
}
