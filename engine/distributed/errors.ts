// Error type of the distributed layer: every failure of a transport or collective is a DistError whose
// message names the rank (and, once wrapped by a collective, the operation and group).

export class DistError extends Error {
  override readonly name = 'DistError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Message text of any thrown value. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A failure on this rank outside any collective (a bug, a GPU error, a bad file): unless it already is a DistError,
 * wraps it as `${what} failed: <cause>` and aborts `transport`, so every peer blocked in a collective fails at once
 * instead of waiting for its receive timeout. Returns the error to throw.
 */
export function abortOnLocalFailure(transport: { abort(err: Error): void }, what: string, err: unknown): Error {
  if (err instanceof DistError) return err;
  const wrapped = new DistError(`${what} failed: ${errorText(err)}`, { cause: err });
  transport.abort(wrapped);
  return wrapped;
}
