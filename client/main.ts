// Web app entry: token from #token=/localStorage, config and job list from the server, live events over the
// WebSocket, and the panels (form, queue, player, gallery, in-browser preview) wired together.
import './styles.css';
import { ApiClient, ApiError } from './api.js';
import { EventFeed, eventsUrl, type ConnectionState } from './events.js';
import { LocalPreview } from './local-preview.js';
import { JobState } from './store.js';
import { TokenStore } from './token.js';
import { UnknownJobFetcher } from './unknown-jobs.js';
import type { Job, JobRequestBody, ServerConfig } from './types.js';
import { $, h, icon } from './ui/dom.js';
import { buildForm } from './ui/form.js';
import { buildGallery } from './ui/gallery.js';
import { buildLocalPanel } from './ui/local-panel.js';
import { buildPlayer } from './ui/player.js';
import { buildQueue } from './ui/queue.js';
import { askToken } from './ui/token-dialog.js';

declare global {
  interface Window {
    /** Read by the end-to-end test. */
    __parallaxApp?: { ready: boolean; connection: ConnectionState; feed?: EventFeed; error?: string };
  }
}

const tokens = new TokenStore(localStorage);
tokens.adoptFromLocation(location, (rest) => history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`));
const api = new ApiClient(location.origin, () => tokens.get());
const state = new JobState();
window.__parallaxApp = { ready: false, connection: 'closed' };

async function main(): Promise<void> {
  const app = $('#app');
  let cfg: ServerConfig;
  try {
    cfg = await api.config();
  } catch (err) {
    app.replaceChildren(h('div', { class: 'boot bad' }, `Cannot load the server configuration: ${err instanceof Error ? err.message : String(err)}`));
    window.__parallaxApp!.error = String(err);
    return;
  }

  const conn = h('span', { class: 'pill', id: 'conn' }, 'connecting…');
  const gpuPill = h('span', { class: 'pill', id: 'gpu-pill', title: 'In-browser WebGPU' }, 'WebGPU …');
  const tokenBtn = h('button', { type: 'button', class: 'pill button-pill', id: 'token-button', onclick: () => void changeToken('Enter the API token printed by the server.') }, icon('key'), h('span', { id: 'token-label' }, tokens.get() ? 'Token set' : 'Set token'));
  const tokenLabel = tokenBtn.querySelector('#token-label')!;
  const header = h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', { class: 'logo' }), 'Parallax', h('span', { class: 'muted small', id: 'server-info' }, ` text-to-video · server ${cfg.version} · ${cfg.groups} GPU group${cfg.groups === 1 ? '' : 's'}${cfg.model?.card ? ` · model: ${cfg.model.card.name}` : ''}`)),
    h('div', { class: 'pills' }, gpuPill, conn, tokenBtn));

  const player = buildPlayer();
  const preview = LocalPreview.create();
  const local = buildLocalPanel(preview, (info) => {
    gpuPill.textContent = info?.webgpu ? `WebGPU ✓ ${info.f16 ? 'f16' : 'f32'}` : 'WebGPU ✗';
    gpuPill.className = `pill ${info?.webgpu ? 'ok' : 'bad'}`;
    gpuPill.title = info?.webgpu ? `In-browser WebGPU: ${info.adapter}` : `No in-browser WebGPU: ${info?.error ?? 'navigator.gpu missing'}`;
  }, cfg.model ? new URL(cfg.model.url, location.href).href : undefined, cfg.model?.card?.name ?? cfg.model?.name);
  if (!preview) local.setInfo({ webgpu: false, error: 'navigator.gpu is missing' });
  else void preview.init().then(local.setInfo, (err: unknown) => local.setInfo({ webgpu: false, error: String(err) }));

  const form = buildForm(cfg, {
    onSubmit: (body) => void submit(body),
    onLocalPreview: (body) => void local.run(body),
  });
  const queue = buildQueue(state, (job) => void cancel(job));
  const gallery = buildGallery(state, {
    play: (job) => {
      player.show(job);
      player.root.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    },
    rerun: (job) => {
      form.fill(job.request);
      void submit({ ...job.request });
    },
    cancel: (job) => void cancel(job),
    remove: (job) => void remove(job),
    loadMore: () => void loadMore(),
  });

  app.replaceChildren(header, h('main', { class: 'layout' },
    h('div', { class: 'col left' }, form.root, local.root),
    h('div', { class: 'col right' }, queue.root, player.root)),
    h('div', { class: 'layout-wide' }, gallery.root));

  let autoPlay: string | null = null;
  /** Plays a finished job (the one submitted from this tab, or any when nothing plays) or reports this tab's failed one. */
  function settle(id: string): void {
    const j = state.jobs.get(id);
    if (!j && player.current() === id) player.clear();
    if (j?.status === 'succeeded' && j.outputs && (autoPlay === id || player.current() === null || player.current() === id)) {
      autoPlay = null;
      player.show(j);
    }
    // A job submitted from this tab that ends without a video: say so next to the Generate button.
    if (autoPlay === id && j && (j.status === 'failed' || j.status === 'interrupted' || j.status === 'cancelled')) {
      autoPlay = null;
      if (j.status !== 'cancelled') form.setBanner(`The job ${j.status === 'failed' ? 'failed' : 'was interrupted'}: ${j.error ?? 'no reason given'}`);
    }
  }
  state.onChange((changed) => {
    queue.render();
    gallery.render();
    for (const id of changed) settle(id);
  });

  async function changeToken(reason: string): Promise<boolean> {
    const t = await askToken(reason, tokens.get());
    if (!t) return false;
    tokens.set(t);
    tokenLabel.textContent = 'Token set';
    return true;
  }

  async function authed<T>(call: () => Promise<T>): Promise<T> {
    if (!tokens.get() && !(await changeToken('Submitting, cancelling and deleting jobs need the API token.'))) {
      throw new ApiError(401, 'unauthorized', 'no API token: press “Set token” and paste the token the server printed');
    }
    try {
      return await call();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        tokenLabel.textContent = 'Token rejected';
        if (await changeToken('The server rejected the token (401 Unauthorized). Paste the token printed by `parallax serve` (or stored in <data-dir>/token).')) return call();
      }
      throw err;
    }
  }

  async function submit(body: JobRequestBody): Promise<void> {
    form.setBusy(true);
    form.setBanner(null);
    try {
      const job = await authed(() => api.submit(body));
      autoPlay = job.id;
      state.upsert(job);
      // A job can end (a WebSocket event) before its submit answers; upsert then keeps the final state and emits
      // nothing, so settle it here.
      settle(job.id);
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.fields.length) form.showErrors(Object.fromEntries(err.fields.map((f) => [f.field, f.message])));
        const hint = err.status === 401 ? ' Press “Set token” to enter it.' : err.status === 429 || err.status === 503 ? ' Try again in a few seconds.' : '';
        form.setBanner(`${err.message}${hint}`);
      } else form.setBanner(String(err));
    } finally {
      form.setBusy(false);
    }
  }

  async function cancel(job: Job): Promise<void> {
    try {
      state.upsert(await authed(() => api.cancel(job.id)));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_finished') return void refresh();
      form.setBanner(`Cancel failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async function remove(job: Job): Promise<void> {
    try {
      await authed(() => api.deleteJob(job.id));
      state.remove(job.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return void state.remove(job.id);
      form.setBanner(`Delete failed: ${err instanceof Error ? err.message : String(err)}`);
      gallery.render();
    }
  }

  // The gallery shows the newest PAGE jobs, and older pages on demand ("Load older jobs"); a refetch (start,
  // reconnect) reloads as many pages as were loaded.
  const PAGE = 50;
  let pagesLoaded = 1;
  let nextCursor: string | null = null;
  async function refresh(): Promise<void> {
    try {
      const jobs: Job[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { jobs: Job[]; next_cursor: string | null } = await api.listJobs(PAGE, cursor);
        jobs.push(...page.jobs);
        cursor = page.next_cursor;
        pages++;
      } while (cursor && pages < pagesLoaded);
      nextCursor = cursor;
      state.replaceAll(jobs);
      gallery.setMore(nextCursor !== null);
    } catch (err) {
      form.setBanner(`Cannot load the job list: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async function loadMore(): Promise<void> {
    if (!nextCursor) return;
    gallery.setMore(true, true);
    try {
      const page = await api.listJobs(PAGE, nextCursor);
      pagesLoaded++;
      nextCursor = page.next_cursor;
      state.addPage(page.jobs);
    } catch (err) {
      form.setBanner(`Cannot load older jobs: ${err instanceof Error ? err.message : String(err)}`);
    }
    gallery.setMore(nextCursor !== null);
  }

  await refresh();
  queue.render();
  gallery.render();

  const feed = new EventFeed({ url: eventsUrl(location.origin) });
  window.__parallaxApp!.feed = feed;
  feed.onState((s, info) => {
    window.__parallaxApp!.connection = s;
    conn.className = `pill ${s === 'open' ? 'ok' : s === 'closed' ? 'bad' : 'warn'}`;
    conn.textContent = s === 'open' ? '● Live' : s === 'connecting' ? '● Connecting…' : s === 'closed' ? '● Offline' : info.retryInMs !== undefined ? `● Reconnecting in ${Math.ceil(info.retryInMs / 1000)} s` : '● Reconnecting…';
    conn.title = s === 'open' ? 'Live updates over WebSocket' : 'Live updates are paused; the queue is refetched when the connection is back';
  });
  const unknownJobs = new UnknownJobFetcher((id) => api.getJob(id).then((j) => state.upsert(j)));
  feed.onMessage((ev) => {
    const { unknown } = state.apply(ev);
    // A DualParal job submitted from this tab (or any, when nothing plays) plays while it grows.
    if (ev.type === 'block') {
      const j = state.jobs.get(ev.jobId);
      if (j && (autoPlay === ev.jobId || player.current() === null || player.current() === ev.jobId)) player.block(j, ev.block, ev.blocks, ev.bytes);
    }
    if (unknown) unknownJobs.request(unknown);
  });
  feed.onReconnect(() => void refresh());
  feed.subscribe('*');
  feed.start();
  window.__parallaxApp!.ready = true;
}

void main();
