// AddedTokenSplitter against transformers' Trie.split + PreTrainedTokenizer.tokenize rules, on hand-worked cases.
import { describe, expect, it } from 'vitest';
import { AddedTokenSplitter, type AddedTokenSpec, type TextPiece } from '../../../engine/text/added-tokens.js';

const tok = (content: string, id: number, flags: Partial<AddedTokenSpec> = {}): AddedTokenSpec => ({
  content, id, lstrip: false, rstrip: false, singleWord: false, ...flags,
});
const show = (pieces: TextPiece[]) => pieces.map((p) => ('token' in p ? p.token.id : p.text));

describe('AddedTokenSplitter', () => {
  it('cuts the earliest match, the longest token starting there, without overlaps', () => {
    const s = new AddedTokenSplitter([tok('ab', 1), tok('bcd', 2), tok('<x>', 3), tok('<x>y', 4), tok('b', 5)]);
    expect(show(s.split('abcd'))).toEqual([1, 'cd']);
    expect(show(s.split('xbcd'))).toEqual(['x', 2]);
    expect(show(s.split('<x>yz<x>'))).toEqual([4, 'z', 3]);
    expect(show(s.split('abd'))).toEqual([1, 'd']);
    expect(show(s.split('cbd'))).toEqual(['c', 5, 'd']);
    expect(show(s.split('plain text'))).toEqual(['plain text']);
    expect(show(s.split(''))).toEqual([]);
  });

  it('matches case-sensitively and by code point (astral characters)', () => {
    const s = new AddedTokenSplitter([tok('🎥', 7), tok('<S>', 8)]);
    expect(show(s.split('a🎥b<s><S>'))).toEqual(['a', 7, 'b<s>', 8]);
  });

  it('lstrip/rstrip eat the whitespace on their side (Python str.strip whitespace)', () => {
    const s = new AddedTokenSplitter([tok('<l>', 1, { lstrip: true }), tok('<r>', 2, { rstrip: true })]);
    expect(show(s.split('a \t<l> b'))).toEqual(['a', 1, ' b']);
    expect(show(s.split('a <r>\u3000\u00a0 b'))).toEqual(['a ', 2, 'b']);
    expect(show(s.split('  <l>'))).toEqual([1]); // a fully stripped piece disappears
    expect(show(s.split('a\ufeff<l>'))).toEqual(['a\ufeff', 1]); // U+FEFF is not Python whitespace
  });

  it('single_word: a token glued to a word on either side stays text', () => {
    const s = new AddedTokenSplitter([tok('<w>', 1, { singleWord: true })]);
    expect(show(s.split('a <w> b'))).toEqual(['a ', 1, ' b']);
    expect(show(s.split('a<w> b'))).toEqual(['a<w>', ' b']);
    expect(show(s.split('a <w>b'))).toEqual(['a ', '<w>b']);
    expect(show(s.split('<w>'))).toEqual([1]);
  });
});
