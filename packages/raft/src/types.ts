/**
 * The vocabulary of the core: ids, entries, hard state, snapshots and the wire messages. Messages are a
 * discriminated union on `type`, named as in etcd-io/raft so that its tests and literature read across.
 */

/** A node id. 0 is reserved for "none". */
export type NodeId = number & { readonly __brand: 'NodeId' };

export const NONE = 0 as NodeId;

export function nodeId(n: number): NodeId {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`node id must be a positive integer, got ${n}`);
  return n as NodeId;
}

export const EntryKind = {
  /** An application command. */
  Command: 'command',
  /** The empty entry a new leader appends so it can commit in its own term (Raft §5.4.2, §8). */
  Noop: 'noop',
  /** A membership change: its data is an encoded ConfChangeV2 (confchange.ts), applied when it is applied. */
  Conf: 'conf',
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be durable before any vote or append acknowledgement leaves the node. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  /**
   * Set while this node rebuilds a log it lost (Raft.recovering): it votes for nobody until a leader caught it
   * up. Durable, so that a crash half-way through the catch-up does not let it vote on a partial log.
   */
  readonly recovering?: true;
}

export interface SnapshotMeta {
  /** The index of the last entry the snapshot covers. */
  readonly index: number;
  readonly term: number;
  /**
   * The configuration in force when the snapshot was taken: that of the conf entry at `confIndex`, which may lie
   * past `index` (a snapshot built from an older read view; the entry is committed, and receivers skip it).
   * Absent: the receiver keeps its own configuration, as before membership changes existed.
   */
  readonly confState?: ConfState;
  readonly confIndex?: number;
}

export interface Snapshot extends SnapshotMeta {
  readonly data: SnapshotData;
}

/**
 * A snapshot's bytes, read a range at a time: in memory (a Uint8Array is one) or in a file the application owns,
 * so that neither the sender nor the receiver needs the whole snapshot in memory. The core only ever asks for one
 * chunk at a time.
 */
export interface SnapshotData {
  readonly byteLength: number;
  /** Bytes [begin, end) (end clamped to byteLength); the result may be a view that the caller must not keep. */
  subarray(begin: number, end: number): Uint8Array;
}

/**
 * Where a follower's core writes a snapshot as it arrives, chunk by chunk in order (offsets never skip): the
 * application decides where the bytes live. `finish` is called once every byte was written and returns the
 * snapshot's bytes (durable if the application needs them to be, before the core hands the snapshot out);
 * `abort` when the transfer is given up (a newer one starts, or it became stale). After either, no more calls.
 */
export interface SnapshotSink {
  write(offset: number, bytes: Uint8Array): void;
  finish(): SnapshotData;
  abort(): void;
}

/** Opens a sink for the snapshot `meta` of `totalBytes` bytes (RaftConfig.snapshotSink). */
export type SnapshotSinkFactory = (meta: SnapshotMeta, totalBytes: number) => SnapshotSink;

/** A snapshot's bytes whole in memory: for stores and state machines that keep snapshots in memory anyway. */
export function snapshotBytes(data: SnapshotData): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray(0, data.byteLength).slice();
}

/** The default sink: the bytes in one buffer in memory (tests, the simulator, stores in memory). */
export const memorySnapshotSink: SnapshotSinkFactory = (_meta, totalBytes) => {
  let bytes: Uint8Array | undefined = new Uint8Array(totalBytes);
  return {
    write(offset, chunk) {
      bytes!.set(chunk, offset);
    },
    finish() {
      const done = bytes!;
      bytes = undefined;
      return done;
    },
    abort() {
      bytes = undefined;
    },
  };
};

export interface ConfState {
  /** The incoming (or only) voters. */
  readonly voters: readonly NodeId[];
  /** The outgoing voters while joint; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Outgoing voters to become learners once the joint configuration is left (always ⊆ votersOutgoing). */
  readonly learnersNext: readonly NodeId[];
  /** While joint: the leader proposes the leave by itself once the joint entry is applied. */
  readonly autoLeave: boolean;
}

export const ConfChangeType = {
  AddVoter: 'addVoter',
  AddLearner: 'addLearner',
  Remove: 'remove',
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly node: NodeId;
}

/**
 * A membership change. With no changes it means "leave the joint configuration". Otherwise:
 *   - 'auto' with exactly one change is a single-step change (it alters at most one voter, so any majority of the
 *     old voters and any majority of the new ones intersect, thesis §4.1); with more changes it enters a joint
 *     configuration that the leader leaves by itself once it is applied;
 *   - 'explicit' always enters a joint configuration, left only by an explicit empty change.
 */
export interface ConfChangeV2 {
  readonly transition: 'auto' | 'explicit';
  readonly changes: readonly ConfChangeSingle[];
}

export const StateRole = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Leader → follower: entries after (index, logTerm), and the leader's commit index. */
export interface MsgApp extends Envelope {
  readonly type: 'MsgApp';
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Follower → leader. Accepted: `index` is the follower's last matching index. Rejected: `index` is the
 * rejected probe index and (rejectHint, logTerm) name the follower's best guess of a matching point,
 * for fast backtracking by conflict term.
 */
export interface MsgAppResp extends Envelope {
  readonly type: 'MsgAppResp';
  readonly index: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly logTerm: number;
}

export interface MsgVote extends Envelope {
  readonly type: 'MsgVote' | 'MsgPreVote';
  /** The candidate's last log index. */
  readonly index: number;
  /** The candidate's last log term. */
  readonly logTerm: number;
  /** Set when the election follows a leadership transfer: receivers ignore their leader lease. */
  readonly transfer: boolean;
}

export interface MsgVoteResp extends Envelope {
  readonly type: 'MsgVoteResp' | 'MsgPreVoteResp';
  readonly reject: boolean;
}

export interface MsgHeartbeat extends Envelope {
  readonly type: 'MsgHeartbeat';
  readonly commit: number;
  /** The newest pending ReadIndex context, if any: an ack confirms leadership for that read and all before it. */
  readonly context: string | null;
}

export interface MsgHeartbeatResp extends Envelope {
  readonly type: 'MsgHeartbeatResp';
  readonly context: string | null;
}

/** One chunk of an InstallSnapshot transfer: bytes [offset, offset + data.length) of `totalBytes`. */
export interface MsgSnap extends Envelope {
  readonly type: 'MsgSnap';
  readonly snapshot: SnapshotMeta;
  readonly offset: number;
  readonly totalBytes: number;
  readonly data: Uint8Array;
}

/** Follower → leader: how many bytes of the snapshot at `index` it holds. */
export interface MsgSnapResp extends Envelope {
  readonly type: 'MsgSnapResp';
  readonly index: number;
  readonly offset: number;
}

export interface MsgTimeoutNow extends Envelope {
  readonly type: 'MsgTimeoutNow';
}

/** Follower → leader: please transfer leadership to `transferee`. */
export interface MsgTransferLeader extends Envelope {
  readonly type: 'MsgTransferLeader';
  readonly transferee: NodeId;
}

export interface MsgReadIndex extends Envelope {
  readonly type: 'MsgReadIndex';
  readonly context: string;
}

export interface MsgReadIndexResp extends Envelope {
  readonly type: 'MsgReadIndexResp';
  readonly context: string;
  readonly index: number;
  readonly reject: boolean;
  /** Why the read was refused (null when it was not). */
  readonly reason: ReadRejectReason | null;
}

export type Message =
  | MsgApp
  | MsgAppResp
  | MsgVote
  | MsgVoteResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgSnap
  | MsgSnapResp
  | MsgTimeoutNow
  | MsgTransferLeader
  | MsgReadIndex
  | MsgReadIndexResp;

export type MessageType = Message['type'];

/** The outcome of a ReadIndex request, delivered through Ready.readStates. */
export type ReadState =
  | { readonly context: string; readonly status: 'ok'; readonly index: number }
  | { readonly context: string; readonly status: 'rejected'; readonly reason: ReadRejectReason };

export type ReadRejectReason = 'NOT_LEADER' | 'NOT_COMMITTED_IN_TERM' | 'LEADERSHIP_LOST';

export interface SoftState {
  readonly lead: NodeId;
  readonly role: StateRole;
}

/** Bytes an entry counts for in the size limits: its payload plus a fixed header allowance. */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.length + ENTRY_HEADER_BYTES;
}

export const ENTRY_HEADER_BYTES = 24;
