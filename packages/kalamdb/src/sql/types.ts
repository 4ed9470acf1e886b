/** The shapes the SQL engine hands to the API layer (reference/kalamdb-facts.md, "HTTP API"). */
import type { Role, Value } from '../commands.js';

/** Who runs a statement: the authenticated user, or the user an EXECUTE AS USER names. */
export interface Session {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
}

/** One column of a result; `data_type` uses KalamDB's names ("BigInt", "Text", …). */
export interface ColumnInfo {
  readonly name: string;
  readonly data_type: string;
  readonly index: number;
}

/** One statement's result, as KalamDB's `results[i]`. */
export interface QueryResult {
  schema: ColumnInfo[];
  rows: Value[][];
  row_count: number;
  message?: string;
  as_user?: string;
  /**
   * A write under a client session: true when this is the remembered answer of the write, applied earlier, and
   * nothing was applied now. The API moves it into its `client_session` field.
   */
  replayed?: boolean;
}

/** What system.cluster_nodes and system.cluster_groups show; the node process fills it from RaftManager. */
export interface ClusterView {
  nodes: { nodeId: number; apiUrl: string | null; rpcAddr: string | null; up: boolean }[];
  groups: {
    name: string;
    nodeId: number;
    role: string;
    leader: number | null;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    /** The group's configuration as this node has applied it (absent: not known to the view). */
    voters?: readonly number[];
    learners?: readonly number[];
  }[];
}
