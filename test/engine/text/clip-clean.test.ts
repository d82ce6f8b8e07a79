// clipBasicClean against transformers' BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize
// joined by spaces (what CLIPTokenizer._tokenize feeds its regex without ftfy); expected strings worked by hand.
import { describe, expect, it } from 'vitest';
import { clipBasicClean } from '../../../engine/text/clip-clean.js';

describe('clipBasicClean', () => {
  it.each([
    ['A Red  Car', 'a red car'],
    ['  \t\n\r ', ''],
    ['a\u200bb\u200cc\u200dd\u2060e\ufeff', 'abcde'], // zero-width characters are format (Cf): dropped
    ['x\u0000\u0007\u001b\u007f\u0085y\ufffd', 'xy'], // NUL, controls, U+FFFD: dropped
    ['soft\u00adhyphen', 'softhyphen'],
    ['priv\ue000ate', 'private'], // private use (Co): dropped
    ['a\u00a0b\u3000c\u2003d', 'a b c d'], // Zs: word break
    ['a\u2028b\u2029c', 'a b c'], // Zl/Zp survive _clean_text but str.split() breaks on them
    ['東京タワー', '東 京 タワー'], // ideographs alone, katakana stays one word
    ['한국어 中文', '한국어 中 文'],
    ['\uf900x', '\u8c48 x'], // compatibility ideograph: spaced, then NFC maps it to its unified form
    ['Cafe\u0301 ÀÉÎ', 'café àéî'], // NFC, lower-case, accents kept
    ['ＦＵＬＬ', 'ｆｕｌｌ'], // no NFKC
    ["Don't STOP!!", "don't stop!!"], // punctuation is not split here
    ['ΟΔΟΣ', 'οδος'], // Python lower(): final sigma
  ])('%j -> %j', (input, want) => {
    expect(clipBasicClean(input)).toBe(want);
  });
});
