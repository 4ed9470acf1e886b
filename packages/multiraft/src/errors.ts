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
  | 'LOG_CORRUPT';

export class MultiRaftError extends Error {
  override readonly name = 'MultiRaftError';
  constructor(
    readonly code: MultiRaftErrorCode,
    message: string,
    readonly details: { groupId?: number; leaderHint?: NodeId | null } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get leaderHint(): NodeId | null {
    return this.details.leaderHint ?? null;
  }
}

/** Errors crossing the forwarding RPC keep their code: rebuild a MultiRaftError from what came back. */
export function fromRemote(err: unknown, groupId: number): MultiRaftError {
  const code = (err as { code?: unknown }).code;
  const hint = (err as { leaderHint?: unknown }).leaderHint;
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
  ];
  if (typeof code === 'string' && (known as string[]).includes(code)) {
    return new MultiRaftError(code as MultiRaftErrorCode, message, {
      groupId,
      leaderHint: typeof hint === 'number' ? (hint as NodeId) : null,
    });
  }
  return new MultiRaftError('LEADER_NOT_AVAILABLE', `forwarding failed: ${message}`, { groupId }, { cause: err });
}
