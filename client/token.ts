// The API bearer token: taken once from `#token=...` in the URL the server prints (then removed from the
// address bar), otherwise from localStorage; the app asks for it when it is missing or rejected (401).

const KEY = 'parallax.token';

export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Reads `token` from a location hash like `#token=abc` (or `#foo=1&token=abc`). */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const t = params.get('token')?.trim();
  return t ? t : null;
}

export class TokenStore {
  constructor(private readonly storage: TokenStorage) {}
  get(): string | null {
    return this.storage.getItem(KEY);
  }
  set(token: string): void {
    this.storage.setItem(KEY, token.trim());
  }
  clear(): void {
    this.storage.removeItem(KEY);
  }
  /** Adopts a token from the URL hash if there is one; returns the token to use (or null). */
  adoptFromLocation(loc: { hash: string }, replaceHash: (h: string) => void): string | null {
    const t = tokenFromHash(loc.hash);
    if (t) {
      this.set(t);
      const rest = new URLSearchParams(loc.hash.replace(/^#/, ''));
      rest.delete('token');
      replaceHash(rest.toString());
    }
    return this.get();
  }
}
