/**
 * Wing & Gong's linearizability search with Lowe's cache, as in Porcupine (anishathalye/porcupine,
 * checker.go `checkSingle`), for the operations of ONE key.
 *
 * The calls and returns are laid out in one doubly linked list, sorted by time (a call before a return at
 * the same instant, so touching calls count as concurrent). The search walks the list: at a call it tries
 * to linearize that operation now — apply it to the model, and if the output fits and the pair
 * (set of linearized operations, model state) is new, lift the call and its return out of the list and
 * start again from the head. At a return whose call is still in the list, that operation had to take effect
 * by now and could not: undo the last choice and try the next candidate. The list empties exactly when
 * every operation has been placed: a linearization exists. Backtracking past the first choice: none does.
 *
 * The cache is what makes this practical: two search paths that linearized the same set of operations and
 * reached the same register value have the same future, so the second is cut off.
 *
 * Unknown calls return at +Infinity: they may be placed anywhere after their invocation, including after
 * everything else, which is the same as not having taken effect.
 */
import { assert } from './assert.js';
import { Bitset } from './bitset.js';
import type { Operation, Value } from './history.js';
import { Outcome } from './history.js';
import { limits } from './limits.js';
import { ILLEGAL, stepRegister } from './register.js';

export type SearchResult =
  | { readonly kind: 'linearizable'; readonly order: readonly number[] }
  | {
      readonly kind: 'not-linearizable';
      /** Indexes (into the input) of the longest linearizable prefix the search found, in order. */
      readonly longestPrefix: readonly number[];
      /** Index of the operation whose return the search could not get past at that depth. */
      readonly stuckAt: number;
    }
  | { readonly kind: 'timeout' };

export interface SearchOptions {
  readonly initial: Value;
  /** Absolute time, on `clock`, after which the search gives up. */
  readonly deadlineMs: number;
  readonly clock: () => number;
}

// Typed-array reads below use `!`: every node index is in [0, size) by construction (NONE is never
// dereferenced: a call node always has a successor, and a return's successor is checked before use).
const HEAD = 0;
const NONE = -1;

interface Entry {
  readonly timeMs: number;
  readonly isCall: boolean;
  readonly op: number;
}

/** The list, as index arrays: node 0 is the head sentinel, node p+1 the p-th entry in time order. */
interface EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** For a call node, its return node; NONE for a return node. */
  readonly match: Int32Array;
  readonly opOf: Int32Array;
}

function returnTimeMs(op: Operation): number {
  return op.outcome === Outcome.ok && op.completedAtMs !== null ? op.completedAtMs : Number.POSITIVE_INFINITY;
}

function compareEntries(a: Entry, b: Entry): number {
  if (a.timeMs !== b.timeMs) return a.timeMs < b.timeMs ? -1 : 1;
  if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
  return a.op - b.op;
}

function buildList(ops: readonly Operation[]): EntryList {
  const entries: Entry[] = [];
  for (const [i, op] of ops.entries()) {
    entries.push({ timeMs: op.invokedAtMs, isCall: true, op: i });
    entries.push({ timeMs: returnTimeMs(op), isCall: false, op: i });
  }
  entries.sort(compareEntries);
  const size = entries.length + 1;
  const list: EntryList = {
    next: new Int32Array(size),
    prev: new Int32Array(size),
    match: new Int32Array(size).fill(NONE),
    opOf: new Int32Array(size).fill(NONE),
  };
  const returnNode = new Int32Array(ops.length);
  for (let p = entries.length - 1; p >= 0; p--) {
    const e = entries[p];
    assert(e !== undefined, 'entry in range');
    const node = p + 1;
    list.opOf[node] = e.op;
    if (e.isCall) list.match[node] = returnNode[e.op]!;
    else returnNode[e.op] = node;
  }
  for (let node = 0; node < size; node++) {
    list.next[node] = node + 1 < size ? node + 1 : NONE;
    list.prev[node] = node - 1;
  }
  return list;
}

/** Unlinks a call node and its return node. A call always has a successor (its own return, at least). */
function lift(list: EntryList, call: number): void {
  const { next, prev, match } = list;
  const ret = match[call]!;
  next[prev[call]!] = next[call]!;
  prev[next[call]!] = prev[call]!;
  next[prev[ret]!] = next[ret]!;
  const after = next[ret]!;
  if (after !== NONE) prev[after] = prev[ret]!;
}

/** Links them back, in the reverse order of lift (the neighbours' pointers are what lift left). */
function unlift(list: EntryList, call: number): void {
  const { next, prev, match } = list;
  const ret = match[call]!;
  next[prev[ret]!] = ret;
  const after = next[ret]!;
  if (after !== NONE) prev[after] = ret;
  next[prev[call]!] = call;
  prev[next[call]!] = call;
}

class StateCache {
  private readonly byHash = new Map<number, { words: Uint32Array; state: Value }[]>();

  /** Adds (linearized, state) unless present; true when it was new. */
  addIfNew(linearized: Bitset, state: Value): boolean {
    const bucket = this.byHash.get(linearized.hash);
    if (bucket === undefined) {
      this.byHash.set(linearized.hash, [{ words: linearized.snapshot(), state }]);
      return true;
    }
    for (const seen of bucket) {
      if (seen.state === state && linearized.equals(seen.words)) return false;
    }
    bucket.push({ words: linearized.snapshot(), state });
    return true;
  }
}

/** Decides whether `ops` (all on one key, none failed) have a linearization from `initial`. */
export function searchLinearization(ops: readonly Operation[], options: SearchOptions): SearchResult {
  const list = buildList(ops);
  const linearized = Bitset.create(ops.length);
  const cache = new StateCache();
  const calls: { node: number; stateBefore: Value }[] = [];
  let best: { prefix: number[]; stuckAt: number } | undefined;
  let state = options.initial;
  let node = list.next[HEAD]!;
  let steps = 0;
  while (list.next[HEAD]! !== NONE) {
    steps++;
    if (steps % limits.stepsPerClockCheck === 0 && options.clock() > options.deadlineMs) return { kind: 'timeout' };
    const op = list.opOf[node]!;
    if (list.match[node]! !== NONE) {
      const after = stepRegister(state, ops[op] as Operation);
      if (after !== ILLEGAL) {
        linearized.flip(op);
        if (cache.addIfNew(linearized, after)) {
          calls.push({ node, stateBefore: state });
          state = after;
          lift(list, node);
          node = list.next[HEAD]!;
          continue;
        }
        linearized.flip(op);
      }
      node = list.next[node]!;
      continue;
    }
    // A return whose call is still unplaced: that operation cannot be put off any longer.
    if (best === undefined || calls.length > best.prefix.length) {
      best = { prefix: calls.map((c) => list.opOf[c.node]!), stuckAt: op };
    }
    const top = calls.pop();
    if (top === undefined) return { kind: 'not-linearizable', longestPrefix: best.prefix, stuckAt: best.stuckAt };
    state = top.stateBefore;
    linearized.flip(list.opOf[top.node]!);
    unlift(list, top.node);
    node = list.next[top.node]!;
  }
  return { kind: 'linearizable', order: calls.map((c) => list.opOf[c.node]!) };
}
