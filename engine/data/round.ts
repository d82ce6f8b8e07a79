// Python's round() for the ports of PySceneDetect's arithmetic (analysis size, edge kernel size).

/** Python's round(): halves to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
