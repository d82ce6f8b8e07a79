// Range header parsing (RFC 9110 single byte ranges) against hand-worked cases and a brute-force oracle.
import { describe, expect, it } from 'vitest';
import { parseRange } from '../../server/http-util.js';

describe('parseRange', () => {
  it.each([
    [undefined, 100, null],
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=90-500', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=5-2', 100, null],
    ['bytes=0-1,5-6', 100, null],
    ['items=0-1', 100, null],
    ['bytes=-', 100, null],
    ['bytes=abc', 100, null],
  ])('%s of %d bytes -> %j', (h, size, want) => {
    expect(parseRange(h, size)).toEqual(want);
  });

  it('agrees with a brute-force reading for random ranges', () => {
    for (let i = 0; i < 500; i++) {
      const size = 1 + Math.floor(Math.random() * 50);
      const a = Math.floor(Math.random() * 60);
      const b = a + Math.floor(Math.random() * 20);
      const got = parseRange(`bytes=${a}-${b}`, size);
      if (a >= size) expect(got).toBe('unsatisfiable');
      else expect(got).toEqual({ start: a, end: Math.min(b, size - 1) });
    }
  });
});
