/**
 * Typed errors for operating conditions of the transport. Each has a stable `code`; upper layers branch on
 * the code, never on the message.
 */
import type { NodeId } from '@kalam/raft';

export type TransportErrorCode =
  /** The peer has no authenticated link right now (or is not a member), so nothing was sent. */
  | 'PEER_UNAVAILABLE'
  /** No response arrived within the caller's timeout. The request may or may not have run remotely. */
  | 'TIMEOUT'
  /** The remote handler failed; `remoteCode` and `remoteFields` carry its error's code and fields. */
  | 'REMOTE_ERROR'
  /** The transport was closed while the call was pending, or before it was made. */
  | 'CLOSED'
  /** A handshake was refused (by the peer, or because the peer failed to authenticate itself). */
  | 'HANDSHAKE_REFUSED';

export interface TransportErrorOptions {
  peer?: NodeId;
  cause?: unknown;
  /** The `code` property of the remote handler's error, when it had one. */
  remoteCode?: string | number;
  /** The remote error's own primitive fields (for example `leaderHint`), `code` included. */
  remoteFields?: Readonly<Record<string, string | number | boolean | null>>;
}

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly peer?: NodeId;
  readonly remoteCode?: string | number;
  readonly remoteFields?: Readonly<Record<string, string | number | boolean | null>>;

  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options: TransportErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (options.peer !== undefined) this.peer = options.peer;
    if (options.remoteCode !== undefined) this.remoteCode = options.remoteCode;
    if (options.remoteFields !== undefined) this.remoteFields = options.remoteFields;
  }
}
