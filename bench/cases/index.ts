// Every kernel benchmark case, in table order. A new op family adds its file here.

import type { BenchCase } from '../case.js';
import { attentionCases } from './attention.js';
import { elementwiseCases } from './elementwise.js';
import { linearCases } from './linear.js';
import { normCases } from './norms.js';

/** The cases for an adapter; `cpu` shrinks the largest ones (each says how in its 'reduced' column). */
export function allCases(cpu: boolean): BenchCase[] {
  return [...linearCases(cpu), ...attentionCases(cpu), ...normCases(), ...elementwiseCases()];
}
