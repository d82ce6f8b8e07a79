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
