// The video player for a finished job: <video> on the job's MP4 (first frame as poster), its settings, and
// download links.
import type { Job } from '../types.js';
import { h } from './dom.js';
import { settingsLine } from './job-text.js';

export function buildPlayer(): { root: HTMLElement; show(job: Job): void; clear(): void; current(): string | null } {
  const video = h('video', { id: 'player-video', controls: true, loop: true, muted: true, playsinline: true, preload: 'metadata' });
  const caption = h('div', { class: 'caption', id: 'player-caption' });
  const links = h('div', { class: 'card-actions' });
  const empty = h('div', { class: 'empty' }, 'Pick a finished job to play it.');
  const stage = h('div', { class: 'stage', hidden: true }, video);
  const root = h('section', { class: 'card player', id: 'player' }, h('h2', {}, 'Player'), empty, stage, caption, links);
  let id: string | null = null;
  return {
    root,
    current: () => id,
    clear() {
      id = null;
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
