// A small loss-curve picture (RGB, browser-safe): the smoothed loss against the step on a log-scale y axis, with
// axes, a gridline and label per decade of loss, and the first and last step under the x axis. Labels use a
// built-in 3x5 pixel font (digits, '.', 'e', '-'), so nothing but the pixels is needed.

const FONT: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111', '4': '101101111001001',
  '5': '111100111001111', '6': '111100111101111', '7': '111001001001001', '8': '111101111101111', '9': '111101111001111',
  '.': '000000000000010', 'e': '000111111100111', '-': '000000111000000', ' ': '000000000000000',
};

/** Exponential moving average with bias correction (as TensorBoard's smoothing): s_t = a s + (1 - a) x, / (1 - a^t). */
export function smoothLosses(xs: readonly number[], a = 0.9): number[] {
  let s = 0;
  return xs.map((x, i) => {
    s = a * s + (1 - a) * x;
    return s / (1 - a ** (i + 1));
  });
}

interface Canvas {
  rgb: Uint8Array;
  width: number;
  height: number;
}

function px(c: Canvas, x: number, y: number, col: readonly number[]): void {
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  c.rgb.set(col, 3 * (Math.round(y) * c.width + Math.round(x)));
}

function text(c: Canvas, s: string, x: number, y: number, col: readonly number[]): void {
  for (const ch of s) {
    const g = FONT[ch] ?? FONT[' ']!;
    for (let i = 0; i < 15; i++) if (g[i] === '1') px(c, x + (i % 3), y + Math.floor(i / 3), col);
    x += 4;
  }
}

function line(c: Canvas, x0: number, y0: number, x1: number, y1: number, col: readonly number[]): void {
  const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
  for (let i = 0; i <= n; i++) px(c, x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, col);
}

function label(v: number): string {
  const e = Math.round(Math.log10(v));
  return e >= -2 && e <= 3 ? String(10 ** e >= 1 ? 10 ** e : Number((10 ** e).toFixed(-e))) : `1e${e}`;
}

/** Plots (step, loss) points (raw losses; smoothed here) into a width x height RGB image. */
export function plotLoss(steps: readonly number[], losses: readonly number[], width = 320, height = 200): Canvas {
  const c: Canvas = { rgb: new Uint8Array(width * height * 3).fill(255), width, height };
  const left = 30, right = width - 8, top = 8, bottom = height - 14;
  const axis = [0, 0, 0], grid = [220, 220, 220], curve = [30, 90, 200], raw = [190, 205, 235];
  const ok = losses.map((l, i) => [steps[i]!, l] as const).filter(([, l]) => l > 0 && Number.isFinite(l));
  if (ok.length) {
    const sm = smoothLosses(ok.map(([, l]) => l));
    const all = [...ok.map(([, l]) => l), ...sm];
    let lo = Math.floor(Math.log10(Math.min(...all)));
    let hi = Math.ceil(Math.log10(Math.max(...all)));
    if (hi === lo) { lo -= 1; hi += 1; }
    const s0 = ok[0]![0], s1 = Math.max(ok[ok.length - 1]![0], s0 + 1);
    const X = (s: number) => left + ((s - s0) / (s1 - s0)) * (right - left);
    const Y = (l: number) => bottom - ((Math.log10(l) - lo) / (hi - lo)) * (bottom - top);
    for (let e = lo; e <= hi; e++) {
      const y = Y(10 ** e);
      line(c, left, y, right, y, grid);
      text(c, label(10 ** e), 2, y - 2, axis);
    }
    for (let i = 1; i < ok.length; i++) line(c, X(ok[i - 1]![0]), Y(ok[i - 1]![1]), X(ok[i]![0]), Y(ok[i]![1]), raw);
    for (let i = 1; i < ok.length; i++) line(c, X(ok[i - 1]![0]), Y(sm[i - 1]!), X(ok[i]![0]), Y(sm[i]!), curve);
    if (ok.length === 1) px(c, X(s0), Y(sm[0]!), curve);
    text(c, String(s0), left, bottom + 4, axis);
    const last = String(ok[ok.length - 1]![0]);
    text(c, last, right - 4 * last.length, bottom + 4, axis);
  }
  line(c, left, top, left, bottom, axis);
  line(c, left, bottom, right, bottom, axis);
  return c;
}
