// Host spans for `--profile`: named intervals on the host's performance.now() timeline (pipeline stages, steps,
// waits), recorded into whichever sink is active (the running Profiler) and free when none is. Imports nothing, so
// the device and the profiler can both use it without importing each other.

export interface HostSpan {
  name: string;
  cat: string;
  startMs: number;
  durMs: number;
}

/** Where spans go: the Profiler implements this. */
export interface HostSpanSink {
  readonly host: HostSpan[];
}

let active: HostSpanSink | null = null;
const noop = () => undefined;

/** Makes `sink` the active recorder (null: none). Returns the previous one. */
export function setHostSpanSink(sink: HostSpanSink | null): HostSpanSink | null {
  const prev = active;
  active = sink;
  return prev;
}

export function activeHostSpanSink(): HostSpanSink | null {
  return active;
}

/** Starts a host span on the active sink (none: a no-op); call the returned function to end it. */
export function hostSpan(name: string, cat = 'host'): () => void {
  const p = active;
  if (!p) return noop;
  const startMs = performance.now();
  return () => {
    p.host.push({ name, cat, startMs, durMs: performance.now() - startMs });
  };
}

/** Runs `f` inside a host span. */
export async function withHostSpan<T>(name: string, cat: string, f: () => Promise<T>): Promise<T> {
  const end = hostSpan(name, cat);
  try {
    return await f();
  } finally {
    end();
  }
}
