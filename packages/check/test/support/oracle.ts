/**
 * A brute-force linearizability oracle, written without the checker's machinery: no partitioning by key,
 * no linked list, no cache, its own copy of the register rules. It tries every order of the calls that
 * respects real time (a before b when a completed strictly before b was invoked) and, for each call with an
 * unknown outcome, both "took effect" and "did not take effect" — the definition, spelled out. Only for
 * tiny histories (it is factorial).
 */
import type { Operation, Value } from '../../src/index.js';

export function bruteForceLinearizable(history: readonly Operation[], initial: Value = null): boolean {
  const ops = history.filter((op) => op.outcome !== 'failed');
  if (ops.length > 9) throw new RangeError('the oracle is for tiny histories');
  const unknown = ops.filter((op) => op.outcome === 'unknown');
  for (let mask = 0; mask < 1 << unknown.length; mask++) {
    const left = new Set(unknown.filter((_, i) => (mask & (1 << i)) === 0));
    const chosen = ops.filter((op) => !left.has(op));
    if (search(chosen, new Set(), new Map(), initial)) return true;
  }
  return false;
}

function completion(op: Operation): number {
  return op.outcome === 'ok' && op.completedAtMs !== null ? op.completedAtMs : Number.POSITIVE_INFINITY;
}

function search(ops: readonly Operation[], placed: Set<Operation>, state: Map<string, Value>, initial: Value): boolean {
  if (placed.size === ops.length) return true;
  for (const op of ops) {
    if (placed.has(op)) continue;
    // Every unplaced call that completed before `op` began must come first.
    const blocked = ops.some((other) => other !== op && !placed.has(other) && completion(other) < op.invokedAtMs);
    if (blocked) continue;
    const current = state.has(op.key) ? (state.get(op.key) as Value) : initial;
    const next = apply(op, current);
    if (next === undefined) continue;
    const after = new Map(state).set(op.key, next.value);
    placed.add(op);
    if (search(ops, placed, after, initial)) return true;
    placed.delete(op);
  }
  return false;
}

/** The register, again: the new value, or undefined when the recorded output contradicts `current`. */
function apply(op: Operation, current: Value): { value: Value } | undefined {
  const known = op.outcome === 'ok';
  if (op.kind === 'read') return !known || op.output === current ? { value: current } : undefined;
  if (op.kind === 'write') return { value: op.input };
  const swapped = current === op.input.expected;
  if (known && op.output?.ok !== swapped) return undefined;
  return { value: swapped ? op.input.value : current };
}
