// The text clean-up transformers' slow CLIPTokenizer runs before BPE when the optional `ftfy` package is absent
// (the reference's requirements do not install it): BasicTokenizer(strip_accents=False, do_split_on_punc=False)
// .tokenize, joined with single spaces (tokenization_clip.py CLIPTokenizer._tokenize / BasicTokenizer).

/** BasicTokenizer._is_chinese_char: the CJK ideograph blocks that get a space on each side. */
const CJK_RANGES: readonly [number, number][] = [
  [0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b820, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f],
];

function isCjk(cp: number): boolean {
  for (const [a, b] of CJK_RANGES) if (cp >= a && cp <= b) return true;
  return false;
}

/** tokenization_utils._is_control: Unicode category C* (Cc, Cf, Cs, Co, Cn) except \t \n \r. */
const CONTROL = /^\p{C}$/u;
/** tokenization_utils._is_whitespace: space, \t, \n, \r or category Zs. */
const WHITESPACE = /^[ \t\n\r\p{Zs}]$/u;
/** What Python's str.split() still splits on after _clean_text (Zl, Zp survive it; the rest became " "). */
const SPLIT = /[ \u2028\u2029]+/u;

/**
 * BasicTokenizer.tokenize as CLIP configures it, joined by spaces: drop NUL, U+FFFD and control/format
 * characters (zero-width spaces included), whitespace -> " ", a space around each CJK ideograph, NFC,
 * split on whitespace, lowercase each word (accents kept, punctuation not split).
 */
export function clipBasicClean(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd) continue;
    if (ch !== '\t' && ch !== '\n' && ch !== '\r' && CONTROL.test(ch)) continue;
    if (WHITESPACE.test(ch)) out += ' ';
    else if (isCjk(cp)) out += ` ${ch} `;
    else out += ch;
  }
  return out
    .normalize('NFC')
    .split(SPLIT)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase())
    .join(' ');
}
