// A tiny built-in 5x7 bitmap font for the labels of the report pictures (histogram.ts): digits, capital letters
// (lower case is drawn as upper case) and the punctuation numbers and names need. Each glyph is 7 rows of 5 bits,
// drawn on a 6 x 8 pixel cell (one column and one row of spacing). Pure data and pixel loops, no dependencies.

const G: Record<string, string> = {
  '0': '01110 10001 10011 10101 11001 10001 01110', '1': '00100 01100 00100 00100 00100 00100 01110',
  '2': '01110 10001 00001 00010 00100 01000 11111', '3': '11111 00010 00100 00010 00001 10001 01110',
  '4': '00010 00110 01010 10010 11111 00010 00010', '5': '11111 10000 11110 00001 00001 10001 01110',
  '6': '00110 01000 10000 11110 10001 10001 01110', '7': '11111 00001 00010 00100 01000 01000 01000',
  '8': '01110 10001 10001 01110 10001 10001 01110', '9': '01110 10001 10001 01111 00001 00010 01100',
  A: '01110 10001 10001 11111 10001 10001 10001', B: '11110 10001 10001 11110 10001 10001 11110',
  C: '01110 10001 10000 10000 10000 10001 01110', D: '11100 10010 10001 10001 10001 10010 11100',
  E: '11111 10000 10000 11110 10000 10000 11111', F: '11111 10000 10000 11110 10000 10000 10000',
  G: '01110 10001 10000 10111 10001 10001 01111', H: '10001 10001 10001 11111 10001 10001 10001',
  I: '01110 00100 00100 00100 00100 00100 01110', J: '00111 00010 00010 00010 00010 10010 01100',
  K: '10001 10010 10100 11000 10100 10010 10001', L: '10000 10000 10000 10000 10000 10000 11111',
  M: '10001 11011 10101 10101 10001 10001 10001', N: '10001 10001 11001 10101 10011 10001 10001',
  O: '01110 10001 10001 10001 10001 10001 01110', P: '11110 10001 10001 11110 10000 10000 10000',
  Q: '01110 10001 10001 10001 10101 10010 01101', R: '11110 10001 10001 11110 10100 10010 10001',
  S: '01111 10000 10000 01110 00001 00001 11110', T: '11111 00100 00100 00100 00100 00100 00100',
  U: '10001 10001 10001 10001 10001 10001 01110', V: '10001 10001 10001 10001 10001 01010 00100',
  W: '10001 10001 10001 10101 10101 10101 01010', X: '10001 10001 01010 00100 01010 10001 10001',
  Y: '10001 10001 10001 01010 00100 00100 00100', Z: '11111 00001 00010 00100 01000 10000 11111',
  '.': '00000 00000 00000 00000 00000 01100 01100', ',': '00000 00000 00000 00000 01100 00100 01000',
  '-': '00000 00000 00000 11111 00000 00000 00000', '+': '00000 00100 00100 11111 00100 00100 00000',
  _: '00000 00000 00000 00000 00000 00000 11111', '=': '00000 00000 11111 00000 11111 00000 00000',
  '(': '00010 00100 01000 01000 01000 00100 00010', ')': '01000 00100 00010 00010 00010 00100 01000',
  '/': '00000 00001 00010 00100 01000 10000 00000', ':': '00000 01100 01100 00000 01100 01100 00000',
  '%': '11000 11001 00010 00100 01000 10011 00011', '<': '00010 00100 01000 10000 01000 00100 00010',
  '>': '01000 00100 00010 00001 00010 00100 01000', ' ': '00000 00000 00000 00000 00000 00000 00000',
};

export const GLYPH_W = 5;
export const GLYPH_H = 7;
/** Horizontal advance and line height in pixels. */
export const CELL_W = 6;
export const CELL_H = 8;

/** The font: character -> 7 rows of 5 booleans. */
export const FONT: ReadonlyMap<string, readonly (readonly boolean[])[]> = new Map(
  Object.entries(G).map(([c, rows]) => [c, rows.split(' ').map((r) => [...r].map((b) => b === '1'))]),
);

/** The glyph drawn for a character (lower case as upper case); unknown characters throw, naming them. */
export function glyph(ch: string): readonly (readonly boolean[])[] {
  const g = FONT.get(ch.toUpperCase());
  if (!g) throw new Error(`bitmap font: no glyph for '${ch}' (digits, letters and ${[...FONT.keys()].filter((c) => !/[0-9A-Z]/.test(c)).join('')})`);
  return g;
}

/** Width in pixels of a text line (no trailing spacing column). */
export function textWidth(text: string, scale = 1): number {
  return text.length ? (text.length * CELL_W - 1) * scale : 0;
}

/** Draws `text` into an RGB image with its top-left corner at (x, y); pixels outside the image are skipped. */
export function drawText(rgb: Uint8Array, width: number, height: number, text: string, x: number, y: number, colour: readonly number[], scale = 1): void {
  [...text].forEach((ch, i) => {
    const g = glyph(ch);
    for (let r = 0; r < GLYPH_H; r++) {
      for (let c = 0; c < GLYPH_W; c++) {
        if (!g[r]![c]) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = x + (i * CELL_W + c) * scale + dx;
            const py = y + r * scale + dy;
            if (px >= 0 && px < width && py >= 0 && py < height) rgb.set(colour, (py * width + px) * 3);
          }
        }
      }
    }
  });
}
