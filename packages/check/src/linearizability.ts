/**
 * The linearizability checker: does some total order of the recorded calls, consistent with real time,
 * explain every output under the register model (register.ts)?
 *
 * P-compositionality (Herlihy & Wing): a history of independent objects is linearizable iff each object's
 * sub-history is, so the history is split by key and each key searched on its own (search.ts) — which turns
 * one exponential search into many small ones. Failed calls are dropped (they did not take effect); unknown
 * reads are dropped too (no output to check, no effect); unknown writes and cas stay, returning at +Infinity.
 *
 * The whole check runs against one time budget. A key that runs out of it, or holds more operations than
 * limits.operationsPerKeyMax, is undecided: the verdict is then `timeout` — unless another key already
 * failed, which makes the verdict `not-linearizable` whatever the undecided keys hold.
 */
import { assert } from './assert.js';
import type { Operation, Value } from './history.js';
import { Outcome } from './history.js';
import { limits } from './limits.js';
import { searchLinearization } from './search.js';

export type Verdict = 'linearizable' | 'not-linearizable' | 'timeout';

export interface CheckOptions {
  /** Budget of the whole check (search and shrinking), default limits.checkTimeoutMsDefault. */
  readonly timeoutMs?: number;
  /** The register's value before the history, per key; a key not listed starts at null. */
  readonly initialValues?: Readonly<Record<string, Value>>;
  /** Shrink each failing key to a 1-minimal failing sub-history (default true; bounded, see limits). */
  readonly shrink?: boolean;
  /** Monotonic milliseconds for the budget; performance.now() unless handed in. */
  readonly clock?: () => number;
}

export interface KeyFailure {
  readonly key: string;
  /** One line a person can read: which operation could not be placed, and how far the search got. */
  readonly reason: string;
  /** Every checked operation of the key (failed calls and unknown reads left out), in id order. */
  readonly operations: readonly Operation[];
  /**
   * A failing subset from which no single operation can be removed without the rest becoming linearizable
   * (1-minimal), keeping the writer of every value it observes (see `shrink`); still failing but perhaps
   * not minimal when the budget ran out while shrinking; null when the key was too large to shrink or the
   * budget ran out before shrinking began.
   */
  readonly minimal: readonly Operation[] | null;
  /** Ids of the longest linearizable prefix the search found, in linearization order. */
  readonly longestPrefix: readonly number[];
  /** Id of the operation that had to take effect next and could not. */
  readonly stuckAt: number;
}

export interface UndecidedKey {
  readonly key: string;
  readonly reason: 'timeout' | 'too-many-operations';
  readonly operations: number;
}

export interface CheckResult {
  readonly verdict: Verdict;
  /** verdict === 'linearizable'. */
  readonly ok: boolean;
  /** Keys in the history (after dropping failed calls and unknown reads). */
  readonly keys: number;
  /** Operations checked. */
  readonly operations: number;
  /** Failed calls and unknown reads, left out of the check. */
  readonly dropped: number;
  /** The failing keys, fewest operations first. */
  readonly failures: readonly KeyFailure[];
  readonly undecided: readonly UndecidedKey[];
  /** Some key ran out of the time budget. */
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/** Whether a call is left out of the check: it has no effect to place and no output to explain. */
function isDropped(op: Operation): boolean {
  if (op.outcome === Outcome.failed) return true;
  return op.outcome === Outcome.unknown && op.kind === 'read';
}

/** The checked operations, by key; keys with fewer operations first (they are decided cheaply, first). */
function partitionByKey(history: readonly Operation[]): [string, Operation[]][] {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (isDropped(op)) continue;
    const ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, [op]);
    else ops.push(op);
  }
  return [...byKey.entries()].sort(([ka, a], [kb, b]) => a.length - b.length || (ka < kb ? -1 : ka > kb ? 1 : 0));
}

function initialValue(options: CheckOptions, key: string): Value {
  const values = options.initialValues;
  return values !== undefined && Object.hasOwn(values, key) ? (values[key] ?? null) : null;
}

export function checkLinearizability(history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  const clock = options.clock ?? (() => performance.now());
  const timeoutMs = options.timeoutMs ?? limits.checkTimeoutMsDefault;
  assert(timeoutMs > 0, () => `timeoutMs must be positive, got ${timeoutMs}`);
  const startMs = clock();
  const deadlineMs = startMs + timeoutMs;
  const partitions = partitionByKey(history);
  const failures: KeyFailure[] = [];
  const undecided: UndecidedKey[] = [];
  let operations = 0;
  for (const [key, ops] of partitions) {
    operations += ops.length;
    if (ops.length > limits.operationsPerKeyMax) {
      undecided.push({ key, reason: 'too-many-operations', operations: ops.length });
      continue;
    }
    const initial = initialValue(options, key);
    const result = searchLinearization(ops, { initial, deadlineMs, clock });
    if (result.kind === 'timeout') undecided.push({ key, reason: 'timeout', operations: ops.length });
    if (result.kind !== 'not-linearizable') continue;
    const at = (i: number): Operation => ops[i] as Operation;
    failures.push({
      key,
      reason: '',
      operations: ops,
      minimal: null,
      longestPrefix: result.longestPrefix.map((i) => at(i).id),
      stuckAt: at(result.stuckAt).id,
    });
  }
  // Shrinking comes after every key had its turn, so it only spends what deciding them left over.
  const explained = failures.map((f) =>
    explain(f, options.shrink === false ? null : shrink(f, options, deadlineMs, clock)),
  );
  const verdict: Verdict = failures.length > 0 ? 'not-linearizable' : undecided.length > 0 ? 'timeout' : 'linearizable';
  return {
    verdict,
    ok: verdict === 'linearizable',
    keys: partitions.length,
    operations,
    dropped: history.length - operations,
    failures: explained.sort((a, b) => a.operations.length - b.operations.length),
    undecided,
    timedOut: undecided.some((u) => u.reason === 'timeout'),
    durationMs: clock() - startMs,
  };
}

/**
 * Greedy one-at-a-time removal, repeated until a whole pass removes nothing (one pass is not enough: a removal
 * can make an operation kept earlier removable): drop an operation whenever the rest still fails.
 *
 * Sources are never dropped: the only operation writing a value that a kept operation observes. Without
 * this, a stale read (w1; w2; read→1) would shrink to "read→1" alone — a read of a value never written —
 * which is failing and smaller but hides what happened. So the result is 1-minimal among the subsets that
 * keep the writer of every observed value. Null when the key is too large, or the budget ran out before
 * the first removal was decided.
 */
function shrink(
  failure: KeyFailure,
  options: CheckOptions,
  deadlineMs: number,
  clock: () => number,
): Operation[] | null {
  if (failure.operations.length > limits.shrinkOperationsMax) return null;
  const initial = initialValue(options, failure.key);
  let kept = [...failure.operations];
  let decided = false;
  let removed = true;
  while (removed) {
    removed = false;
    // From the newest back: later operations are more often incidental to an early contradiction.
    for (let i = kept.length - 1; i >= 0; i--) {
      if (isSoleSource(kept, i, initial)) continue;
      const without = kept.filter((_, j) => j !== i);
      const result = searchLinearization(without, { initial, deadlineMs, clock });
      if (result.kind === 'timeout') return decided ? kept : null;
      decided = true;
      if (result.kind === 'not-linearizable') {
        kept = without;
        removed = true;
      }
    }
  }
  return kept;
}

/** The value `op` may write: a write's input, a cas's new value (unless it is known to have failed). */
function writtenValue(op: Operation): { value: Value } | undefined {
  if (op.kind === 'write') return { value: op.input };
  if (op.kind === 'cas' && op.output?.ok !== false) return { value: op.input.value };
  return undefined;
}

/** What `op` saw: a read's output, the current value a successful cas matched. */
function observedValue(op: Operation): { value: Value } | undefined {
  if (op.kind === 'read' && op.output !== undefined) return { value: op.output };
  if (op.kind === 'cas' && op.output?.ok === true) return { value: op.input.expected };
  return undefined;
}

/** Whether `ops[i]` is the only writer of a value some other operation in `ops` observed. */
export function isSoleSource(ops: readonly Operation[], i: number, initial: Value): boolean {
  const written = writtenValue(ops[i] as Operation);
  if (written === undefined || written.value === initial) return false;
  const observed = ops.some((op, j) => j !== i && observedValue(op)?.value === written.value);
  if (!observed) return false;
  return !ops.some((op, j) => j !== i && writtenValue(op)?.value === written.value);
}

function explain(failure: KeyFailure, minimal: Operation[] | null): KeyFailure {
  const stuck = failure.operations.find((op) => op.id === failure.stuckAt);
  assert(stuck !== undefined, 'the stuck operation belongs to the key');
  let reason =
    `key ${JSON.stringify(failure.key)}: no order of its ${failure.operations.length} operations explains them; ` +
    `at most ${failure.longestPrefix.length} could be linearized before ${describeOperation(stuck)} had to take effect and could not`;
  if (minimal !== null) reason += `; minimal failing set: ${minimal.map(describeOperation).join(', ')}`;
  return { ...failure, reason, minimal };
}

/** `#12 c3 write(5) ok [100.0, 104.2] ms`, `#13 c1 read→5 ok [...]`, `#14 c2 cas(1→2)→false ok [...]`. */
export function describeOperation(op: Operation): string {
  const done = op.completedAtMs === null ? '…' : op.completedAtMs.toFixed(1);
  const when = `[${op.invokedAtMs.toFixed(1)}, ${done}] ms`;
  const result = op.outcome === Outcome.ok ? '' : op.outcome;
  let call: string;
  switch (op.kind) {
    case 'read':
      call = op.output === undefined ? 'read' : `read→${JSON.stringify(op.output)}`;
      break;
    case 'write':
      call = `write(${JSON.stringify(op.input)})`;
      break;
    case 'cas':
      call = `cas(${JSON.stringify(op.input.expected)}→${JSON.stringify(op.input.value)})`;
      if (op.output !== undefined) call += `→${String(op.output.ok)}`;
      break;
  }
  return [`#${op.id}`, `c${String(op.client)}`, call, result, when].filter((s) => s !== '').join(' ');
}
