// Structured logger (pino). `silent` in tests; JSON lines to stdout otherwise.
import { pino, type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { svc: 'parallax-server' } });
}
