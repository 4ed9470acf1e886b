/**
 * Outbound side: the link this node dials to one peer and sends all its traffic to that peer on. It carries
 * envelope batches and requests out, and responses back. States:
 *
 *   idle → connecting → handshaking → open → (socket closes) → backoff → connecting …;  any → stopped
 *
 * Two lanes feed the socket. Every envelope but MsgSnap goes on the control lane; all of it queued in one
 * event-loop turn leaves as one frame (flushed from setImmediate). MsgSnap goes on the bulk lane, paced: after
 * the turn's control frame, and only when the previous bulk frame has been written to the socket, so a snapshot
 * transfer never sits between a heartbeat and the wire for more than one chunk.
 */
import type { NodeId } from '@kalam/raft';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { AssertionError } from './assert.js';
import { decodeFrame, encodeBatches, encodeValue, isBulk } from './codec.js';
import type { BatchDrop, DecodeResult, RemoteErrorInfo, ResponseFrame } from './codec.js';
import {
  CLOSE_HANDSHAKE_REFUSED,
  RAFT_PATH,
  isOversizedError,
  peerStatsOf,
  receivedBytes,
  sendFrame,
} from './context.js';
import type { TransportContext } from './context.js';
import { TransportError } from './errors.js';
import { createHello, verifyWelcome } from './handshake.js';
import type { RefusalReason } from './handshake.js';
import { keepAlive } from './keepalive.js';
import { NONCE_BYTES } from './limits.js';
import { BoundedQueue } from './queue.js';
import type { PeerStats } from './stats.js';
import type { Envelope, PeerAddress, PeerStatus } from './types.js';

type LinkState = 'idle' | 'connecting' | 'handshaking' | 'open' | 'backoff' | 'stopped';

interface PendingRequest {
  readonly method: string;
  readonly resolve: (body: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class PeerLink {
  readonly peer: NodeId;
  private readonly url: string;
  private state: LinkState = 'idle';
  private ws: WebSocket | undefined;
  /** Bumped for every socket, so that a late callback of an old socket can tell it is stale. */
  private generation = 0;
  /** Consecutive failed connections; drives the backoff, reset when a handshake completes. */
  private failures = 0;
  private everConnected = false;
  private nonce: Uint8Array = new Uint8Array(NONCE_BYTES);
  private retryTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private stopKeepAlive: (() => void) | undefined;
  private readonly control: BoundedQueue<Envelope>;
  private readonly bulk: BoundedQueue<Envelope>;
  private flushImmediate: NodeJS.Immediate | undefined;
  /** A bulk frame was handed to the socket and its write has not completed yet. */
  private bulkInFlight = false;
  private readonly pending = new Map<number, PendingRequest>();
  private nextRequestId = 1;
  /** This peer's counters (shared with its inbound sockets, and with a link that replaces this one). */
  private readonly counters: PeerStats;

  constructor(
    private readonly ctx: TransportContext,
    readonly address: PeerAddress,
    private readonly onStatus: (peer: NodeId, status: PeerStatus) => void,
  ) {
    this.peer = address.nodeId;
    this.counters = peerStatsOf(ctx, address.nodeId);
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    this.url = `${ctx.tls === undefined ? 'ws' : 'wss'}://${host}:${address.port}${RAFT_PATH}`;
    this.control = new BoundedQueue(ctx.limits.queueEnvelopesMax);
    this.bulk = new BoundedQueue(ctx.limits.bulkQueueEnvelopesMax);
  }

  start(): void {
    if (this.state === 'idle') this.dial();
  }

  connected(): boolean {
    return this.state === 'open';
  }

  /** Stops for good: no redial, queues dropped, pending requests rejected with CLOSED. */
  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearTimeout(this.handshakeTimer);
    if (this.flushImmediate !== undefined) clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
    this.stopKeepAlive?.();
    this.ws?.terminate();
    this.ws = undefined;
    this.control.clear();
    this.bulk.clear();
    this.rejectPending('CLOSED', 'the transport was closed');
  }

  send(env: Envelope): void {
    if (this.state === 'stopped') return;
    const verdict = this.ctx.faults.outbound(this.peer);
    if (verdict.kind === 'drop') {
      this.ctx.stats.dropped.fault += 1;
      return;
    }
    // A duplicated envelope is sent twice, each copy under the same verdict (see faults.ts: envelopes only).
    const copies = this.ctx.faults.duplicate(this.peer) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (verdict.kind === 'send') this.enqueue(env);
      else if (!this.ctx.delays.schedule(this.peer, verdict.delayMs, () => this.enqueue(env))) this.droppedFull();
    }
  }

  request(method: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      return Promise.reject(new AssertionError(`request timeoutMs must be a positive number, got ${timeoutMs}`));
    }
    if (this.state === 'stopped')
      return Promise.reject(new TransportError('CLOSED', 'the transport is closed', { peer: this.peer }));
    if (this.state !== 'open') {
      return Promise.reject(
        new TransportError('PEER_UNAVAILABLE', `no link to node ${this.peer}`, { peer: this.peer }),
      );
    }
    if (this.pending.size >= this.ctx.limits.pendingRequestsMax) {
      const message = `${this.pending.size} requests to node ${this.peer} are already pending`;
      return Promise.reject(new TransportError('PEER_UNAVAILABLE', message, { peer: this.peer }));
    }
    const id = this.nextRequestId++;
    const encoded = encodeValue({ type: 'req', id, method, body });
    if (!encoded.ok) return Promise.reject(new AssertionError(`the body of request ${method} is not CBOR-encodable`));
    if (encoded.bytes.length > this.ctx.limits.maxPayloadBytes) {
      return Promise.reject(
        new AssertionError(`request ${method} is ${encoded.bytes.length} bytes, over maxPayloadBytes`),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const message = `request ${method} to node ${this.peer} timed out after ${timeoutMs} ms`;
        reject(new TransportError('TIMEOUT', message, { peer: this.peer }));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.sendRequestFrame(encoded.bytes);
    });
  }

  private sendRequestFrame(bytes: Uint8Array): void {
    const verdict = this.ctx.faults.outbound(this.peer);
    switch (verdict.kind) {
      case 'send':
        this.sendIfOpen(bytes);
        return;
      case 'drop':
        this.ctx.stats.dropped.fault += 1;
        return;
      case 'delay':
        if (!this.ctx.delays.schedule(this.peer, verdict.delayMs, () => this.sendIfOpen(bytes))) this.droppedFull();
        return;
    }
  }

  private sendIfOpen(bytes: Uint8Array): void {
    if (this.state === 'open' && this.ws !== undefined) sendFrame(this.ctx, this.counters, this.ws, bytes);
  }

  private enqueue(env: Envelope): void {
    if (this.state === 'stopped') return;
    if (isBulk(env)) {
      if (!this.bulk.tryPush(env)) this.droppedFull();
    } else if (this.control.pushDropOldest(env) !== undefined) {
      this.droppedFull();
    }
    this.scheduleFlush();
  }

  private droppedFull(): void {
    this.ctx.stats.dropped.queueFull += 1;
    this.counters.errors.queueFull += 1;
  }

  private scheduleFlush(): void {
    if (this.flushImmediate !== undefined || this.state !== 'open') return;
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = undefined;
      this.flush();
    });
  }

  /** Sends what is queued now instead of at the end of this event-loop turn. */
  flushNow(): void {
    if (this.flushImmediate !== undefined) {
      clearImmediate(this.flushImmediate);
      this.flushImmediate = undefined;
    }
    this.flush();
  }

  /** One turn's worth: every control envelope as one frame (split only if over maxPayloadBytes), then one bulk frame. */
  private flush(): void {
    const ws = this.ws;
    if (this.state !== 'open' || ws === undefined) return;
    const onDrop = (drop: BatchDrop): void => this.dropUnsendable(drop);
    if (this.control.length > 0) {
      for (const frame of encodeBatches(this.control.drain(), this.ctx.limits.maxPayloadBytes, onDrop)) {
        sendFrame(this.ctx, this.counters, ws, frame.bytes);
        this.ctx.stats.envelopesOut += frame.count;
      }
    }
    if (this.bulkInFlight || this.bulk.length === 0) return;
    const next = this.bulk.shift() as Envelope;
    const frame = encodeBatches([next], this.ctx.limits.maxPayloadBytes, onDrop)[0];
    if (frame === undefined) {
      if (this.bulk.length > 0) this.scheduleFlush();
      return;
    }
    const generation = this.generation;
    this.bulkInFlight = true;
    this.ctx.stats.envelopesOut += frame.count;
    sendFrame(this.ctx, this.counters, ws, frame.bytes, () => {
      if (generation !== this.generation) return;
      this.bulkInFlight = false;
      if (this.bulk.length > 0) this.scheduleFlush();
    });
  }

  private dropUnsendable(drop: BatchDrop): void {
    if (drop.reason === 'oversized') {
      this.ctx.stats.dropped.oversized += 1;
      this.counters.errors.oversized += 1;
    } else {
      this.ctx.stats.dropped.undecodable += 1;
      this.counters.errors.undecodable += 1;
    }
    const msgType = (drop.env.msg as { type?: unknown } | null)?.type;
    this.ctx.log('error', 'envelope_not_sent', {
      peer: this.peer,
      reason: drop.reason,
      groupId: drop.env.groupId,
      msgType: typeof msgType === 'string' ? msgType : undefined,
      detail: drop.detail instanceof Error ? drop.detail.message : drop.detail,
    });
  }

  private dial(): void {
    this.state = 'connecting';
    this.generation += 1;
    const ws = new WebSocket(this.url, {
      maxPayload: this.ctx.limits.maxPayloadBytes,
      perMessageDeflate: false,
      handshakeTimeout: this.ctx.limits.dialTimeoutMs,
      followRedirects: false,
      // The peer's certificate must chain to our CA and name the host we dialed (ws sets servername from the URL;
      // an IP address is checked against the certificate's IP SANs). Ours goes along for require_client_cert.
      ...(this.ctx.tls !== undefined && {
        ca: this.ctx.tls.ca,
        cert: this.ctx.tls.cert,
        key: this.ctx.tls.key,
        rejectUnauthorized: true,
      }),
    });
    this.ws = ws;
    ws.on('open', () => {
      if (ws === this.ws) this.onOpen(ws);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (ws === this.ws) this.onMessage(ws, data, isBinary);
    });
    ws.on('error', (error: Error) => {
      if (ws === this.ws) this.onError(error);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (ws === this.ws) this.onClose(code, reason.toString('utf8'));
    });
  }

  private onOpen(ws: WebSocket): void {
    this.state = 'handshaking';
    this.nonce = randomBytes(NONCE_BYTES);
    const hello = encodeValue(createHello(this.ctx.identity, this.ctx.now(), this.nonce));
    if (hello.ok) sendFrame(this.ctx, this.counters, ws, hello.bytes);
    this.handshakeTimer = setTimeout(() => this.refuse(ws, 'handshake_timeout'), this.ctx.limits.dialTimeoutMs);
  }

  private onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    if (this.state !== 'handshaking' && this.state !== 'open') return;
    const bytes = receivedBytes(this.ctx, this.counters, data);
    const decoded: DecodeResult = isBinary ? decodeFrame(bytes) : { ok: false, reason: 'text frame' };
    if (this.state === 'handshaking') {
      this.onWelcome(ws, decoded);
      return;
    }
    if (!decoded.ok) {
      this.undecodable(decoded.reason);
      return;
    }
    const frame = decoded.frame;
    switch (frame.type) {
      case 'res':
        this.onResponse(frame);
        return;
      case 'batch':
      case 'hello':
      case 'welcome':
      case 'req':
        this.undecodable(`unexpected ${frame.type} frame on an outbound link`);
        return;
    }
  }

  private onWelcome(ws: WebSocket, decoded: DecodeResult): void {
    if (!decoded.ok || decoded.frame.type !== 'welcome') {
      this.ctx.stats.dropped.unauthenticated += 1;
      this.refuse(ws, 'not_a_handshake');
      return;
    }
    if (!verifyWelcome(decoded.frame, this.ctx.identity, this.peer, this.nonce)) {
      this.refuse(ws, 'bad_welcome');
      return;
    }
    clearTimeout(this.handshakeTimer);
    this.state = 'open';
    this.failures = 0;
    if (this.everConnected) this.ctx.stats.reconnects += 1;
    this.everConnected = true;
    this.stopKeepAlive = keepAlive(ws, this.ctx.limits.keepAliveIntervalMs);
    this.ctx.log('info', 'peer_connected', { peer: this.peer, url: this.url });
    if (!this.ctx.closed) this.onStatus(this.peer, 'connected');
    this.scheduleFlush();
  }

  /** This side refuses the peer's half of the handshake (or its silence): count, log, drop the socket. */
  private refuse(ws: WebSocket, reason: RefusalReason): void {
    this.ctx.stats.handshakesRefused += 1;
    this.ctx.log('warn', 'handshake_refused', { peer: this.peer, url: this.url, reason, side: 'dialer' });
    ws.terminate();
  }

  private onResponse(frame: ResponseFrame): void {
    if (this.ctx.faults.inboundBlocked(this.peer)) {
      this.ctx.stats.dropped.fault += 1;
      return;
    }
    const pending = this.pending.get(frame.id);
    // A response to a request that already timed out (or that we never sent) is dropped quietly.
    if (pending === undefined) return;
    this.pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.ok) pending.resolve(frame.body);
    else pending.reject(remoteError(this.peer, frame.error));
  }

  private undecodable(reason: string): void {
    this.ctx.stats.dropped.undecodable += 1;
    this.counters.errors.undecodable += 1;
    this.ctx.log('warn', 'frame_undecodable', { peer: this.peer, url: this.url, reason, count: 1 });
  }

  private onError(error: Error): void {
    // ws follows every error with 'close', where the link is torn down and the redial scheduled.
    if (isOversizedError(error)) {
      this.ctx.stats.dropped.oversized += 1;
      this.counters.errors.oversized += 1;
      this.ctx.log('warn', 'frame_oversized', { peer: this.peer, url: this.url });
      return;
    }
    this.counters.errors.socket += 1;
    this.ctx.log('info', 'link_error', { peer: this.peer, url: this.url, error: error.message });
  }

  private onClose(code: number, reason: string): void {
    const wasOpen = this.state === 'open';
    if (code === CLOSE_HANDSHAKE_REFUSED) {
      this.ctx.log('warn', 'handshake_refused_by_peer', { peer: this.peer, url: this.url, reason });
      if (reason === 'removed_node') this.ctx.onRemoved(this.peer);
    }
    this.ws = undefined;
    this.generation += 1;
    clearTimeout(this.handshakeTimer);
    this.stopKeepAlive?.();
    this.stopKeepAlive = undefined;
    this.bulkInFlight = false;
    this.rejectPending('PEER_UNAVAILABLE', `the link to node ${this.peer} closed`);
    if (this.state === 'stopped') return;
    if (wasOpen) {
      this.counters.errors.disconnected += 1;
      this.ctx.log('info', 'peer_disconnected', { peer: this.peer, code, reason });
      if (!this.ctx.closed) this.onStatus(this.peer, 'disconnected');
    }
    this.scheduleRetry();
  }

  /** Capped exponential backoff with jitter: the n-th consecutive failure waits in [d/2, d], d = min·2^(n-1) ≤ max. */
  private scheduleRetry(): void {
    this.failures += 1;
    const { reconnectBackoffMinMs: minMs, reconnectBackoffMaxMs: maxMs } = this.ctx.limits;
    const ceilingMs = Math.min(maxMs, minMs * 2 ** Math.min(this.failures - 1, 30));
    const delayMs = ceilingMs / 2 + (Math.random() * ceilingMs) / 2;
    this.state = 'backoff';
    this.retryTimer = setTimeout(() => {
      if (this.state === 'backoff') this.dial();
    }, delayMs);
  }

  private rejectPending(code: 'CLOSED' | 'PEER_UNAVAILABLE', message: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new TransportError(code, `${message} (request ${pending.method})`, { peer: this.peer }));
    }
  }
}

function remoteError(peer: NodeId, info: RemoteErrorInfo): TransportError {
  const cause = Object.assign(new Error(info.message), info.fields);
  cause.name = info.name;
  const code = info.fields['code'];
  return new TransportError('REMOTE_ERROR', info.message, {
    peer,
    cause,
    remoteFields: info.fields,
    ...(typeof code === 'string' || typeof code === 'number' ? { remoteCode: code } : {}),
  });
}
