/**
 * Typed errors of RaftManager. `code` is stable and what upper layers map to KalamDB's error codes
 * (NOT_LEADER, LEADER_NOT_AVAILABLE, …); `leaderHint` names the leader when one is known.
 */
import type { NodeId } from '@kalam/raft';

export type MultiRaftErrorCode =
  | 'NOT_LEADER'
  | 'LEADER_NOT_AVAILABLE'
  | 'TIMEOUT'
  | 'PROPOSAL_DROPPED'
  | 'SHUTTING_DOWN'
  | 'UNKNOWN_GROUP'
  | 'OVERLOADED'
  | 'READ_REJECTED'
  | 'TRANSFER_FAILED'
  /** A proposal or message over the core's size limits. */
  | 'TOO_LARGE'
  /** A forwarding RPC this node cannot read (a peer of another version, or a bug). */
  | 'BAD_REQUEST'
  | 'LOG_CORRUPT'
  /**
   * A group's state machine holds less than raft.db's log was compacted to (its store lost what it had made
   * durable, or was replaced): the entries in between are gone, so this node cannot serve the group.
   */
  | 'STATE_BEHIND_LOG'
  /**
   * The group is installing a snapshot (a piece at a time, across driver turns): its state is partly the old one and
   * partly the snapshot's, so nothing reads it until the install is done. The driver's reads and proposals wait
   * for the install; a read that reaches the state machine meanwhile is refused with this code.
   */
  | 'SNAPSHOT_INSTALLING'
  /** A membership change was proposed while another is not applied yet (one at a time, Raft thesis §4.1). */
  | 'CONF_CHANGE_PENDING'
  /** A membership change that breaks a rule (remove every voter, leave a joint state that is not, …). */
  | 'CONF_CHANGE_INVALID';

export class MultiRaftError extends Error {
  override readonly name = 'MultiRaftError';
  /** The group concerned, if any. Plain fields, so that they cross the forwarding RPC. */
  readonly groupId: number | null;
  /** The leader this node knows of, when there is one. */
  readonly leaderHint: NodeId | null;

  constructor(
    readonly code: MultiRaftErrorCode,
    message: string,
    details: { groupId?: number; leaderHint?: NodeId | null } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.groupId = details.groupId ?? null;
    this.leaderHint = details.leaderHint ?? null;
  }
}

/** Errors crossing the forwarding RPC keep their code: rebuild a MultiRaftError from what came back. */
export function fromRemote(err: unknown, groupId: number): MultiRaftError {
  // A TransportError REMOTE_ERROR carries the remote error's code and plain fields.
  const e = err as {
    code?: unknown;
    remoteCode?: unknown;
    leaderHint?: unknown;
    remoteFields?: Record<string, unknown>;
  };
  const code = e.remoteCode ?? e.code;
  const hint = e.remoteFields?.leaderHint ?? e.leaderHint;
  const message = err instanceof Error ? err.message : String(err);
  const known: MultiRaftErrorCode[] = [
    'NOT_LEADER',
    'LEADER_NOT_AVAILABLE',
    'TIMEOUT',
    'PROPOSAL_DROPPED',
    'SHUTTING_DOWN',
    'UNKNOWN_GROUP',
    'OVERLOADED',
    'READ_REJECTED',
    'TOO_LARGE',
    'BAD_REQUEST',
    'CONF_CHANGE_PENDING',
    'CONF_CHANGE_INVALID',
  ];
  if (typeof code === 'string' && (known as string[]).includes(code)) {
    return new MultiRaftError(code as MultiRaftErrorCode, message, {
      groupId,
      leaderHint: typeof hint === 'number' ? (hint as NodeId) : null,
    });
  }
  return new MultiRaftError('LEADER_NOT_AVAILABLE', `forwarding failed: ${message}`, { groupId }, { cause: err });
}
