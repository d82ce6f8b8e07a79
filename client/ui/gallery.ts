// The gallery of past jobs (newest first): thumbnail, prompt, settings, status; play, re-run (one click:
// fills the form and submits), MP4 and sidecar downloads, cancel while active. Keyed by job id, updated in place.
import type { JobState } from '../store.js';
import { FINAL_STATUSES, type Job } from '../types.js';
import { fmtTime, h } from './dom.js';
import { settingsLine, statusLabel } from './job-text.js';

export interface GalleryActions {
  play(job: Job): void;
  rerun(job: Job): void;
  cancel(job: Job): void;
  /** Deletes a finished job (asked for after a second, confirming click). */
  remove(job: Job): void;
  /** Loads the next page of older jobs. */
  loadMore(): void;
}

interface Card {
  root: HTMLElement;
  thumb: HTMLImageElement;
  badge: HTMLElement;
  meta: HTMLElement;
  actions: HTMLElement;
  key: string;
}

export function buildGallery(state: JobState, act: GalleryActions): { root: HTMLElement; render(): void; setMore(more: boolean, busy?: boolean): void } {
  const grid = h('div', { class: 'gallery-grid', id: 'gallery-grid' });
  const empty = h('div', { class: 'empty' }, 'Finished videos appear here.');
  const more = h('button', { type: 'button', class: 'secondary', id: 'gallery-more', hidden: true, onclick: () => act.loadMore() }, 'Load older jobs');
  const root = h('section', { class: 'card gallery', id: 'gallery' }, h('h2', {}, 'Gallery'), empty, grid, h('div', { class: 'actions' }, more));
  const cards = new Map<string, Card>();

  function actionsFor(job: Job): HTMLElement[] {
    const get = () => state.jobs.get(job.id) ?? job;
    const out: HTMLElement[] = [];
    if (job.status === 'succeeded' && job.outputs) {
      out.push(h('button', { type: 'button', class: 'ghost', 'data-action': 'play', onclick: () => act.play(get()) }, '▶ Play'));
    }
    out.push(h('button', { type: 'button', class: 'ghost', 'data-action': 'rerun', title: 'Fill the form with these settings and submit', onclick: () => act.rerun(get()) }, '↻ Re-run'));
    if (job.outputs) {
      out.push(h('a', { class: 'button ghost', 'data-action': 'mp4', href: job.outputs.video, download: `parallax-${job.id.slice(0, 8)}.mp4` }, 'MP4'));
      out.push(h('a', { class: 'button ghost', 'data-action': 'sidecar', href: job.outputs.sidecar, download: `parallax-${job.id.slice(0, 8)}.json` }, 'Sidecar'));
    }
    if (!FINAL_STATUSES.includes(job.status)) {
      out.push(h('button', { type: 'button', class: 'ghost danger', 'data-action': 'cancel', disabled: job.cancel_requested, onclick: () => act.cancel(get()) }, 'Cancel'));
    } else {
      // Two clicks: "Delete" arms the button for 4 s as "Delete?", a second click deletes.
      const del: HTMLButtonElement = h('button', { type: 'button', class: 'ghost danger', 'data-action': 'delete', title: 'Delete this job and its files', onclick: () => {
        if (del.dataset.armed === '1') {
          del.disabled = true;
          act.remove(get());
          return;
        }
        del.dataset.armed = '1';
        del.textContent = 'Delete?';
        setTimeout(() => {
          del.dataset.armed = '';
          del.textContent = 'Delete';
          del.disabled = false;
        }, 4000);
      } }, 'Delete');
      out.push(del);
    }
    return out;
  }

  function make(job: Job): Card {
    const thumb = h('img', { class: 'thumb-img', alt: '', loading: 'lazy' });
    const badge = h('span', { class: 'badge' });
    const meta = h('div', { class: 'meta' });
    const actions = h('div', { class: 'card-actions' });
    const rootEl = h('article', { class: 'gallery-item', 'data-job': job.id },
      h('div', { class: 'thumb', onclick: () => {
        const j = state.jobs.get(job.id) ?? job;
        if (j.outputs) act.play(j);
      } }, thumb, badge),
      h('div', { class: 'prompt', title: job.request.prompt }, job.request.prompt),
      meta,
      actions);
    return { root: rootEl, thumb, badge, meta, actions, key: '' };
  }

  function render(): void {
    const jobs = state.sorted();
    const keep = new Set(jobs.map((j) => j.id));
    for (const [id, c] of cards) if (!keep.has(id)) {
      c.root.remove();
      cards.delete(id);
    }
    jobs.forEach((job, i) => {
      let c = cards.get(job.id);
      if (!c) {
        c = make(job);
        cards.set(job.id, c);
      }
      if (grid.children[i] !== c.root) grid.insertBefore(c.root, grid.children[i] ?? null);
      const live = state.live.get(job.id);
      const src = job.outputs?.frames[0] ?? live?.preview ?? '';
      if (src && c.thumb.getAttribute('src') !== src) c.thumb.src = src;
      c.thumb.classList.toggle('blank', !src);
      c.badge.textContent = job.status === 'running' ? `${statusLabel(job)} · ${job.progress.step}/${job.progress.total || job.request.steps}` : statusLabel(job);
      c.badge.className = `badge ${job.status}`;
      c.meta.textContent = '';
      c.meta.append(h('div', {}, settingsLine(job.request)), h('div', { class: 'muted' }, fmtTime(job.created_at), job.error ? h('span', { class: 'error-text', title: job.error }, ` · ${job.error}`) : null));
      const key = `${job.status}|${job.cancel_requested}|${!!job.outputs}`;
      if (key !== c.key) {
        c.key = key;
        c.actions.replaceChildren(...actionsFor(job));
      }
    });
    empty.hidden = jobs.length > 0;
  }
  return {
    root,
    render,
    setMore(has, busy = false) {
      more.hidden = !has;
      more.disabled = busy;
      more.textContent = busy ? 'Loading…' : 'Load older jobs';
    },
  };
}
