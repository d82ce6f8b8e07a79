// Vitest setup file (vitest.config.ts setupFiles): fails a test file whose code leaves a file handle to the garbage
// collector. Node closes such a FileHandle itself and warns "Closing file descriptor N on garbage collection" plus
// DEP0137 (a deprecation that will become an error). The warnings only come when GC runs, so after the file's tests
// this runs full GCs (gc exposed at runtime) and then fails the file if any such warning was seen.
// test/setup/fd-gc-guard.test.ts checks that a leaking fixture really fails.
import { afterAll } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const seen: string[] = [];

export function isFdGcWarning(w: Error & { code?: string }): boolean {
  return w.code === 'DEP0137' || /Closing file descriptor \d+ on garbage collection/.test(w.message);
}

process.on('warning', (w: Error & { code?: string }) => {
  if (isFdGcWarning(w)) seen.push(w.code ? `[${w.code}] ${w.message}` : w.message);
});

function exposedGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

afterAll(async () => {
  const gc = exposedGc();
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
  }
  if (seen.length) {
    const list = [...new Set(seen)].join('\n  ');
    seen.length = 0;
    throw new Error(`a file handle was left to the garbage collector (close every FileHandle/ByteSource/reader explicitly, in a finally):\n  ${list}`);
  }
});
