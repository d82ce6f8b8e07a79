// Token handling: #token= is adopted into storage and removed from the URL, other hash parts are kept.
import { describe, expect, it } from 'vitest';
import { TokenStore, tokenFromHash } from '../../client/token.js';

function memory() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
}

describe('token', () => {
  it('reads #token= among other hash parameters', () => {
    expect(tokenFromHash('#token=abc')).toBe('abc');
    expect(tokenFromHash('#x=1&token=a%2Bb')).toBe('a+b');
    expect(tokenFromHash('#token=')).toBeNull();
    expect(tokenFromHash('')).toBeNull();
  });

  it('adopts a hash token, strips it from the URL, and falls back to storage', () => {
    const s = new TokenStore(memory());
    let hash = '';
    expect(s.adoptFromLocation({ hash: '#token=T0&job=5' }, (h) => (hash = h))).toBe('T0');
    expect(hash).toBe('job=5');
    expect(s.adoptFromLocation({ hash: '' }, () => {
      throw new Error('must not rewrite the URL without a token');
    })).toBe('T0');
    s.clear();
    expect(s.get()).toBeNull();
  });
});
