// Vitest configuration for the Node suite (Dawn on whatever adapter the machine has).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Lavapipe runs on the CPU: parallel files would fight over the two cores.
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
    // Fails a test file that leaves a file handle to the garbage collector (Node's DEP0137 warning).
    setupFiles: ['./test/setup/fd-gc-guard.ts'],
  },
});
