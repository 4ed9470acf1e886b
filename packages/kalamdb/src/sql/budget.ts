/**
 * A statement's evaluation budget. Rows are evaluated on the event loop that also drives Raft, so a statement that
 * computes for long would hold the driver's timer back (a late tick is a late heartbeat, and late heartbeats cost
 * leaderships). The loops over rows call `spend()` once per row: every `evalCheckRows` rows it looks at the clock;
 * after `evalSliceMs` of work it asks the caller to yield (`await budget.yield()`), and past `statementEvalMsMax` it
 * throws LIMIT_EXCEEDED. Rows read before the first yield are a snapshot: yielding changes nothing they hold.
 */
import { KalamError } from './errors.js';
import type { EvalLimits } from './limits.js';

export class StatementBudget {
  private readonly startedAtMs: number;
  private sliceStartedAtMs: number;
  private rows = 0;
  /** Times the statement gave the event loop back (tests read it). */
  yields = 0;

  constructor(
    private readonly limits: EvalLimits,
    /** A monotonic clock in ms. */
    private readonly clock: () => number,
  ) {
    this.startedAtMs = clock();
    this.sliceStartedAtMs = this.startedAtMs;
  }

  /** One row's worth of work was done: true when the caller should yield now. Throws past the time budget. */
  spend(): boolean {
    if (++this.rows % this.limits.evalCheckRows !== 0) return false;
    const now = this.clock();
    if (now - this.startedAtMs > this.limits.statementEvalMsMax) {
      throw new KalamError(
        'LIMIT_EXCEEDED',
        `the statement evaluated rows for more than ${this.limits.statementEvalMsMax} ms (limit statementEvalMsMax); ` +
          'narrow it with WHERE or LIMIT',
        { limit: 'statementEvalMsMax', max: this.limits.statementEvalMsMax },
      );
    }
    return now - this.sliceStartedAtMs >= this.limits.evalSliceMs;
  }

  /** Gives the event loop back (timers run first), then starts a new slice. */
  async yield(): Promise<void> {
    this.yields++;
    await new Promise<void>((resolve) => setImmediate(resolve));
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
