/**
 * The commands each group kind applies, with KalamDB's variant names (reference/kalamdb-facts.md), as
 * discriminated unions on `type`. Everything that makes apply deterministic travels inside the command:
 * ids, timestamps (ms since the epoch, chosen by the proposer), sequence numbers. Data commands also carry
 * `metaIndex`, the `meta:system` applied index they were planned against (DESIGN.md §6): a data group does
 * not apply them before its node has applied that index.
 */
import type { Expr } from '@kalam/sql';

/** A SQL value as stored and replicated: JSON-compatible and compared exactly. */
export type Value = string | number | boolean | null;

export type Row = Readonly<Record<string, Value>>;

export type TableType = 'USER' | 'SHARED' | 'STREAM';

export interface ColumnSchema {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  /** A literal default, or a function name evaluated by the proposer (e.g. NOW()). */
  readonly default: { readonly literal: Value } | { readonly fn: string } | null;
}

export interface TableSchema {
  readonly columns: readonly ColumnSchema[];
  readonly primaryKey: string;
  readonly options: {
    readonly ttlSeconds?: number;
    readonly flushPolicy?: { readonly rows: number };
    readonly accessLevel?: 'PUBLIC' | 'PRIVATE';
    readonly storageId?: string;
  };
}

export interface StorageConfig {
  readonly type: string;
  readonly path: string;
}

export type Role = 'user' | 'service' | 'dba' | 'system';

export interface UserRecord {
  readonly userId: string;
  readonly username: string;
  /** A KDF hash (scrypt), never the password. */
  readonly passwordHash: string;
  readonly role: Role;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A WHERE filter: the SQL layer's expression tree, evaluated by the state machines. */
export type Filter = Expr;

/**
 * `SET column = expression` where the expression reads the row (`n = n + 1`): evaluated by the state machine against
 * each matched row as it was before the statement (as SQL's UPDATE does), then coerced and type-checked like a value.
 */
export interface ComputedAssignment {
  readonly column: string;
  readonly expr: Expr;
}

export type SystemCommand =
  | {
      readonly type: 'CreateNamespace';
      readonly namespaceId: string;
      readonly createdBy: string | null;
      readonly createdAt: number;
    }
  | { readonly type: 'DeleteNamespace'; readonly namespaceId: string }
  | {
      readonly type: 'CreateTable';
      readonly tableId: string;
      readonly tableType: TableType;
      readonly schema: TableSchema;
      readonly createdAt: number;
    }
  | { readonly type: 'AlterTable'; readonly tableId: string; readonly schema: TableSchema }
  | { readonly type: 'DropTable'; readonly tableId: string }
  | { readonly type: 'RegisterStorage'; readonly storageId: string; readonly config: StorageConfig }
  | { readonly type: 'UnregisterStorage'; readonly storageId: string }
  | {
      readonly type: 'SeedClusterNodes';
      readonly nodes: readonly ClusterNodeAddress[];
      readonly createdAt: number;
    }
  | {
      readonly type: 'AddClusterNode';
      readonly rpcAddr: string;
      readonly apiAddr: string;
      readonly createdAt: number;
    }
  | {
      readonly type: 'SetClusterNodeState';
      readonly nodeId: number;
      readonly from: ClusterNodeState;
      readonly to: ClusterNodeState;
    };

/**
 * A member's life in `system.cluster_nodes` (issue [M9] §2): joining (row proposed, in no group yet) → learner (a
 * learner of every group) → voter (a voter of every group); leaving (being removed from every group) → removed
 * (in no group; the row stays so its id is never given out again and its handshake is refused).
 */
export const CLUSTER_NODE_STATES = ['joining', 'learner', 'voter', 'leaving', 'removed'] as const;
export type ClusterNodeState = (typeof CLUSTER_NODE_STATES)[number];

/** Where a member is reached: its Raft transport (`host:port`) and its HTTP API (`http://host:port`). */
export interface ClusterNodeAddress {
  readonly nodeId: number;
  readonly rpcAddr: string;
  readonly apiAddr: string;
}

/** One row of `system.cluster_nodes` as meta:system holds it. */
export interface ClusterNodeRecord extends ClusterNodeAddress {
  readonly state: ClusterNodeState;
  readonly createdAt: number;
}

/**
 * What every state machine answers when it refuses a command: the same refusal on every replica, the state
 * unchanged. `code` is data (TABLE_NOT_FOUND, ALREADY_EXISTS, NAMESPACE_NOT_FOUND, CONFLICT, INVALID, …): callers
 * map it, never the message.
 */
export interface ErrorResponse {
  readonly type: 'Error';
  readonly code: string;
  readonly message: string;
}

/** True when a state machine's response is its refusal. */
export function isRefusal(response: { readonly type: string }): response is ErrorResponse {
  return response.type === 'Error';
}

export type SystemResponse =
  | { readonly type: 'Ok' }
  | { readonly type: 'NamespaceCreated'; readonly namespaceId: string }
  | { readonly type: 'TableCreated'; readonly tableId: string }
  | { readonly type: 'ClusterNodeAdded'; readonly nodeId: number; readonly created: boolean }
  | ErrorResponse;

export type UsersCommand =
  | { readonly type: 'CreateUser'; readonly user: UserRecord }
  | { readonly type: 'UpdateUser'; readonly user: UserRecord }
  | { readonly type: 'DeleteUser'; readonly userId: string; readonly deletedAt: number }
  | { readonly type: 'RecordLogin'; readonly userId: string; readonly loggedInAt: number }
  | {
      readonly type: 'SetLocked';
      readonly userId: string;
      readonly lockedUntil: number | null;
      readonly updatedAt: number;
    };

export type UsersResponse =
  { readonly type: 'Ok' } | { readonly type: 'UserCreated'; readonly userId: string } | ErrorResponse;

export type JobStatus = 'new' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export type JobsCommand =
  | {
      readonly type: 'CreateJob';
      readonly jobId: string;
      readonly jobType: string;
      readonly namespaceId: string | null;
      readonly tableName: string | null;
      readonly config: Readonly<Record<string, Value>> | null;
      readonly createdAt: number;
    }
  | { readonly type: 'ClaimJob'; readonly jobId: string; readonly nodeId: number; readonly claimedAt: number }
  | { readonly type: 'UpdateJobStatus'; readonly jobId: string; readonly status: JobStatus; readonly updatedAt: number }
  | {
      readonly type: 'CompleteJob';
      readonly jobId: string;
      readonly result: string | null;
      readonly completedAt: number;
      /** Kalam's addition: the node finishing its own run; refused unless the job is running under that node. */
      readonly nodeId?: number;
    }
  | {
      readonly type: 'FailJob';
      readonly jobId: string;
      readonly errorMessage: string;
      readonly failedAt: number;
      /** As in CompleteJob. */
      readonly nodeId?: number;
    }
  | { readonly type: 'ReleaseJob'; readonly jobId: string; readonly reason: string; readonly releasedAt: number }
  | { readonly type: 'CancelJob'; readonly jobId: string; readonly reason: string; readonly cancelledAt: number }
  | {
      readonly type: 'CreateSchedule';
      readonly scheduleId: string;
      readonly jobType: string;
      readonly cronExpression: string;
      readonly config: Readonly<Record<string, Value>> | null;
      readonly createdAt: number;
    }
  | { readonly type: 'DeleteSchedule'; readonly scheduleId: string }
  /** Kalam's addition: forgets finished (completed, failed, cancelled) jobs that finished before the cutoff. */
  | { readonly type: 'PurgeJobs'; readonly finishedBefore: number };

export type JobsResponse =
  | { readonly type: 'Ok' }
  | { readonly type: 'JobCreated'; readonly jobId: string }
  | { readonly type: 'JobClaimed'; readonly jobId: string; readonly nodeId: number }
  | { readonly type: 'JobsPurged'; readonly count: number }
  | ErrorResponse;

/**
 * Job commands of a data group (jobs/*: flush, compaction, retention), the same in both shard kinds; in a user shard
 * they name the user whose rows they touch. A flush moves the hot rows with `_seq` in [minSeq, maxSeq] — exactly
 * `rowCount` of them, or the command is refused — into the Parquet file `fileName`; a rewrite (compaction or
 * retention) replaces every flushed file of the scope, named in `inputFiles`, by `outputFile`, dropping superseded
 * versions and whatever is past the cutoffs (explicit timestamps chosen by the job's leader).
 */
export type DataJobCommand = TableCommandBase &
  (
    | {
        readonly type: 'FlushRows';
        readonly tableId: string;
        readonly fileName: string;
        readonly rowCount: number;
        readonly minSeq: number;
        readonly maxSeq: number;
        readonly at: number;
      }
    | {
        readonly type: 'RewriteFiles';
        readonly reason: 'compaction' | 'retention';
        readonly tableId: string;
        readonly inputFiles: readonly string[];
        readonly outputFile: string;
        readonly expiredBeforeMs: number | null;
        readonly deletedBeforeMs: number | null;
        readonly at: number;
      }
  );

/**
 * A write's client session (state/sessions.ts): the authenticated user and the client's id (with the time the client
 * made it) key the session; `seq` numbers the write (a retry resends it), and every seq <= `acked` has had its answer
 * delivered, so the group may forget those answers. Only on Insert, Update and Delete.
 */
export interface ClientStamp {
  readonly userId: string;
  readonly clientId: string;
  readonly createdMs: number;
  readonly seq: number;
  readonly acked: number;
}

/** What a row write may carry besides: its client session, which makes a retry of it apply once. */
interface SessionWrite {
  readonly client?: ClientStamp;
}

/** What every data command carries for deterministic, ordered apply. */
interface DataCommandBase {
  /** The meta:system applied index the command was planned against (it moves the group's horizon, state/view.ts). */
  readonly metaIndex: number;
}

/** What a data command that names a table carries besides. */
interface TableCommandBase {
  /**
   * The incarnation of the table the command was planned against (catalog.ts): a table dropped and created again
   * under its name since refuses the command instead of taking rows meant for the old one. Absent: any incarnation.
   */
  readonly incarnation?: number;
}

export type UserDataCommand = DataCommandBase &
  (
    | (TableCommandBase &
        SessionWrite & {
          readonly type: 'Insert';
          readonly tableId: string;
          readonly userId: string;
          readonly rows: readonly Row[];
          /** `_seq` of the first row; the rest follow in order. */
          readonly seqBase: number;
          readonly at: number;
        })
    | (TableCommandBase &
        SessionWrite & {
          readonly type: 'Update';
          readonly tableId: string;
          readonly userId: string;
          readonly updates: Row;
          /** Absent when every SET value is a constant (then the command encodes as before). */
          readonly computed?: readonly ComputedAssignment[];
          readonly filter: Filter | null;
          readonly seqBase: number;
          readonly at: number;
        })
    | (TableCommandBase &
        SessionWrite & {
          readonly type: 'Delete';
          readonly tableId: string;
          readonly userId: string;
          readonly filter: Filter | null;
          readonly seqBase: number;
          readonly at: number;
        })
    | (TableCommandBase & {
        readonly type: 'RegisterLiveQuery';
        readonly subscriptionId: string;
        readonly userId: string;
        readonly queryHash: string;
        readonly tableId: string;
        readonly filter: Filter | null;
        readonly nodeId: number;
        readonly createdAt: number;
      })
    | { readonly type: 'UnregisterLiveQuery'; readonly subscriptionId: string; readonly userId: string }
    | { readonly type: 'CleanupNodeSubscriptions'; readonly userId: string; readonly failedNodeId: number }
    | (DataJobCommand & { readonly userId: string })
    | {
        readonly type: 'PingLiveQuery';
        readonly subscriptionId: string;
        readonly userId: string;
        readonly pingedAt: number;
      }
    | {
        /**
         * PingLiveQuery for every subscription one node holds for one user, in one entry (Kalam's addition: a
         * node pings once per user and interval, not once per subscription). Answers LiveQueriesPinged with the
         * ids that were still registered.
         */
        readonly type: 'PingLiveQueries';
        readonly userId: string;
        readonly subscriptionIds: readonly string[];
        readonly pingedAt: number;
      }
  );

export type SharedDataCommand = DataCommandBase &
  (
    | (TableCommandBase &
        SessionWrite & {
          readonly type: 'Insert';
          readonly tableId: string;
          readonly rows: readonly Row[];
          readonly seqBase: number;
          readonly at: number;
        })
    | (TableCommandBase &
        SessionWrite & {
          readonly type: 'Update';
          readonly tableId: string;
          readonly updates: Row;
          readonly computed?: readonly ComputedAssignment[];
          readonly filter: Filter | null;
          readonly seqBase: number;
          readonly at: number;
        })
    | (TableCommandBase &
        SessionWrite & {
          readonly type: 'Delete';
          readonly tableId: string;
          readonly filter: Filter | null;
          readonly seqBase: number;
          readonly at: number;
        })
    | DataJobCommand
  );

export type DataResponse =
  | { readonly type: 'Ok' }
  /** `replayed`: the remembered answer of a client session's write that had applied before (nothing applied now). */
  | { readonly type: 'RowsAffected'; readonly count: number; readonly replayed?: boolean }
  | { readonly type: 'Subscribed'; readonly subscriptionId: string }
  | { readonly type: 'LiveQueriesPinged'; readonly subscriptionIds: readonly string[] }
  | ErrorResponse;

export type AnyCommand = SystemCommand | UsersCommand | JobsCommand | UserDataCommand | SharedDataCommand;
