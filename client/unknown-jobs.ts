// Fetches jobs that events name before this tab knows them (another tab's submit, or this tab's own before its
// POST answers). Events for a job whose fetch is in flight are dropped by JobState, so a fetch that saw any of them
// is followed by one more: the final snapshot (a fast job can fail while its first fetch is on the wire) is never lost.
export class UnknownJobFetcher {
  private inFlight = new Set<string>();
  private stale = new Set<string>();

  constructor(
    private readonly fetchJob: (id: string) => Promise<unknown>,
  ) {}

  /** An event named a job this tab does not know: fetch it, or refetch it once the fetch in flight ends. */
  request(id: string): void {
    if (this.inFlight.has(id)) {
      this.stale.add(id);
      return;
    }
    this.inFlight.add(id);
    void this.fetchJob(id)
      .catch(() => {})
      .finally(() => {
        this.inFlight.delete(id);
        if (this.stale.delete(id)) this.request(id);
      });
  }

  /** Whether a fetch for this job is in flight (for tests). */
  pending(id: string): boolean {
    return this.inFlight.has(id);
  }
}
