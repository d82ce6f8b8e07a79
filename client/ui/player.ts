// The video player for a finished job: <video> on the job's MP4 (first frame as poster), its settings, and
// download links; and for a running DualParal job, the video while it grows, block by block (Media Source Extensions
// where the browser takes the fragmented MP4, else the <video> reloaded on every block: growing-video.ts).
import { GrowingLoader, growingMode, httpRangeFetch, mseSink } from '../growing-video.js';
import type { Job } from '../types.js';
import { h } from './dom.js';
import { settingsLine } from './job-text.js';

export interface Player {
  root: HTMLElement;
  show(job: Job): void;
  /** A running job's block `block` of `blocks` is in its growing video (now `bytes` long): play what is there. */
  block(job: Job, block: number, blocks: number, bytes: number): void;
  clear(): void;
  current(): string | null;
}

export function buildPlayer(): Player {
  const video = h('video', { id: 'player-video', controls: true, loop: true, muted: true, playsinline: true, preload: 'metadata' });
  const caption = h('div', { class: 'caption', id: 'player-caption' });
  const links = h('div', { class: 'card-actions' });
  const empty = h('div', { class: 'empty' }, 'Pick a finished job to play it.');
  const stage = h('div', { class: 'stage', hidden: true }, video);
  const root = h('section', { class: 'card player', id: 'player' }, h('h2', {}, 'Player'), empty, stage, caption, links);
  let id: string | null = null;
  let growing: { id: string; loader?: GrowingLoader } | null = null;
  const mode = growingMode(typeof MediaSource === 'undefined' ? undefined : MediaSource);
  return {
    root,
    current: () => id,
    block(job, block, blocks, bytes) {
      if (id !== job.id || !growing) {
        id = job.id;
        growing = { id: job.id };
        empty.hidden = true;
        stage.hidden = false;
        video.removeAttribute('poster');
        video.style.aspectRatio = `${job.request.width} / ${job.request.height}`;
        if (mode === 'mse') growing.loader = new GrowingLoader(httpRangeFetch(`/api/jobs/${job.id}/stream`), mseSink(video));
        links.replaceChildren();
      }
      caption.replaceChildren(
        h('div', { class: 'prompt' }, job.request.prompt),
        h('div', { class: 'muted', id: 'player-blocks' }, `Growing: block ${block + 1} of ${blocks} in the video (${mode === 'mse' ? 'Media Source Extensions' : 'reloaded per block'})`),
        h('div', { class: 'muted' }, settingsLine(job.request)),
      );
      if (growing.loader) void growing.loader.onBlock(bytes);
      else {
        // Reload: the server answers the <video>'s range request with the bytes there so far.
        const t = video.currentTime;
        video.src = `/api/jobs/${job.id}/stream?block=${block}`;
        video.addEventListener('loadedmetadata', () => (video.currentTime = Math.min(t, video.duration || t)), { once: true });
      }
      void video.play().catch(() => {
        /* autoplay may be refused; controls are there */
      });
    },
    clear() {
      id = null;
      growing = null;
      video.removeAttribute('src');
      video.removeAttribute('poster');
      video.load();
      empty.hidden = false;
      stage.hidden = true;
      caption.replaceChildren();
      links.replaceChildren();
    },
    show(job: Job) {
      if (!job.outputs) return;
      if (growing?.id === job.id && growing.loader) {
        // The growing video becomes the whole one in place: the rest of the bytes, then the links.
        void growing.loader.onFinished();
        growing = null;
        caption.replaceChildren(h('div', { class: 'prompt' }, job.request.prompt), h('div', { class: 'muted' }, settingsLine(job.request)));
        links.replaceChildren(
          h('a', { class: 'button ghost', href: job.outputs.video, download: `parallax-${job.id.slice(0, 8)}.mp4` }, 'Download MP4'),
          h('a', { class: 'button ghost', href: job.outputs.sidecar, download: `parallax-${job.id.slice(0, 8)}.json` }, 'Sidecar JSON'),
        );
        return;
      }
      growing = null;
      id = job.id;
      empty.hidden = true;
      stage.hidden = false;
      video.poster = job.outputs.frames[0] ?? '';
      if (video.getAttribute('src') !== job.outputs.video) {
        video.src = job.outputs.video;
        void video.play().catch(() => {
          /* autoplay may be refused; controls are there */
        });
      }
      video.style.aspectRatio = `${job.request.width} / ${job.request.height}`;
      caption.replaceChildren(h('div', { class: 'prompt' }, job.request.prompt), h('div', { class: 'muted' }, settingsLine(job.request)));
      links.replaceChildren(
        h('a', { class: 'button ghost', href: job.outputs.video, download: `parallax-${job.id.slice(0, 8)}.mp4` }, 'Download MP4'),
        h('a', { class: 'button ghost', href: job.outputs.sidecar, download: `parallax-${job.id.slice(0, 8)}.json` }, 'Sidecar JSON'),
      );
    },
  };
}
