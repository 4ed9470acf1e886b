/**
 * Literal histories for the tests, written as calls with their [invoked, completed] times rather than
 * recorded through a clock. `unknown` calls have no completion; `failed` ones are refused.
 */
import type { CasInput, ClientId, Operation, Outcome, Value } from '../../src/index.js';

type Interval = readonly [invokedAtMs: number, completedAtMs: number];

export class HistoryBuilder {
  private readonly ops: Operation[] = [];

  constructor(private readonly defaultKey = 'x') {}

  read(output: Value, at: Interval, opts: { client?: ClientId; key?: string } = {}): this {
    return this.push({ ...this.base(opts, at, 'ok'), kind: 'read', input: null, output });
  }

  write(value: Value, at: Interval, opts: { client?: ClientId; key?: string; outcome?: Outcome } = {}): this {
    const outcome = opts.outcome ?? 'ok';
    const output = outcome === 'ok' ? { output: null } : {};
    return this.push({ ...this.base(opts, at, outcome), kind: 'write', input: value, ...output });
  }

  cas(input: CasInput, ok: boolean, at: Interval, opts: { client?: ClientId; key?: string } = {}): this {
    return this.push({ ...this.base(opts, at, 'ok'), kind: 'cas', input, output: { ok } });
  }

  /** A call with no known outcome, given up on at `at[1]` (the checker lets it take effect at any time). */
  unknownWrite(value: Value, at: Interval, opts: { client?: ClientId; key?: string } = {}): this {
    return this.push({ ...this.base(opts, at, 'unknown'), kind: 'write', input: value });
  }

  unknownCas(input: CasInput, at: Interval, opts: { client?: ClientId; key?: string } = {}): this {
    return this.push({ ...this.base(opts, at, 'unknown'), kind: 'cas', input });
  }

  unknownRead(at: Interval, opts: { client?: ClientId; key?: string } = {}): this {
    return this.push({ ...this.base(opts, at, 'unknown'), kind: 'read', input: null });
  }

  build(): Operation[] {
    return [...this.ops];
  }

  private base(opts: { client?: ClientId; key?: string }, at: Interval, outcome: Outcome) {
    return {
      id: this.ops.length,
      client: opts.client ?? this.ops.length,
      key: opts.key ?? this.defaultKey,
      invokedAtMs: at[0],
      completedAtMs: at[1],
      outcome,
    };
  }

  private push(op: Operation): this {
    this.ops.push(op);
    return this;
  }
}
