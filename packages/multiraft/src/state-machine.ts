/**
 * The contract between RaftManager and a group's state machine. [M3] plugs KalamDB's five state machines
 * in here; tests use a key-value one.
 */
import type { EntryKind } from '@kalam/raft';

export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  /** Empty for no-ops. */
  readonly data: Uint8Array;
}

export interface StateMachine {
  /**
   * Applies entries in order, deterministically, and returns one response per entry (undefined for
   * no-ops). Entries at or below `appliedIndex()` must be skipped (a replay after a crash), and the
   * applied index must be made durable together with the data it covers.
   */
  apply(entries: readonly AppliedEntry[]): unknown[];
  /** The last applied index, as durable as the state itself. */
  appliedIndex(): number;
  /** The whole state at `appliedIndex()`. */
  snapshot(): Uint8Array;
  /** Replaces the whole state by a snapshot's, atomically. */
  restore(snapshot: { index: number; term: number; data: Uint8Array }): void;
  /**
   * May the entry be applied now? Returning false pauses the group (it never skips): used for the
   * cross-group order of DESIGN.md §6, where a data entry waits for a meta:system index. Once true for an
   * entry it must stay true (what the entry waits for only grows): the driver asks about each entry once.
   */
  canApply?(entry: AppliedEntry): boolean;
}
