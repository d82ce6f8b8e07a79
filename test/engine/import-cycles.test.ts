// The source tree's static imports (`import type` included) run one way: no module imports itself through a chain.
// Checks the detector on synthetic input first, so a parser that finds nothing cannot pass by accident.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { findCycles, importGraph, staticImportSpecifiers } from '../helpers/import-graph.js';

const ROOT = resolve(__dirname, '../..');

describe('import graph', () => {
  it('reads import, multi-line import type, export from and side-effect imports, not comments', () => {
    const src = [
      "import { a } from './a.js';",
      'import type {',
      '  B,',
      '  C,',
      "} from '../b.js';",
      "export type { D } from './d.js';",
      "export * from './e.js';",
      "import './f.js';",
      "// import { x } from './commented.js';",
      "/* import { y } from './block.js'; */",
      "const s = 'from ./not-an-import.js';",
      "const m = await import('./dynamic.js');",
    ].join('\n');
    expect(staticImportSpecifiers(src)).toEqual(['./a.js', '../b.js', './d.js', './e.js', './f.js']);
  });

  it('finds a two-file cycle, a longer one, and none in a DAG', () => {
    expect(findCycles(new Map([['a', ['b']], ['b', ['a']]]))).toEqual([['a', 'b', 'a']]);
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });

  it('engine, cli, server and client have no import cycle', () => {
    const g = importGraph(ROOT, ['engine', 'cli', 'server', 'client']);
    expect(g.size).toBeGreaterThan(100);
    expect(g.get('engine/pipeline/generate-options.ts')).toContain('engine/pipeline/backend.ts');
    expect(findCycles(g).map((c) => c.join(' -> '))).toEqual([]);
  });
});
