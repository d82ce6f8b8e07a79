// Added/special tokens inside prompt text, as transformers' slow tokenizers treat them
// (PreTrainedTokenizer.tokenize + Trie.split in tokenization_utils.py): every added token (bos, eos, unk, pad,
// additional special tokens, added_tokens_decoder / added_tokens.json entries) is cut out of the raw text as
// one piece before any clean-up or BPE, leftmost-longest and case-sensitive; lstrip/rstrip/single_word apply.

/** An added token with the AddedToken flags that change how it is cut out of text. */
export interface AddedTokenSpec {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  /** AddedToken.normalized when the files give it (used by the fast T5 tokenizer, not by the slow CLIP one). */
  normalized?: boolean;
}

/** A piece of prompt text: either an added token (by id) or text for the model's own tokenization. */
export type TextPiece = { token: AddedTokenSpec } | { text: string };

/** Python str.isspace() characters (what str.strip()/lstrip()/rstrip() remove). */
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const LEADING_SPACE = new RegExp(`^${PY_SPACE}+`, 'u');
const TRAILING_SPACE = new RegExp(`${PY_SPACE}+$`, 'u');

interface TrieNode { next: Map<string, TrieNode>; end?: string }

/** Cuts added tokens out of text the way the slow tokenizers do (see the file header). */
export class AddedTokenSplitter {
  private readonly root: TrieNode = { next: new Map() };
  private readonly byContent = new Map<string, AddedTokenSpec>();

  constructor(tokens: Iterable<AddedTokenSpec>) {
    for (const t of tokens) {
      if (!t.content) continue;
      this.byContent.set(t.content, t);
      let node = this.root;
      for (const ch of t.content) {
        let n = node.next.get(ch);
        if (!n) { n = { next: new Map() }; node.next.set(ch, n); }
        node = n;
      }
      node.end = t.content;
    }
  }

  get tokens(): AddedTokenSpec[] { return [...this.byContent.values()]; }

  /** Trie.split: the earliest match wins, the longest token among those starting there; no overlaps. */
  private cut(text: string): string[] {
    const chars = [...text];
    const out: string[] = [];
    let start = 0;
    let i = 0;
    while (i < chars.length) {
      let node: TrieNode | undefined = this.root;
      let match: string | undefined;
      let matchLen = 0;
      for (let j = i; j < chars.length; j++) {
        node = node.next.get(chars[j]);
        if (!node) break;
        if (node.end !== undefined) { match = node.end; matchLen = j + 1 - i; }
      }
      if (match === undefined) { i++; continue; }
      if (i > start) out.push(chars.slice(start, i).join(''));
      out.push(match);
      i += matchLen;
      start = i;
    }
    if (start < chars.length) out.push(chars.slice(start).join(''));
    return out;
  }

  /** The pieces of `text`, with the lstrip/rstrip/single_word adjustments of PreTrainedTokenizer.tokenize. */
  split(text: string): TextPiece[] {
    const parts = this.cut(text);
    for (let i = 0; i < parts.length; i++) {
      const tok = this.byContent.get(parts[i]);
      if (!tok) continue;
      const left = i > 0 ? parts[i - 1] : '';
      const right = i < parts.length - 1 ? parts[i + 1] : '';
      if (tok.rstrip && right) parts[i + 1] = right.replace(LEADING_SPACE, '');
      if (tok.lstrip && left) parts[i - 1] = left.replace(TRAILING_SPACE, '');
      // single_word: a token glued to a word is not a token (it goes back into the text around it)
      if (tok.singleWord && left && !left.endsWith(' ')) {
        parts[i - 1] += parts[i];
        parts[i] = '';
      } else if (tok.singleWord && right && !right.startsWith(' ')) {
        parts[i] += right;
        parts[i + 1] = '';
      }
    }
    const pieces: TextPiece[] = [];
    for (const p of parts) {
      if (!p) continue;
      const tok = this.byContent.get(p);
      pieces.push(tok ? { token: tok } : { text: p });
    }
    return pieces;
  }
}
