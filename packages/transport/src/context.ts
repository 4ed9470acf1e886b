/**
 * What the server and the links share: this node's identity, the limits, the counters, the fault rules, the
 * delay timers, the log and the user's callbacks. One per Transport; the Transport owns it.
 */
import type { NodeId } from '@kalam/raft';
import type { WebSocket } from 'ws';
import type { DelayQueue, FaultTable } from './faults.js';
import type { HandshakeIdentity } from './handshake.js';
import type { TransportLimits } from './limits.js';
import { newPeerStats } from './stats.js';
import type { PeerStats, TransportStats } from './stats.js';
import type { Envelope, LogFn, TransportTls } from './types.js';

export interface TransportContext {
  readonly identity: HandshakeIdentity;
  readonly limits: TransportLimits;
  readonly stats: TransportStats;
  /** Per peer id: members and peers added at run time; a removed peer's entry goes with it (bounded by members). */
  readonly peerStats: Map<number, PeerStats>;
  readonly faults: FaultTable;
  readonly delays: DelayQueue;
  readonly log: LogFn;
  readonly isPeer: (nodeId: number) => boolean;
  /** Ids removed from the cluster: their hellos are refused as `removed_node`. */
  readonly isRemoved: (nodeId: number) => boolean;
  /** A peer refused our hello as `removed_node`: this node was removed from the cluster. */
  readonly onRemoved: (by: NodeId) => void;
  readonly now: () => number;
  readonly onEnvelopes: (from: NodeId, envelopes: Envelope[]) => void;
  readonly onRequest: (from: NodeId, method: string, body: unknown) => Promise<unknown>;
  /** This node's API URL, told to plain HTTP requests (TransportOptions.apiUrl). */
  readonly apiUrl: string | undefined;
  /** TransportOptions.tls: wss both ways. */
  readonly tls: TransportTls | undefined;
  /** True once the Transport is closing: nothing new starts, callbacks stop. */
  closed: boolean;
}

/** The peer's counters, created on first use. */
export function peerStatsOf(ctx: TransportContext, peer: number): PeerStats {
  let stats = ctx.peerStats.get(peer);
  if (stats === undefined) ctx.peerStats.set(peer, (stats = newPeerStats()));
  return stats;
}

/**
 * Sends one frame on an open socket and counts it (for `peer` too, once it is known). `cb` runs once the bytes are
 * written (or failed).
 */
export function sendFrame(
  ctx: TransportContext,
  peer: PeerStats | undefined,
  ws: WebSocket,
  bytes: Uint8Array,
  cb?: (err?: Error) => void,
): void {
  ctx.stats.framesOut += 1;
  ctx.stats.bytesOut += bytes.length;
  if (peer !== undefined) {
    peer.framesOut += 1;
    peer.bytesOut += bytes.length;
  }
  ws.send(bytes, { binary: true }, cb);
}

/** A received WebSocket message as one byte array, counted (for `peer` too, once it is known). */
export function receivedBytes(
  ctx: TransportContext,
  peer: PeerStats | undefined,
  data: Buffer | ArrayBuffer | Buffer[],
): Uint8Array {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  ctx.stats.framesIn += 1;
  ctx.stats.bytesIn += bytes.length;
  if (peer !== undefined) {
    peer.framesIn += 1;
    peer.bytesIn += bytes.length;
  }
  return bytes;
}

/** The WebSocket path of the raft endpoint. */
export const RAFT_PATH = '/raft';

/** Close code sent when a handshake is refused; the reason string names why. */
export const CLOSE_HANDSHAKE_REFUSED = 4401;
/** Close code sent when a newer authenticated socket from the same peer replaces this one. */
export const CLOSE_SUPERSEDED = 4409;
/** True when ws reports a message larger than maxPayload. */
export function isOversizedError(error: Error): boolean {
  return (error as { code?: unknown }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
}
