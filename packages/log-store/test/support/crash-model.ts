/**
 * The crash test's protocol and oracle. The child prints one JSON line per event on stdout:
 *
 *   {"t":"ready"}                   the store is open and every group loaded
 *   {"t":"intent","seq":n,"op":…}   about to run op n (printed before the call)
 *   {"t":"done","seq":n}            op n returned, so it is durable
 *
 * `applyOp` is the naive oracle of what the store holds after an op: a plain list of entry facts per group,
 * with the store's documented semantics (truncate from the first new index, a received snapshot replaces the
 * log, compaction drops a prefix and keeps the newest snapshot, commit raised to a snapshot). Both sides use
 * it: the child to plan its next op, the parent to know what must have survived a SIGKILL.
 */
import { createHash } from 'node:crypto';

import type { EntryKind, Snapshot } from '@kalam/raft';
import { snapshotBytes } from '@kalam/raft';

import type { GroupLogState } from '../../src/index.js';

/** [index, term, kind, sha256 of the payload (16 hex digits)] */
export type EntryFact = [number, number, EntryKind, string];
/** [index, term, sha256 of the data] */
export type SnapshotFact = [number, number, string];

export interface GroupModel {
  /** [term, vote, commit] */
  hardState: [number, number, number];
  offset: [number, number];
  snapshot: SnapshotFact | null;
  entries: EntryFact[];
}

export interface GroupWriteFact {
  g: number;
  hardState?: [number, number, number];
  snapshot?: SnapshotFact;
  entries: EntryFact[];
}

export interface WriteOp {
  kind: 'write';
  groups: GroupWriteFact[];
}

export interface CompactOp {
  kind: 'compact';
  g: number;
  snapshot: SnapshotFact;
  compactTo: number;
  compactToTerm: number;
}

export type CrashOp = WriteOp | CompactOp;

export type ChildLine = { t: 'ready' } | { t: 'intent'; seq: number; op: CrashOp } | { t: 'done'; seq: number };

export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

export function emptyModel(): GroupModel {
  return { hardState: [0, 0, 0], offset: [0, 0], snapshot: null, entries: [] };
}

export function snapshotFact(s: Snapshot): SnapshotFact {
  return [s.index, s.term, hashBytes(snapshotBytes(s.data))];
}

/** The model of what the store returned for a group. */
export function modelOf(s: GroupLogState): GroupModel {
  return {
    hardState: [s.hardState.term, s.hardState.vote, s.hardState.commit],
    offset: [s.offsetIndex, s.offsetTerm],
    snapshot: s.snapshot === undefined ? null : snapshotFact(s.snapshot),
    entries: s.entries.map((e) => [e.index, e.term, e.kind, hashBytes(e.data)]),
  };
}

export function lastIndex(m: GroupModel): number {
  return m.offset[0] + m.entries.length;
}

/** The term of entry `index` in (offset, last], or the offset's term at the offset. */
export function termAt(m: GroupModel, index: number): number {
  if (index === m.offset[0]) return m.offset[1];
  const fact = m.entries[index - m.offset[0] - 1];
  if (fact === undefined) throw new Error(`model: no entry ${index}`);
  return fact[1];
}

/** The models after `op`; the input is not changed. */
export function applyOp(models: ReadonlyMap<number, GroupModel>, op: CrashOp): Map<number, GroupModel> {
  const next = new Map(models);
  if (op.kind === 'compact') {
    const m = structuredClone(models.get(op.g) ?? emptyModel());
    m.snapshot = op.snapshot;
    m.hardState[2] = Math.max(m.hardState[2], op.snapshot[0]);
    if (op.compactTo > m.offset[0]) {
      m.entries = m.entries.slice(op.compactTo - m.offset[0]);
      m.offset = [op.compactTo, op.compactToTerm];
    }
    next.set(op.g, m);
    return next;
  }
  for (const w of op.groups) {
    const m = structuredClone(models.get(w.g) ?? emptyModel());
    if (w.snapshot !== undefined) {
      m.snapshot = w.snapshot;
      m.offset = [w.snapshot[0], w.snapshot[1]];
      m.entries = [];
      m.hardState[2] = Math.max(m.hardState[2], w.snapshot[0]);
    }
    const first = w.entries[0];
    if (first !== undefined) m.entries = [...m.entries.slice(0, first[0] - m.offset[0] - 1), ...w.entries];
    if (w.hardState !== undefined) m.hardState = [...w.hardState];
    next.set(w.g, m);
  }
  return next;
}
