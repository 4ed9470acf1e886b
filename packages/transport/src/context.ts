/**
 * What the server and the links share: this node's identity, the limits, the counters, the fault rules, the
 * delay timers, the log and the user's callbacks. One per Transport; the Transport owns it.
 */
import type { NodeId } from '@kalam/raft';
import type { WebSocket } from 'ws';
import type { DelayQueue, FaultTable } from './faults.js';
import type { HandshakeIdentity } from './handshake.js';
import type { TransportLimits } from './limits.js';
import type { TransportStats } from './stats.js';
import type { Envelope, LogFn, TransportTls } from './types.js';

export interface TransportContext {
  readonly identity: HandshakeIdentity;
  readonly limits: TransportLimits;
  readonly stats: TransportStats;
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

/** Sends one frame on an open socket and counts it. `cb` runs once the bytes are written (or failed). */
export function sendFrame(ctx: TransportContext, ws: WebSocket, bytes: Uint8Array, cb?: (err?: Error) => void): void {
  ctx.stats.framesOut += 1;
  ctx.stats.bytesOut += bytes.length;
  ws.send(bytes, { binary: true }, cb);
}

/** A received WebSocket message as one byte array, counted. */
export function receivedBytes(ctx: TransportContext, data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  ctx.stats.framesIn += 1;
  ctx.stats.bytesIn += bytes.length;
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
