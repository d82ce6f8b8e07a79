// A stack of cleanups for CLI commands that open several resources (devices, models, embedders): each is registered
// as soon as it exists, and `run()` releases them in reverse order, once, whether the command finished or a later
// load threw, so no load has to dispose the earlier ones by hand. A cleanup that throws does not stop the others.
export class CleanupStack {
  private fns: (() => void)[] = [];

  /** Registers the cleanup of `value` (when it is not undefined) and returns the value. */
  add<T>(value: T, cleanup: (v: NonNullable<T>) => void): T {
    if (value !== undefined && value !== null) this.fns.push(() => cleanup(value as NonNullable<T>));
    return value;
  }

  /** Runs every registered cleanup, last registered first; returns the errors they threw. */
  run(): unknown[] {
    const errors: unknown[] = [];
    for (const fn of this.fns.splice(0).reverse()) {
      try { fn(); } catch (e) { errors.push(e); }
    }
    return errors;
  }
}
