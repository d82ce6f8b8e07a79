// WGSL kernel sources: loading `shaders/*.wgsl` (from disk in Node, from a bundler glob in the browser) and the
// small template preprocessor that specializes them: `//#include NAME` (splices shaders/NAME.wgsl, a snippet shared
// by the variants of a family), `{{NAME}}` substitutions and `//#if NAME` / `//#if !NAME` / `//#elif` / `//#else` /
// `//#endif` blocks. Set PARALLAX_PRINT_SHADERS=1 to print every specialized shader.

export type Defines = Record<string, string | number | boolean>;

const sources = new Map<string, string>();
let loaded = false;

/** Registers kernel sources by file stem (e.g. 'matmul'); the browser build calls this with a Vite glob. */
export function registerShaderSources(files: Record<string, string>): void {
  for (const [path, code] of Object.entries(files)) {
    const stem = path.replace(/^.*\//, '').replace(/\.wgsl$/, '');
    sources.set(stem, code);
  }
  loaded = true;
}

/** Loads every shaders/*.wgsl from disk (Node). A no-op once sources were registered. */
export async function loadShaderSources(): Promise<void> {
  if (loaded) return;
  const isNodeRuntime = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNodeRuntime) {
    throw new Error('Shader sources are not registered: the browser build must call registerShaderSources(import.meta.glob("/shaders/*.wgsl", { query: "?raw", import: "default", eager: true })).');
  }
  const fs = await import('node:fs/promises');
  const dir = new URL('../../shaders/', import.meta.url);
  const files: Record<string, string> = {};
  for (const name of await fs.readdir(dir)) {
    if (name.endsWith('.wgsl')) files[name] = await fs.readFile(new URL(name, dir), 'utf8');
  }
  registerShaderSources(files);
}

export function shaderSource(name: string): string {
  const src = sources.get(name);
  if (src === undefined) {
    throw new Error(`No WGSL kernel named '${name}' (known: ${[...sources.keys()].sort().join(', ') || 'none loaded'}). Add shaders/${name}.wgsl.`);
  }
  return src;
}

export function knownShaders(): string[] {
  return [...sources.keys()].sort();
}

/** Splices `//#include NAME` lines with shaders/NAME.wgsl (recursively; a cycle is an error naming the chain). */
export function expandIncludes(name: string, code: string, chain: string[] = [name]): string {
  return code.replace(/^[ \t]*\/\/#include[ \t]+(\w+)[ \t]*$/gm, (_, inc: string) => {
    if (chain.includes(inc)) throw new Error(`${name}.wgsl: //#include cycle ${[...chain, inc].join(' -> ')}`);
    return expandIncludes(inc, shaderSource(inc), [...chain, inc]);
  });
}

/**
 * Expands includes, applies `//#if` blocks and `{{NAME}}` substitutions; prepends `enable f16;` when the result
 * uses f16.
 */
export function specialize(name: string, code: string, defines: Defines): string {
  const out: string[] = [];
  const stack: { active: boolean; taken: boolean }[] = [];
  const active = () => stack.every((s) => s.active);
  const lines = expandIncludes(name, code).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^\s*\/\/#(if|elif|else|endif)\b\s*(!?)\s*(\w*)/.exec(line);
    if (m) {
      const [, kw, neg, id] = m;
      const truth = () => {
        const v = id ? defines[id] : undefined;
        const t = v !== undefined && v !== false && v !== 0 && v !== '';
        return neg ? !t : t;
      };
      if (kw === 'if') {
        const t = truth();
        stack.push({ active: t, taken: t });
      } else if (kw === 'elif') {
        const top = stack[stack.length - 1];
        if (!top) throw new Error(`${name}.wgsl:${i + 1}: //#elif without //#if`);
        const t = !top.taken && truth();
        top.active = t;
        top.taken ||= t;
      } else if (kw === 'else') {
        const top = stack[stack.length - 1];
        if (!top) throw new Error(`${name}.wgsl:${i + 1}: //#else without //#if`);
        top.active = !top.taken;
        top.taken = true;
      } else {
        if (!stack.pop()) throw new Error(`${name}.wgsl:${i + 1}: //#endif without //#if`);
      }
      continue;
    }
    if (active()) out.push(line);
  }
  if (stack.length) throw new Error(`${name}.wgsl: unterminated //#if`);
  let result = out.join('\n').replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = defines[key];
    if (v === undefined) throw new Error(`${name}.wgsl uses {{${key}}} but the op did not define it (defines: ${Object.keys(defines).join(', ')})`);
    return String(v);
  });
  if (/\bf16\b|\bvec\dh\b|\d+h\b/.test(stripComments(result)) && !/enable\s+f16\s*;/.test(result)) {
    result = `enable f16;\n${result}`;
  }
  return result;
}

function stripComments(code: string): string {
  return code.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

export function shouldPrintShaders(): boolean {
  return typeof process !== 'undefined' && !!process.env?.PARALLAX_PRINT_SHADERS;
}
