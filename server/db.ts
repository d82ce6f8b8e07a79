// SQLite persistence of jobs (better-sqlite3, WAL). Schema versioned with PRAGMA user_version; each entry
// of MIGRATIONS upgrades the database by one version inside a transaction.
import Database from 'better-sqlite3';
import { jobTotalSteps } from './long-job.js';
import type { JobRequest } from './schema.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export interface JobOutputs {
  /** Paths relative to the data directory. */
  video: string;
  frames: string[];
  sidecar: string;
}

export interface JobRecord {
  seq: number;
  id: string;
  status: JobStatus;
  request: JobRequest;
  clientId: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  step: number;
  totalSteps: number;
  error: string | null;
  outputs: JobOutputs | null;
  group: number | null;
}

const MIGRATIONS: string[] = [
  // v1: jobs table.
  `CREATE TABLE jobs (
     seq          INTEGER PRIMARY KEY AUTOINCREMENT,
     id           TEXT NOT NULL UNIQUE,
     status       TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled','interrupted')),
     request      TEXT NOT NULL,
     client_id    TEXT NOT NULL,
     created_at   INTEGER NOT NULL,
     started_at   INTEGER,
     finished_at  INTEGER,
     step         INTEGER NOT NULL DEFAULT 0,
     total_steps  INTEGER NOT NULL,
     error        TEXT,
     outputs      TEXT,
     group_index  INTEGER
   );
   CREATE INDEX jobs_status_seq ON jobs(status, seq);
   CREATE INDEX jobs_client_status ON jobs(client_id, status);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

interface Row {
  seq: number;
  id: string;
  status: JobStatus;
  request: string;
  client_id: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  step: number;
  total_steps: number;
  error: string | null;
  outputs: string | null;
  group_index: number | null;
}

function toRecord(r: Row): JobRecord {
  return {
    seq: r.seq,
    id: r.id,
    status: r.status,
    request: JSON.parse(r.request) as JobRequest,
    clientId: r.client_id,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    step: r.step,
    totalSteps: r.total_steps,
    error: r.error,
    outputs: r.outputs ? (JSON.parse(r.outputs) as JobOutputs) : null,
    group: r.group_index,
  };
}

export interface ListOptions {
  /** Return jobs with seq < before (newest first). */
  before?: number;
  limit: number;
  status?: JobStatus;
}

function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO jobs (id, status, request, client_id, created_at, total_steps) VALUES (@id, 'queued', @request, @clientId, @createdAt, @totalSteps)`,
    ),
    get: db.prepare(`SELECT * FROM jobs WHERE id = ?`),
    start: db.prepare(`UPDATE jobs SET status = 'running', started_at = ?, group_index = ?, step = 0 WHERE id = ? AND status = 'queued'`),
    progress: db.prepare(`UPDATE jobs SET step = ? WHERE id = ? AND status = 'running'`),
    finish: db.prepare(
      `UPDATE jobs SET status = @status, finished_at = @at, error = @error, outputs = @outputs WHERE id = @id AND status IN ('queued','running')`,
    ),
    queued: db.prepare(`SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq`),
    countQueuedClient: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE client_id = ? AND status = 'queued'`),
    countByStatus: db.prepare(`SELECT status, COUNT(*) AS n FROM jobs GROUP BY status`),
    remove: db.prepare(`DELETE FROM jobs WHERE id = ? AND status IN ('succeeded','failed','cancelled','interrupted')`),
    runningIds: db.prepare(`SELECT id FROM jobs WHERE status = 'running'`),
    interruptRunning: db.prepare(
      `UPDATE jobs SET status = 'interrupted', finished_at = ?, error = 'server stopped while the job was running' WHERE status = 'running'`,
    ),
  };
}

export class JobStore {
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<typeof prepareStatements>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.stmts = prepareStatements(this.db);
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this server supports (${MIGRATIONS.length}); upgrade Parallax or use another --data-dir`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  insert(id: string, request: JobRequest, clientId: string, createdAt: number): JobRecord {
    this.stmts.insert.run({ id, request: JSON.stringify(request), clientId, createdAt, totalSteps: jobTotalSteps(request) });
    return this.get(id)!;
  }

  get(id: string): JobRecord | undefined {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Marks a queued job running; false if it was no longer queued (e.g. cancelled meanwhile). */
  markRunning(id: string, group: number, at: number): boolean {
    return this.stmts.start.run(at, group, id).changes === 1;
  }

  setProgress(id: string, step: number): void {
    this.stmts.progress.run(step, id);
  }

  /** Moves a queued or running job to a final status; false if it was already final. */
  finish(id: string, status: JobStatus, at: number, error: string | null = null, outputs: JobOutputs | null = null): boolean {
    const res = this.stmts.finish.run({ id, status, at, error, outputs: outputs ? JSON.stringify(outputs) : null });
    return res.changes === 1;
  }

  /** Queued jobs in FIFO order. */
  queuedJobs(): JobRecord[] {
    return (this.stmts.queued.all() as Row[]).map(toRecord);
  }

  countQueuedForClient(clientId: string): number {
    return (this.stmts.countQueuedClient.get(clientId) as { n: number }).n;
  }

  counts(): Record<JobStatus, number> {
    const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of this.stmts.countByStatus.all() as { status: JobStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  /** Restart recovery: every job left 'running' by a previous process becomes 'interrupted'; returns their ids. */
  interruptRunning(at: number): string[] {
    return this.db.transaction(() => {
      const ids = (this.stmts.runningIds.all() as { id: string }[]).map((r) => r.id);
      this.stmts.interruptRunning.run(at);
      return ids;
    })();
  }

  /** Deletes a job in a final status; false if it does not exist or is still queued/running. */
  remove(id: string): boolean {
    return this.stmts.remove.run(id).changes === 1;
  }

  list(opts: ListOptions): JobRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (opts.before !== undefined) {
      where.push('seq < ?');
      params.push(opts.before);
    }
    if (opts.status) {
      where.push('status = ?');
      params.push(opts.status);
    }
    const sql = `SELECT * FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`;
    params.push(opts.limit);
    return (this.db.prepare(sql).all(...params) as Row[]).map(toRecord);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
