// The WGSL template preprocessor: conditional blocks, substitutions, errors, and automatic `enable f16;`.

import { describe, expect, it } from 'vitest';
import { registerShaderSources, specialize } from '../../../engine/gpu/shader-source.js';

describe('specialize', () => {
  const src = ['a', '//#if X', 'x-on', '//#elif Y', 'y-on', '//#else', 'neither', '//#endif', '//#if !X', 'not-x', '//#endif', 'T={{T}}'].join('\n');

  it('takes the first true branch and substitutes', () => {
    expect(specialize('k', src, { X: true, Y: true, T: 'f32' }).split('\n')).toEqual(['a', 'x-on', 'T=f32']);
    expect(specialize('k', src, { X: false, Y: 1, T: 'u32' }).split('\n')).toEqual(['a', 'y-on', 'not-x', 'T=u32']);
    expect(specialize('k', src, { T: 'i32' }).split('\n')).toEqual(['a', 'neither', 'not-x', 'T=i32']);
  });

  it('nests', () => {
    const s = ['//#if A', '//#if B', 'ab', '//#else', 'a!b', '//#endif', '//#else', '!a', '//#endif'].join('\n');
    expect(specialize('k', s, { A: 1, B: 0 })).toBe('a!b');
    expect(specialize('k', s, { A: 1, B: 1 })).toBe('ab');
    expect(specialize('k', s, {})).toBe('!a');
  });

  it('names the kernel and the missing define', () => {
    expect(() => specialize('matmul', 'x = {{TILE}};', {})).toThrow(/matmul\.wgsl uses \{\{TILE\}\}/);
    expect(() => specialize('k', '//#if A\nx', {})).toThrow(/unterminated/);
    expect(() => specialize('k', '//#endif', {})).toThrow(/without/);
  });

  it('prepends enable f16 only when f16 is used outside comments', () => {
    expect(specialize('k', 'var<storage> a: array<{{T}}>;', { T: 'f16' })).toMatch(/^enable f16;/);
    expect(specialize('k', '// f16 storage\nvar<storage> a: array<f32>;', {})).not.toMatch(/enable f16/);
    expect(specialize('k', 'enable f16;\nlet x = 1.0h;', {}).match(/enable f16/g)).toHaveLength(1);
  });

  it('splices //#include snippets before the conditionals, recursively, and names a cycle', () => {
    registerShaderSources({ 'test_inc_outer.wgsl': 'o1\n//#include test_inc_inner\no2', 'test_inc_inner.wgsl': '//#if X\ninner {{T}}\n//#endif', 'test_inc_loop.wgsl': '//#include test_inc_loop' });
    expect(specialize('k', 'a\n//#include test_inc_outer\nb', { X: 1, T: 'f32' }).split('\n')).toEqual(['a', 'o1', 'inner f32', 'o2', 'b']);
    expect(specialize('k', '//#include test_inc_outer', { T: 'f32' }).split('\n')).toEqual(['o1', 'o2']);
    expect(() => specialize('k', '//#include test_inc_loop', {})).toThrow(/include cycle k -> test_inc_loop -> test_inc_loop/);
    expect(() => specialize('k', '//#include test_inc_missing', {})).toThrow(/No WGSL kernel named 'test_inc_missing'/);
  });
});
