// Host-header check against DNS rebinding: a web page on attacker.example can point its own name at 127.0.0.1
// and then read the API as "same origin". Browsers always send the name they resolved in Host, so the server only
// answers names it knows: loopback names (localhost, *.localhost), IP literals (an address cannot be rebound),
// the name it was bound to, and the configured allowed hosts (exact, or ".example.com" for it and its subdomains;
// "all" turns the check off). The same rule as Vite's server.allowedHosts and webpack-dev-server's host check.
import { isIP } from 'node:net';

export type HostCheck = (hostHeader: string | undefined) => boolean;

/** Host name of a Host header ("name:port", "[::1]:port", "name"), lowercased without brackets; null if malformed. */
export function hostnameOf(hostHeader: string): string | null {
  if (hostHeader === '' || /[\s/\\?#@]/.test(hostHeader)) return null;
  try {
    const name = new URL(`http://${hostHeader}`).hostname.toLowerCase().replace(/\.$/, ''); // "localhost." = "localhost"
    return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  } catch {
    return null;
  }
}

/**
 * Builds the check for a server bound to `bindHost` with extra `allowedHosts`. A request without a Host header
 * (HTTP/1.0 tools; browsers always send one) is allowed.
 */
export function createHostCheck(bindHost: string, allowedHosts: readonly string[] = []): HostCheck {
  const entries = allowedHosts.map((h) => h.trim().toLowerCase()).filter(Boolean);
  if (entries.includes('all')) return () => true;
  const exact = new Set(entries.filter((h) => !h.startsWith('.')));
  const suffixes = entries.filter((h) => h.startsWith('.'));
  const bound = hostnameOf(bindHost);
  if (bound) exact.add(bound);
  return (hostHeader) => {
    if (hostHeader === undefined) return true;
    const name = hostnameOf(hostHeader);
    if (name === null) return false;
    if (isIP(name) !== 0) return true;
    if (name === 'localhost' || name.endsWith('.localhost')) return true;
    if (exact.has(name)) return true;
    return suffixes.some((s) => name === s.slice(1) || name.endsWith(s));
  };
}

/** The refusal's message: which name was refused and how to allow it. */
export function hostNotAllowedMessage(hostHeader: string | undefined): string {
  const shown = JSON.stringify((hostHeader ?? '').slice(0, 200));
  return `host ${shown} is not allowed (protection against DNS rebinding): use http://127.0.0.1 or http://localhost, or start the server with --allowed-hosts NAME (ServerOptions.allowedHosts) to serve that name`;
}
