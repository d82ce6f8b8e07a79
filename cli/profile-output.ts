// `--profile` on the CLI: a Profiler whose table has "% of peak" columns (bench/peak.ts measures the adapter), and
// where its files go by default.
import { Profiler } from '../engine/gpu/profiler.js';
import { measurePeaks } from '../bench/peak.js';
export { writeProfile } from '../engine/gpu/profile-files.js';

export const PROFILE_HELP = 'profile the GPU work: per-dispatch GPU timestamps (host-timed where the adapter lacks timestamp-query) and host spans; writes a Chrome trace (open it in ui.perfetto.dev) and a per-op table';

/** A profiler that measures the adapter's peaks once, after the profiled work. */
export function newProfiler(): Profiler {
  return new Profiler({ measurePeaks });
}

/** The trace path for `--profile [file]`: the given file, else the output's name with .trace.json. */
export function tracePathFor(profile: string | boolean | undefined, out: string): string | undefined {
  if (!profile) return undefined;
  if (typeof profile === 'string') return profile;
  return out.replace(/\.[^./\\]+$/, '') + '.trace.json';
}
