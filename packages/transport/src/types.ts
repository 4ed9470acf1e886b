/**
 * The shapes the transport's users see: envelopes, peer addresses and the options of a Transport.
 */
import type { NodeId } from '@kalam/raft';
import type { TransportLimits } from './limits.js';

/**
 * One message for one group. `msg` is opaque here (a raft Message or an object RaftManager defines; it must be
 * CBOR-encodable); the only thing the transport reads is `msg.type === 'MsgSnap'`, which puts it on the bulk lane.
 */
export interface Envelope {
  groupId: number;
  from: NodeId;
  to: NodeId;
  msg: unknown;
}

export interface PeerAddress {
  nodeId: NodeId;
  host: string;
  port: number;
}

export type PeerStatus = 'connected' | 'disconnected';

export type LogLevel = 'info' | 'warn' | 'error';

export type LogFn = (level: LogLevel, event: string, fields: Record<string, unknown>) => void;

/**
 * TLS for the /raft endpoint and every dial (wss). The server presents `cert` and, with `requireClientCert`, refuses a
 * TLS handshake without a client certificate signed by `ca`; a dialer presents `cert` too and refuses a peer whose
 * certificate `ca` did not sign or that does not name the host it dialed. All PEM.
 */
export interface TransportTls {
  cert: string;
  key: string;
  ca: string;
  requireClientCert: boolean;
}

export interface TransportOptions {
  nodeId: NodeId;
  clusterId: string;
  secret: string;
  /** Where the /raft endpoint listens (the bind address); port 0 picks a free port (read it from `start()`). */
  listen: { host: string; port: number };
  /** Every other member of the cluster (never this node). */
  peers: readonly PeerAddress[];
  /** Any bound of limits.ts by its name (tests and tuning); the named options below win over it. */
  limits?: Partial<TransportLimits>;
  /** ws maxPayload, and the largest frame sent. Larger inbound frames are counted and their socket closed. */
  maxPayloadBytes?: number;
  /** Bound of each peer's outbound control lane, in envelopes; overflow drops the oldest, counted queueFull. */
  queueMax?: number;
  /** Handshakes whose timestamp is further than this from our clock are refused; also the replay window. */
  handshakeMaxSkewMs?: number;
  /** Capped exponential backoff with jitter between dial attempts. */
  reconnectBackoffMs?: { min: number; max: number };
  /** Called synchronously from the socket callback, once per frame; must only enqueue and must not throw. */
  onEnvelopes: (from: NodeId, envelopes: Envelope[]) => void;
  /** Answers a peer's `request`. A rejection travels back as REMOTE_ERROR with the error's message and code. */
  onRequest: (from: NodeId, method: string, body: unknown) => Promise<unknown>;
  /** Outbound link state changes (authenticated link up / down). Not called after `close()`. */
  onPeerStatus?: (peer: NodeId, status: PeerStatus) => void;
  /**
   * A peer refused this node's hello because this node was removed from the cluster (its handshake answered
   * `removed_node`). Called once per refusal; the node should stop.
   */
  onRemoved?: (by: NodeId) => void;
  /**
   * This node's API URL as the cluster knows it. A plain HTTP request to the RPC port (not a WebSocket upgrade) is
   * answered 426 with it in `X-Kalam-Api-Url`, so a joining node may be pointed at a member's RPC address.
   */
  apiUrl?: string;
  /** Absent: plain ws. */
  tls?: TransportTls;
  log?: LogFn;
}
