// CleanupStack: cleanups run last registered first, once; undefined values register nothing; a throwing cleanup
// does not stop the others and its error is returned.
import { describe, expect, it } from 'vitest';
import { CleanupStack } from '../../cli/cleanup.js';

describe('CleanupStack', () => {
  it('releases in reverse order, once, skipping absent values and collecting errors', () => {
    const log: string[] = [];
    const s = new CleanupStack();
    expect(s.add('device', (v) => log.push(`destroy ${v}`))).toBe('device');
    s.add(undefined as string | undefined, () => log.push('never'));
    s.add('model', () => { throw new Error('dispose failed'); });
    s.add('embedder', (v) => log.push(`close ${v}`));
    const errors = s.run();
    expect(log).toEqual(['close embedder', 'destroy device']);
    expect(errors.map(String)).toEqual(['Error: dispose failed']);
    expect(s.run()).toEqual([]);
    expect(log).toHaveLength(2);
  });
});
