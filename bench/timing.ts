// Timing helpers shared by the benchmarks: warm-up, repetitions until a time budget, median.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `once` (which must await completion) after a warm-up until `budgetMs` or `maxReps`; returns median ms. */
export async function timeMedian(once: () => Promise<void>, budgetMs = 3000, maxReps = 10, minReps = 3): Promise<number> {
  await once();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxReps && (times.length < minReps || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  return median(times);
}
