// Timing helpers shared by the benchmarks: warm-up, repetitions until a time budget, best and median. Every column
// of a table uses the same statistic (best of the runs: on a shared CPU the other processes only ever add time).

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface RunTimes {
  /** Fastest run, ms. */
  best: number;
  median: number;
  runs: number[];
}

/** Runs `once` (which must await completion) after a warm-up until `budgetMs` or `maxReps`; returns best and median ms. */
export async function timeRuns(once: () => Promise<void>, budgetMs = 3000, maxReps = 10, minReps = 3): Promise<RunTimes> {
  await once();
  const runs: number[] = [];
  const start = performance.now();
  while (runs.length < maxReps && (runs.length < minReps || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await once();
    runs.push(performance.now() - t0);
  }
  return { best: Math.min(...runs), median: median(runs), runs };
}
