/**
 * What a data group's apply path reports to live queries: one RowChange per row written, in commit order, each with
 * the `_seq` the row got. `_seq` is strictly increasing per data group in commit order (state/data.ts assigns it
 * from the group's high-water mark), so it is a resume cursor: "every change after _seq S" is well defined.
 */
import type { Value } from '../commands.js';

export type ChangeType = 'insert' | 'update' | 'delete';

export interface RowChange {
  /** The row's `_seq` after this change. */
  readonly seq: number;
  readonly tableId: string;
  /** The table's incarnation (a table dropped and created again under its name is another one). */
  readonly incarnation: number;
  /** The owner of a USER/STREAM row; null for SHARED rows. */
  readonly userId: string | null;
  readonly changeType: ChangeType;
  /** The row after the change (for a delete: the row as it was, now soft-deleted). */
  readonly row: Readonly<Record<string, Value>>;
  /** The row before the change, with its previous `_seq` under `_seq`; null for an insert. */
  readonly old: Readonly<Record<string, Value>> | null;
}

/** The events of a ChangeFeed, emitted after the apply transaction that caused them has committed. */
export type FeedEvent =
  | { readonly kind: 'changes'; readonly groupId: number; readonly changes: readonly RowChange[] }
  /** The group's state was replaced by a snapshot: changes may have been skipped; catch up from the change log. */
  | { readonly kind: 'restored'; readonly groupId: number }
  /** Registrations removed by UnregisterLiveQuery or CleanupNodeSubscriptions (not by this node's own unsubscribe). */
  | {
      readonly kind: 'unregistered';
      readonly groupId: number;
      readonly subscriptionIds: readonly string[];
      /** unregister: KILL LIVE QUERY or the owner's node; cleanup: its node failed; dropped: its table was dropped. */
      readonly cause: 'unregister' | 'cleanup' | 'dropped';
    };
