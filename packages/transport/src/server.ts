/**
 * Inbound side: the /raft WebSocket endpoint. Each accepted connection must upgrade and send a valid hello as
 * its first frame (see handshake.ts) within handshakeTimeoutMs of the TCP accept, or it is closed; after that
 * it carries envelope batches and requests from that one peer, and this side answers the requests on the same
 * socket. Nothing a socket sends can throw out of a callback: bad frames are counted, logged (rate-limited)
 * and dropped.
 */
import type { NodeId } from '@kalam/raft';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import { decodeFrame, encodeValue, errorInfo, parseEnvelope } from './codec.js';
import type { DecodeResult, RequestFrame, ResponseFrame } from './codec.js';
import {
  CLOSE_HANDSHAKE_REFUSED,
  CLOSE_SUPERSEDED,
  RAFT_PATH,
  isOversizedError,
  peerStatsOf,
  receivedBytes,
  sendFrame,
} from './context.js';
import type { TransportContext } from './context.js';
import { NonceCache, createWelcome, verifyHello } from './handshake.js';
import type { RefusalReason } from './handshake.js';
import { keepAlive } from './keepalive.js';
import type { PeerStats } from './stats.js';
import type { Envelope } from './types.js';

/**
 * A TCP connection accepted and not yet authenticated. It holds a pending slot from the accept until its hello
 * is verified, it is refused, or it closes; `inbound` is set once the WebSocket upgrade went through.
 */
interface PendingConnection {
  readonly tcp: Socket;
  readonly address: string;
  readonly remote: string;
  readonly deadline: NodeJS.Timeout;
  inbound: InboundSocket | undefined;
}

/** The header of the 426 answer to a plain HTTP request that names this node's API URL (see TransportOptions.apiUrl). */
export const API_URL_HEADER = 'x-kalam-api-url';
/**
 * Admission, and why it evicts rather than refuses. Before its hello a peer cannot be told from a stranger, so
 * a bound that refuses newcomers lets whoever holds the slots first keep every peer out (256 silent sockets
 * did). Here every newcomer is admitted, and over a bound — per remote address or in all — the connection
 * that has waited longest is closed instead. A peer authenticates within one round trip and a stranger waits
 * as long as it can, so the oldest pending connection is almost always a stranger's; to push a peer out, an
 * attacker must open `pendingHandshakesMax` connections, from at least max / perAddressMax addresses, within
 * that one round trip, and the peer's dialer simply retries. Reserving slots by address was the alternative;
 * it breaks behind NAT and for peers named by host names, and says nothing about a stranger on a peer's host.
 */
export class InboundServer {
  /** node:http, or node:https (an https.Server is an http.Server) with TransportOptions.tls. */
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<InboundSocket>();
  private readonly byPeer = new Map<NodeId, InboundSocket[]>();
  private readonly nonces: NonceCache;
  /** Unauthenticated connections in accept order (a Map iterates in insertion order: the oldest first). */
  private readonly pending = new Map<Socket, PendingConnection>();
  /** The same connections by remote address, each set in accept order. */
  private readonly pendingByAddress = new Map<string, Set<Socket>>();

  constructor(private readonly ctx: TransportContext) {
    this.nonces = new NonceCache(ctx.limits.handshakeNoncesMax);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.limits.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const answer426 = (_req: IncomingMessage, res: ServerResponse): void => {
      const api = ctx.apiUrl === undefined ? {} : { [API_URL_HEADER]: ctx.apiUrl };
      res.writeHead(426, { Connection: 'close', 'Content-Length': '0', ...api });
      res.end();
    };
    const tls = ctx.tls;
    if (tls === undefined) {
      this.http = createServer(answer426);
      this.http.on('connection', (tcp: Socket) => this.onConnection(tcp));
    } else {
      // A peer that fails the TLS handshake (plain ws, another CA, no client certificate under require_client_cert)
      // never reaches the upgrade; it is counted and logged here. The TLS handshake is bounded by the same deadline
      // as ours, and our pending slot starts once it is done: the upgrade's req.socket is the TLS socket.
      this.http = createHttpsServer(
        {
          cert: tls.cert,
          key: tls.key,
          ca: tls.ca,
          requestCert: tls.requireClientCert,
          rejectUnauthorized: tls.requireClientCert,
          handshakeTimeout: ctx.limits.handshakeTimeoutMs,
        },
        answer426,
      );
      this.http.on('secureConnection', (socket: TLSSocket) => this.onConnection(socket));
      this.http.on('tlsClientError', (error: Error, socket: TLSSocket) => {
        this.ctx.stats.handshakesRefused += 1;
        const remote = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? '?'}`;
        this.ctx.log('warn', 'handshake_refused', { reason: 'tls', remote, detail: error.message });
        socket.destroy();
      });
    }
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_error, socket: Duplex) => socket.destroy());
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onListenError = (error: Error): void => reject(error);
      this.http.once('error', onListenError);
      this.http.listen(port, host, () => {
        this.http.off('error', onListenError);
        this.http.on('error', (error) => this.ctx.log('error', 'server_error', { error: error.message }));
        resolve((this.http.address() as AddressInfo).port);
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    for (const connection of [...this.pending.values()]) {
      this.forget(connection.tcp);
      connection.tcp.destroy();
    }
    this.wss.close();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.ctx.log('warn', 'close_timed_out', { waitedMs: this.ctx.limits.closeTimeoutMs });
        resolve();
      }, this.ctx.limits.closeTimeoutMs);
    });
    await Promise.race([closed, timedOut]);
    clearTimeout(timer);
  }

  /** Called by a socket that passed the handshake: at most inboundSocketsPerPeerMax per peer, newest kept. */
  authenticated(socket: InboundSocket, peer: NodeId): void {
    this.forget(socket.tcp);
    const list = this.byPeer.get(peer) ?? [];
    list.push(socket);
    this.byPeer.set(peer, list);
    while (list.length > this.ctx.limits.inboundSocketsPerPeerMax) list.shift()?.close(CLOSE_SUPERSEDED, 'superseded');
  }

  /** Closes every authenticated socket of `peer` (it was removed from the cluster). */
  dropPeer(peer: NodeId, reason: string): void {
    for (const socket of this.byPeer.get(peer) ?? []) socket.close(CLOSE_HANDSHAKE_REFUSED, reason);
    this.byPeer.delete(peer);
  }

  /** Called by a socket refused during the handshake: its slot frees now, not when its close completes. */
  handshakeFailed(socket: InboundSocket): void {
    this.forget(socket.tcp);
  }

  closed(socket: InboundSocket, peer: NodeId | undefined): void {
    this.sockets.delete(socket);
    this.forget(socket.tcp);
    if (peer === undefined) return;
    const list = this.byPeer.get(peer);
    const at = list?.indexOf(socket) ?? -1;
    if (list !== undefined && at >= 0) list.splice(at, 1);
    if (list?.length === 0) this.byPeer.delete(peer);
  }

  /** Every accepted TCP connection starts pending, with the handshake deadline running from now. */
  private onConnection(tcp: Socket): void {
    if (this.ctx.closed) {
      tcp.destroy();
      return;
    }
    const address = tcp.remoteAddress ?? 'unknown';
    const remote = `${address}:${tcp.remotePort ?? '?'}`;
    const sameAddress = this.pendingByAddress.get(address);
    if (sameAddress !== undefined && sameAddress.size >= this.ctx.limits.pendingHandshakesPerAddressMax) {
      this.evict(oldest(sameAddress), 'too_many_from_address');
    }
    if (this.pending.size >= this.ctx.limits.pendingHandshakesMax)
      this.evict(oldest(this.pending.keys()), 'too_many_handshakes');
    // The decision waits for setImmediate: after a long event-loop stall the timer phase runs before the poll
    // phase, and a hello that arrived in time but was not read yet must still be taken.
    const deadline = setTimeout(() => setImmediate(() => this.expire(tcp)), this.ctx.limits.handshakeTimeoutMs);
    this.pending.set(tcp, { tcp, address, remote, deadline, inbound: undefined });
    const set = sameAddress ?? new Set<Socket>();
    set.add(tcp);
    this.pendingByAddress.set(address, set);
    tcp.once('close', () => this.forget(tcp));
  }

  private expire(tcp: Socket): void {
    const connection = this.pending.get(tcp);
    if (connection !== undefined) this.refusePending(connection, 'handshake_timeout');
  }

  private evict(tcp: Socket | undefined, reason: RefusalReason): void {
    const connection = tcp === undefined ? undefined : this.pending.get(tcp);
    if (connection !== undefined) this.refusePending(connection, reason);
  }

  /** Frees the slot now; an upgraded socket is told why (close 4401), a bare TCP connection just closed. */
  private refusePending(connection: PendingConnection, reason: RefusalReason): void {
    this.forget(connection.tcp);
    if (connection.inbound !== undefined) {
      connection.inbound.refuse(reason);
      return;
    }
    this.ctx.stats.handshakesRefused += 1;
    this.ctx.log('warn', 'handshake_refused', { reason, remote: connection.remote, phase: 'upgrade' });
    connection.tcp.destroy();
  }

  /** Idempotent: drops `tcp` from the pending tables and stops its deadline. */
  private forget(tcp: Socket): void {
    const connection = this.pending.get(tcp);
    if (connection === undefined) return;
    clearTimeout(connection.deadline);
    this.pending.delete(tcp);
    const set = this.pendingByAddress.get(connection.address);
    set?.delete(tcp);
    if (set?.size === 0) this.pendingByAddress.delete(connection.address);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // The http server detached its own error handler for the upgrade; without one an EPIPE would crash us.
    socket.on('error', () => socket.destroy());
    const connection = this.pending.get(req.socket);
    if (connection === undefined) {
      // Already refused (evicted or out of time) while its headers were being parsed.
      socket.destroy();
      return;
    }
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== RAFT_PATH) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (this.ctx.closed) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // On a bad upgrade request ws answers 400 and never calls back; the close then frees the slot.
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (!this.pending.has(req.socket)) {
        ws.terminate();
        return;
      }
      const inbound = new InboundSocket(this.ctx, this, ws, req.socket, connection.remote, this.nonces);
      connection.inbound = inbound;
      this.sockets.add(inbound);
    });
  }
}

/** The first of `keys`: in a Map's keys or a Set, the one inserted first. */
function oldest<K>(keys: Iterable<K>): K | undefined {
  for (const key of keys) return key;
  return undefined;
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

type InboundState = 'handshake' | 'open' | 'closed';

/** One accepted socket: handshake first, then envelopes in and requests served. */
class InboundSocket {
  private state: InboundState = 'handshake';
  private peer: NodeId | undefined;
  /** The peer's counters, from the handshake on (before it, the socket could be anyone's). */
  private counters: PeerStats | undefined;
  /** Requests running in onRequest; bounded by servingRequestsMax. */
  private serving = 0;
  private graceTimer: NodeJS.Timeout | undefined;
  private stopKeepAlive: (() => void) | undefined;

  constructor(
    private readonly ctx: TransportContext,
    private readonly server: InboundServer,
    private readonly ws: WebSocket,
    /** The TCP connection under `ws`: the key of its pending slot (the server owns the handshake deadline). */
    readonly tcp: Socket,
    private readonly remote: string,
    private readonly nonces: NonceCache,
  ) {
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('error', (error: Error) => this.onError(error));
    ws.on('close', () => this.onClose());
  }

  /** Closes with a close frame, and terminates if the other side does not finish the close in time. */
  close(code: number, reason: string): void {
    if (this.state === 'handshake') this.server.handshakeFailed(this);
    this.state = 'closed';
    this.ws.close(code, reason);
    this.graceTimer ??= setTimeout(() => this.ws.terminate(), this.ctx.limits.closeGraceMs);
  }

  terminate(): void {
    if (this.state === 'handshake') this.server.handshakeFailed(this);
    this.state = 'closed';
    this.ws.terminate();
  }

  /** Refuses the handshake (a bad hello, or the server's deadline or eviction): counted, logged, closed 4401. */
  refuse(reason: RefusalReason, detail?: string): void {
    if (this.state !== 'handshake') return;
    this.ctx.stats.handshakesRefused += 1;
    this.ctx.log('warn', 'handshake_refused', {
      reason,
      remote: this.remote,
      ...(detail === undefined ? {} : { detail }),
    });
    this.close(CLOSE_HANDSHAKE_REFUSED, reason);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === 'closed') return;
    const bytes = receivedBytes(this.ctx, this.counters, data);
    const decoded: DecodeResult = isBinary ? decodeFrame(bytes) : { ok: false, reason: 'text frame' };
    if (this.state === 'handshake') {
      this.onHandshake(decoded);
      return;
    }
    if (!decoded.ok) {
      this.undecodable(decoded.reason, 1);
      return;
    }
    const frame = decoded.frame;
    switch (frame.type) {
      case 'batch':
        this.deliver(frame.items);
        return;
      case 'req':
        this.serve(frame);
        return;
      case 'hello':
      case 'welcome':
      case 'res':
        this.undecodable(`unexpected ${frame.type} frame on an inbound socket`, 1);
        return;
    }
  }

  private onHandshake(decoded: DecodeResult): void {
    if (!decoded.ok || decoded.frame.type !== 'hello') {
      this.ctx.stats.dropped.unauthenticated += 1;
      this.refuse('not_a_handshake', decoded.ok ? `${decoded.frame.type} frame` : decoded.reason);
      return;
    }
    const hello = decoded.frame;
    const verdict = verifyHello(hello, {
      clusterId: this.ctx.identity.clusterId,
      secret: this.ctx.identity.secret,
      isPeer: this.ctx.isPeer,
      isRemoved: this.ctx.isRemoved,
      nowMs: this.ctx.now(),
      maxSkewMs: this.ctx.limits.handshakeMaxSkewMs,
      nonces: this.nonces,
    });
    if (!verdict.ok) {
      this.refuse(verdict.reason, `node ${hello.nodeId}`);
      return;
    }
    this.state = 'open';
    this.peer = verdict.peer;
    this.counters = peerStatsOf(this.ctx, verdict.peer);
    this.server.authenticated(this, verdict.peer);
    const welcome = encodeValue(createWelcome(this.ctx.identity, hello));
    if (welcome.ok) sendFrame(this.ctx, this.counters, this.ws, welcome.bytes);
    this.stopKeepAlive = keepAlive(this.ws, this.ctx.limits.keepAliveIntervalMs);
    this.ctx.log('info', 'peer_accepted', { peer: verdict.peer, remote: this.remote });
  }

  private undecodable(reason: string, count: number): void {
    this.ctx.stats.dropped.undecodable += count;
    if (this.counters !== undefined) this.counters.errors.undecodable += count;
    this.ctx.log('warn', 'frame_undecodable', { peer: this.peer, remote: this.remote, reason, count });
  }

  private deliver(items: readonly unknown[]): void {
    const peer = this.peer as NodeId;
    if (this.ctx.closed || items.length === 0) return;
    if (this.ctx.faults.inboundBlocked(peer)) {
      this.ctx.stats.dropped.fault += items.length;
      return;
    }
    const envelopes: Envelope[] = [];
    for (const item of items) {
      const env = parseEnvelope(item, peer, this.ctx.identity.nodeId);
      if (env !== undefined) envelopes.push(env);
    }
    const bad = items.length - envelopes.length;
    if (bad > 0) this.undecodable('malformed envelope (shape, sender or recipient)', bad);
    if (envelopes.length === 0) return;
    this.ctx.stats.envelopesIn += envelopes.length;
    // Not caught: onEnvelopes only enqueues, and a throw there is a programmer error that must stop the node.
    this.ctx.onEnvelopes(peer, envelopes);
  }

  private serve(req: RequestFrame): void {
    const peer = this.peer as NodeId;
    if (this.ctx.closed) return;
    if (this.ctx.faults.inboundBlocked(peer)) {
      this.ctx.stats.dropped.fault += 1;
      return;
    }
    if (this.serving >= this.ctx.limits.servingRequestsMax) {
      this.respond(failure(req.id, 'too many requests in progress on this link', 'OVERLOADED'));
      return;
    }
    this.serving += 1;
    void Promise.resolve()
      .then(() => this.ctx.onRequest(peer, req.method, req.body))
      .then(
        (body) => this.respond({ type: 'res', id: req.id, ok: true, body }),
        (error: unknown) => this.respond({ type: 'res', id: req.id, ok: false, error: errorInfo(error) }),
      )
      .finally(() => {
        this.serving -= 1;
      });
  }

  private respond(frame: ResponseFrame): void {
    const peer = this.peer as NodeId;
    if (this.state !== 'open') return;
    let encoded = encodeValue(frame);
    if (!encoded.ok)
      encoded = encodeValue(failure(frame.id, 'the response is not CBOR-encodable', 'UNENCODABLE_RESPONSE'));
    else if (encoded.bytes.length > this.ctx.limits.maxPayloadBytes) {
      encoded = encodeValue(failure(frame.id, 'the response exceeds maxPayloadBytes', 'RESPONSE_TOO_LARGE'));
    }
    if (!encoded.ok) return;
    const bytes = encoded.bytes;
    const verdict = this.ctx.faults.outbound(peer);
    switch (verdict.kind) {
      case 'send':
        sendFrame(this.ctx, this.counters, this.ws, bytes);
        return;
      case 'drop':
        this.ctx.stats.dropped.fault += 1;
        return;
      case 'delay':
        if (!this.ctx.delays.schedule(peer, verdict.delayMs, () => this.sendIfOpen(bytes))) {
          this.ctx.stats.dropped.queueFull += 1;
          if (this.counters !== undefined) this.counters.errors.queueFull += 1;
        }
        return;
    }
  }

  private sendIfOpen(bytes: Uint8Array): void {
    if (this.state === 'open') sendFrame(this.ctx, this.counters, this.ws, bytes);
  }

  private onError(error: Error): void {
    // ws closes the socket itself after every error it reports.
    if (isOversizedError(error)) {
      this.ctx.stats.dropped.oversized += 1;
      if (this.counters !== undefined) this.counters.errors.oversized += 1;
      this.ctx.log('warn', 'frame_oversized', {
        peer: this.peer,
        remote: this.remote,
        maxPayloadBytes: this.ctx.limits.maxPayloadBytes,
      });
      return;
    }
    if (this.counters !== undefined) this.counters.errors.socket += 1;
    this.ctx.log('info', 'socket_error', { peer: this.peer, remote: this.remote, error: error.message });
  }

  private onClose(): void {
    this.state = 'closed';
    clearTimeout(this.graceTimer);
    this.stopKeepAlive?.();
    this.server.closed(this, this.peer);
  }
}

function failure(id: number, message: string, code: string): ResponseFrame {
  return { type: 'res', id, ok: false, error: { name: 'TransportError', message, fields: { code } } };
}
