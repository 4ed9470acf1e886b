/**
 * How statements share the event loop with the Raft driver. Rows are evaluated on the loop that also runs the
 * driver's timer, so a statement that computes for long holds the timer back — a late tick is a late heartbeat, and
 * late heartbeats cost leaderships. So evaluation runs in slices:
 *
 * - a statement evaluates for at most `evalSliceMs` before it gives the loop back (`StatementBudget.spend()` says
 *   when; the loops over rows call it once per row and look at the clock every `evalCheckRows` rows);
 * - the node's statements take turns through one `EvalScheduler`: one slice per event-loop iteration, round robin,
 *   so twenty statements computing at once cost the timer one slice, not twenty;
 * - a statement that has evaluated for more than `statementEvalMsMax` in all (its own slices, not the time it
 *   waited for its turn) fails with LIMIT_EXCEEDED.
 *
 * Rows read before a statement's first slice are a snapshot: waiting for a turn changes nothing they hold.
 */
import { KalamError } from './errors.js';
import type { EvalLimits } from './limits.js';

/** One event-loop iteration per slice, the waiting statements served first come, first served. */
export class EvalScheduler {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;
  /** Slices handed out (tests read it). */
  slices = 0;

  /** `defer`: how a slice waits for the next event-loop iteration (setImmediate; the simulator's own event). */
  constructor(private readonly defer: (fn: () => void) => void = (fn) => void setImmediate(fn)) {}

  /** Resolves when it is the caller's turn: in a later event-loop iteration, after the timers that are due. */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  /** Statements are waiting for a turn: a new one waits too, rather than run ahead of them. */
  busy(): boolean {
    return this.waiting.length > 0;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      const next = this.waiting.shift();
      if (this.waiting.length > 0) this.schedule(); // the next iteration's check phase, not this one
      this.slices++;
      next?.();
    });
  }
}

export class StatementBudget {
  /** Time spent evaluating in earlier slices, and when the current slice began (monotonic ms). */
  private activeMs = 0;
  private sliceStartedAtMs: number;
  private rows = 0;

  constructor(
    private readonly limits: EvalLimits,
    /** A monotonic clock in ms. */
    private readonly clock: () => number,
    private readonly scheduler: EvalScheduler,
  ) {
    this.sliceStartedAtMs = clock();
  }

  /** Waits for a turn when other statements are waiting for theirs (call before the first row). */
  async start(): Promise<void> {
    if (this.scheduler.busy()) await this.yield();
  }

  /** One row's worth of work was done: true when the caller should yield now. Throws past the time budget. */
  spend(): boolean {
    if (++this.rows % this.limits.evalCheckRows !== 0) return false;
    const sliceMs = this.clock() - this.sliceStartedAtMs;
    if (this.activeMs + sliceMs > this.limits.statementEvalMsMax) {
      throw new KalamError(
        'LIMIT_EXCEEDED',
        `the statement evaluated rows for more than ${this.limits.statementEvalMsMax} ms (limit statementEvalMsMax); ` +
          'narrow it with WHERE or LIMIT',
        { limit: 'statementEvalMsMax', max: this.limits.statementEvalMsMax },
      );
    }
    return sliceMs >= this.limits.evalSliceMs;
  }

  /** Gives the event loop back until this statement's next turn, then starts a new slice. */
  async yield(): Promise<void> {
    this.activeMs += this.clock() - this.sliceStartedAtMs;
    await this.scheduler.turn();
    this.sliceStartedAtMs = this.clock();
  }

  /** Throws LIMIT_EXCEEDED when a result would hold more than resultRowsMax rows. */
  checkResultRows(rows: number): void {
    if (rows <= this.limits.resultRowsMax) return;
    throw new KalamError(
      'LIMIT_EXCEEDED',
      `the result has more than ${this.limits.resultRowsMax} rows (limit resultRowsMax); ` +
        'page it with LIMIT and OFFSET, or with WHERE _seq > the last one seen',
      { limit: 'resultRowsMax', max: this.limits.resultRowsMax },
    );
  }
}
