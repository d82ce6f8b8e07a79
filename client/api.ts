// Typed fetch wrapper for the job server's REST API: bearer token on state-changing calls, JSON errors
// turned into ApiError (status, code, per-field messages) so the UI can show what went wrong.
import type { Job, JobRequestBody, ServerConfig } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly token: () => string | null,
    private readonly fetchFn: typeof fetch = globalThis.fetch.bind(globalThis),
  ) {}

  url(path: string): string {
    return new URL(path, this.base).toString();
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (method !== 'GET') {
      const t = this.token();
      if (t) headers.Authorization = `Bearer ${t}`;
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, 'network', `cannot reach the server at ${this.base} (${err instanceof Error ? err.message : String(err)}); is \`parallax serve\` running?`);
    }
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      /* non-JSON body */
    }
    if (!res.ok) {
      const e = (data ?? {}) as { error?: string; code?: string; fields?: { field: string; message: string }[] };
      throw new ApiError(res.status, e.code ?? 'http_error', e.error ?? `HTTP ${res.status} on ${method} ${path}`, e.fields ?? []);
    }
    return data as T;
  }

  config(): Promise<ServerConfig> {
    return this.call('GET', '/api/config');
  }
  /** One page of jobs, newest first; pass next_cursor back as `cursor` for the next (older) page. */
  listJobs(limit = 50, cursor?: string | null): Promise<{ jobs: Job[]; next_cursor: string | null }> {
    return this.call('GET', `/api/jobs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  }
  getJob(id: string): Promise<Job> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }
  submit(body: JobRequestBody): Promise<Job> {
    return this.call('POST', '/api/jobs', body);
  }
  cancel(id: string): Promise<Job> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
  }
  /** Deletes a finished job and its files (409 job_active while it is queued or running). */
  deleteJob(id: string): Promise<{ deleted: string }> {
    return this.call('DELETE', `/api/jobs/${encodeURIComponent(id)}`);
  }
}
