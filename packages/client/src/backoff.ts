/**
 * Bounded, jittered exponential back-off: retry `n` (0-based) waits a random time in [cap/2, cap] where
 * cap = min(backoffMaxMs, backoffBaseMs · 2^n). Half of the wait is fixed so that retries do not hammer a recovering cluster;
 * the other half is random so that many clients that failed together do not retry together.
 */
export interface BackoffOptions {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** The wait before retry `attempt` (0-based), in [cap/2, cap]. `random` returns [0, 1) (Math.random). */
export function backoffDelayMs(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const cap = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** exponent);
  return cap / 2 + random() * (cap / 2);
}

/** Resolves after `ms`, or at once when `signal` aborts (the client closed). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}
