// Worker-thread bootstrap for the shm launcher: enables TypeScript (tsx) inside the worker, then runs the
// rank entry. Plain .mjs because a fresh worker cannot load .ts before tsx is registered.
import { register } from 'tsx/esm/api';

register();
await import('./shm-worker.ts');
