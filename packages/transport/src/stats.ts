/**
 * The transport's counters. Frames and bytes count every WebSocket message (handshakes included); envelopes
 * count what reached `onEnvelopes` (in) or went on the wire (out). A drop counter counts whole frames when a
 * frame was refused as a whole and single envelopes, requests or responses when only they were refused.
 */
export interface DroppedStats {
  /** Not CBOR, not a known frame shape, an envelope of the wrong shape, or a frame for the other direction. */
  undecodable: number;
  /** Larger than maxPayloadBytes: inbound (the socket is closed) or outbound (the envelope is not sent). */
  oversized: number;
  /** An outbound lane or the delay queue was full. */
  queueFull: number;
  /** A fault rule dropped it. */
  fault: number;
  /** A frame that arrived before the handshake and was not a handshake. */
  unauthenticated: number;
  /** Addressed to a node that is not (or no longer) a peer: membership changed under a message in flight. */
  notAPeer: number;
}

export interface TransportStats {
  framesIn: number;
  framesOut: number;
  envelopesIn: number;
  envelopesOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: DroppedStats;
  /** Handshakes this node refused: hellos on its server, welcomes on its links. */
  handshakesRefused: number;
  /** Links that came up again after having been up before. */
  reconnects: number;
}

/**
 * One peer's share: the frames and bytes of every socket with it (both directions; an inbound socket's from its
 * handshake on), and what went wrong on them. Fault-rule drops are not errors: they are asked for.
 */
export interface PeerStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  errors: PeerErrors;
}

export interface PeerErrors {
  /** A socket with the peer reported an error (its close follows). */
  socket: number;
  /** Frames or envelopes from the peer that could not be read, and envelopes to it that could not be encoded. */
  undecodable: number;
  /** Frames over maxPayloadBytes, either way. */
  oversized: number;
  /** Envelopes or requests to the peer dropped because its lane or the delay queue was full. */
  queueFull: number;
  /** The authenticated link to the peer went down. */
  disconnected: number;
}

export function newPeerStats(): PeerStats {
  return {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    errors: { socket: 0, undecodable: 0, oversized: 0, queueFull: 0, disconnected: 0 },
  };
}

export function copyPeerStats(stats: PeerStats): PeerStats {
  return { ...stats, errors: { ...stats.errors } };
}

export function newStats(): TransportStats {
  return {
    framesIn: 0,
    framesOut: 0,
    envelopesIn: 0,
    envelopesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: { undecodable: 0, oversized: 0, queueFull: 0, fault: 0, unauthenticated: 0, notAPeer: 0 },
    handshakesRefused: 0,
    reconnects: 0,
  };
}

export function copyStats(stats: TransportStats): TransportStats {
  return { ...stats, dropped: { ...stats.dropped } };
}
