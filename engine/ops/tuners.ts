// Loads every op's autotuner hooks (each registers itself with engine/ops/tuning.ts): import this where all
// tunable ops must be known (`parallax tune`). An op family that becomes tunable adds its module here.

import './matmul-tune.js';
