// Every kernel benchmark case, in table order. A new op family adds its file here.

import type { BenchCase } from '../case.js';
import { elementwiseCases } from './elementwise.js';

export const allCases: BenchCase[] = [...elementwiseCases];
