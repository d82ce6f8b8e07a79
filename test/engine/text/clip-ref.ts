// Test-side reference for CLIP BPE ids, written from CLIPTokenizer.bpe (tokenization_clip.py), independent of
// engine/text: byte symbols of one word, `</w>` on the last, merge the lowest-ranked pair until none applies.
import { bytesToUnicode } from '../../../engine/io/tiny-tokenizers.js';

export interface ClipVocab {
  vocab: Record<string, number>;
  merges: string[];
}

/** vocab.json + merges.txt contents (as the tiny generator writes them) -> vocab and ranked merges. */
export function parseClipFiles(files: { 'vocab.json': string; 'merges.txt': string }): ClipVocab {
  return {
    vocab: JSON.parse(files['vocab.json']) as Record<string, number>,
    merges: files['merges.txt'].split('\n').slice(1).filter((l) => l),
  };
}

/** Reference CLIP BPE ids for one word (already lowercased and split as CLIP does). */
export function refClipWord(word: string, { vocab, merges }: ClipVocab): number[] {
  const b2u = bytesToUnicode();
  const rank = new Map(merges.map((m, i) => [m, i]));
  let syms = [...new TextEncoder().encode(word)].map((b) => b2u[b]);
  syms[syms.length - 1] += '</w>';
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      const r = rank.get(`${syms[i]} ${syms[i + 1]}`);
      if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
    }
    if (best < 0) break;
    const [a, b] = [syms[best], syms[best + 1]];
    const out: string[] = [];
    for (let i = 0; i < syms.length; i++) {
      if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) { out.push(a + b); i++; } else out.push(syms[i]);
    }
    syms = out;
  }
  return syms.map((s) => {
    if (!(s in vocab)) throw new Error(`reference BPE: ${s} not in the vocab`);
    return vocab[s];
  });
}

/** Reference ids of several words, one after the other. */
export function refClipWords(words: string[], v: ClipVocab): number[] {
  return words.flatMap((w) => refClipWord(w, v));
}
