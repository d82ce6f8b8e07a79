// Static import graph of the TypeScript sources (import, import type, export ... from, side-effect imports; not
// dynamic import()), and the import cycles in it: used by test/engine/import-cycles.test.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Relative module specifiers of one file's static imports, `import type` and re-exports included. */
export function staticImportSpecifiers(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(/(?:^|[;\n])\s*(?:import|export)\b[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of code.matchAll(/(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return n.endsWith('.ts') && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** file (relative to root, '/'-separated) -> the files it imports (relative imports only), over the given folders. */
export function importGraph(root: string, dirs: readonly string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const rel = (p: string) => relative(root, p).split('\\').join('/');
  for (const f of dirs.flatMap((d) => tsFiles(resolve(root, d)))) {
    const deps = staticImportSpecifiers(readFileSync(f, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => rel(resolve(dirname(f), s.replace(/\.js$/, '.ts'))));
    g.set(rel(f), [...new Set(deps)]);
  }
  return g;
}

/** Every elementary cycle found by depth-first search, each as a path a -> b -> ... -> a (one per back edge). */
export function findCycles(g: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'active');
    stack.push(f);
    for (const d of g.get(f) ?? []) {
      if (!g.has(d)) continue;
      const s = state.get(d);
      if (s === 'active') cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...g.keys()].sort()) if (!state.has(f)) visit(f);
  return cycles;
}
