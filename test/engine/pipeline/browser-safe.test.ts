// The pipeline must run in the browser: text-to-video.ts and everything it imports statically (transitively)
// has no static `node:` import (Node-only helpers are loaded with dynamic import()).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+['"]([^'"]+)['"]/gm)) out.push(m[1]);
  for (const m of src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]);
  return out;
}

function closure(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    const imps = staticImports(f);
    seen.set(f, imps);
    for (const i of imps) if (i.startsWith('.')) todo.push(join(dirname(f), i.replace(/\.js$/, '.ts')));
  }
  return seen;
}

describe('browser safety', () => {
  for (const entry of ['engine/pipeline/text-to-video.ts', 'engine/video/png.ts', 'engine/video/sidecar.ts', 'engine/pipeline/model-hash.ts']) {
    it(`${entry} has no static node: imports in its import graph`, () => {
      const g = closure(join(ROOT, entry));
      expect(g.size).toBeGreaterThan(entry.endsWith('text-to-video.ts') ? 20 : 0);
      const bad = [...g].flatMap(([f, imps]) => imps.filter((i) => i.startsWith('node:') || ['fs', 'path', 'child_process', 'os'].includes(i)).map((i) => `${f.slice(ROOT.length + 1)} -> ${i}`));
      expect(bad).toEqual([]);
    });
  }
});
