/**
 * Live queries over `/v1/ws` (server ws/server.ts has the protocol): one WebSocket per subscription, so that the death
 * of its node concerns that subscription alone.
 *
 * A subscription authenticates with the client's token, subscribes, pages in the initial rows (next_batch) and
 * delivers them as one `initial` event, then every change as it arrives. Every row carries `_seq`, which increases in
 * commit order; the subscription keeps the highest it delivered (`lastSeq`) and drops anything at or below it, so no
 * change is delivered twice. When its socket closes or stops answering pings, it marks the node down and subscribes on
 * another with `from_seq_id` = lastSeq: the server sends every change after it, once, in order (none skipped), or
 * refuses with RESUME_UNAVAILABLE — raised to the application as ResumeUnavailableError, and the subscription ends.
 * Transient refusals while the cluster fails over (no leader yet) are retried with back-off until liveResumeDeadlineMs.
 */
import { backoffDelayMs } from './backoff.js';
import { AuthError, ClientClosedError, KalamError, UnavailableError, errorFromServer } from './errors.js';
import type { NodePool } from './nodes.js';
import { newClientId } from './session.js';
import { WS_CONNECTING, WS_OPEN, dropSocket, resolveWebSocket, textOf } from './websocket.js';
import type { WebSocketConstructor, WebSocketLike } from './websocket.js';

export interface LiveInitial<T> {
  readonly type: 'initial';
  /** The rows of the query as of `seq` (empty when the subscription started from `fromSeq`). */
  readonly rows: T[];
  readonly schema: { readonly name: string; readonly data_type: string }[];
  /** The `_seq` the rows were read at: every change delivered after them is above it. */
  readonly seq: number;
}

export interface LiveChange<T> {
  readonly type: 'change';
  readonly changeType: 'insert' | 'update' | 'delete';
  /** The new row (insert, update) or the deleted row (delete, with `_deleted`). */
  readonly row: T;
  /** The row before an update or delete, when the server sent it. */
  readonly old: T | null;
  /** The row's `_seq`: strictly increasing along one subscription. */
  readonly seq: number;
}

export type LiveEvent<T> = LiveInitial<T> | LiveChange<T>;

export interface SubscribeOptions<T> {
  /** Start after this `_seq` (a cursor an earlier subscription delivered): no initial rows, every later change. */
  readonly fromSeq?: number;
  /** Only the last `n` rows initially. */
  readonly lastRows?: number;
  readonly onInitial?: (event: LiveInitial<T>) => void;
  readonly onChange?: (event: LiveChange<T>) => void;
  /** The subscription ended on an error (after it had started; a failure to start rejects subscribe()). */
  readonly onError?: (error: KalamError) => void;
  /** The subscription moved to another node (its previous one died), resuming from `fromSeq`. */
  readonly onResume?: (info: { readonly node: string; readonly fromSeq: number }) => void;
}

/** What a subscription needs of its client. */
export interface LiveHost {
  readonly settings: {
    readonly livePingIntervalMs: number;
    readonly livePingTimeoutMs: number;
    readonly liveResumeDeadlineMs: number;
    readonly liveConnectTimeoutMs: number;
    readonly liveBatchSize: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
  };
  readonly pool: NodePool;
  readonly random: () => number;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly closeSignal: AbortSignal;
  /** A bearer token; `refresh` signs in again (a password client whose token was refused). */
  token(refresh: boolean): Promise<string>;
  canRelogin(): boolean;
}

/** Server refusals of a subscribe that another node, or the same a little later, may accept. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'NOT_LEADER',
  'LEADER_NOT_AVAILABLE',
  'CLUSTER_UNAVAILABLE',
  'CONF_CHANGES_UNAVAILABLE',
  'MEMBERS_NOT_SEEDED',
  'RATE_LIMIT_EXCEEDED',
  'INTERNAL_ERROR',
]);

interface Batch {
  readonly has_more: boolean;
  readonly last_seq_id: number | null;
  readonly snapshot_end_seq: number | null;
}

type ServerMessage =
  | { type: 'auth_success' }
  | { type: 'auth_error'; message: string }
  | { type: 'subscription_ack'; subscription_id: string; schema: { name: string; data_type: string }[] }
  | { type: 'initial_data_batch'; subscription_id: string; rows: Record<string, unknown>[]; batch_control: Batch }
  | {
      type: 'change';
      subscription_id: string;
      change_type: 'insert' | 'update' | 'delete';
      rows: Record<string, unknown>[];
      old_values?: Record<string, unknown>[];
    }
  | { type: 'unsubscribed'; subscription_id: string }
  | { type: 'error'; subscription_id: string | null; code: string; message: string }
  | { type: 'pong' };

/** Why one connection of the subscription ended. */
type ConnectionEnd =
  | { readonly kind: 'lost'; readonly reason: string }
  | { readonly kind: 'refused'; readonly error: KalamError }
  | { readonly kind: 'auth'; readonly error: KalamError };

export class Subscription<T = Record<string, unknown>> {
  /** The subscription id on the wire (the same on every node it moves to). */
  readonly id = `c-${newClientId()}`;
  /** The highest `_seq` delivered (initial rows' read point included): resume from it. */
  lastSeq: number;
  /** The node whose socket carries it now, or null between connections. */
  node: string | null = null;
  /** Resolves once it has ended: with the error that ended it, or null (unsubscribed, client closed). */
  readonly ended: Promise<KalamError | null>;
  private endedResolve!: (e: KalamError | null) => void;
  private done = false;
  private initialDelivered = false;
  private ws: WebSocketLike | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private startWaiter: { resolve: () => void; reject: (e: KalamError) => void } | null = null;
  /** Since when the subscription has had no working socket (ms since the epoch), or null. */
  private outageSinceMs: number | null = null;
  private retries = 0;

  constructor(
    private readonly host: LiveHost,
    readonly sql: string,
    private readonly opts: SubscribeOptions<T>,
  ) {
    this.lastSeq = opts.fromSeq ?? 0;
    this.ended = new Promise((resolve) => (this.endedResolve = resolve));
    host.closeSignal.addEventListener('abort', this.onClientClosed);
  }

  /** @internal: connects; resolves once the initial rows are delivered, rejects when it cannot start. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
      this.outageSinceMs = Date.now();
      this.connectNext();
    });
  }

  /** Ends the subscription and closes its socket. */
  unsubscribe(): Promise<void> {
    if (this.ws !== null && this.ws.readyState === WS_OPEN) {
      this.ws.send(JSON.stringify({ type: 'unsubscribe', subscription_id: this.id }));
    }
    this.finish(null);
    return Promise.resolve();
  }

  get active(): boolean {
    return !this.done;
  }

  private readonly onClientClosed = (): void => {
    this.finish(null);
  };

  /** Picks the best node (the one that just failed is tried last) and runs one connection on it. */
  private connectNext(): void {
    if (this.done) return;
    // Pool order puts a node that died last; a node that refused (no leader yet) is not down, so skip it explicitly.
    const order = this.host.pool.order();
    const node = order.find((url) => url !== this.avoid) ?? order[0];
    this.avoid = null;
    void this.runConnection(node).then((end) => this.afterConnection(node, end));
  }

  private afterConnection(node: string, end: ConnectionEnd): void {
    this.stopPing();
    this.ws = null;
    this.node = null;
    if (this.done) return;
    if (end.kind === 'refused') {
      if (!TRANSIENT_CODES.has(end.error.code)) return this.finish(end.error);
      this.avoid = node;
    } else if (end.kind === 'auth') {
      if (!this.host.canRelogin() || this.retries > 0) return this.finish(end.error);
      this.refreshToken = true;
    } else {
      this.host.pool.markDown(node);
    }
    this.outageSinceMs ??= Date.now();
    const elapsedMs = Date.now() - this.outageSinceMs;
    if (elapsedMs >= this.host.settings.liveResumeDeadlineMs) {
      const why = end.kind === 'lost' ? end.reason : end.error.message;
      return this.finish(
        new UnavailableError(
          'CONNECTION_FAILED',
          `the live query found no node to serve it within ${elapsedMs} ms: ${why}`,
          {
            node,
            ...(end.kind !== 'lost' ? { cause: end.error } : {}),
          },
        ),
      );
    }
    const waitMs = backoffDelayMs(this.retries++, this.host.settings, this.host.random);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connectNext();
    }, waitMs);
  }

  private refreshToken = false;
  /** The node that just refused the subscription: the next attempt goes elsewhere. */
  private avoid: string | null = null;

  /** One socket's life: open, authenticate, subscribe, deliver; resolves with why it ended. */
  private async runConnection(node: string): Promise<ConnectionEnd> {
    let token: string;
    let Ws: WebSocketConstructor;
    try {
      token = await this.host.token(this.refreshToken);
      this.refreshToken = false;
      Ws = await resolveWebSocket(this.host.WebSocket);
    } catch (err) {
      const error = err instanceof KalamError ? err : new KalamError('CONNECTION_FAILED', String(err), { cause: err });
      // Signing in failed for lack of a node: the cluster may come back; a refused password will not.
      if (error instanceof AuthError || error.code === 'NO_WEBSOCKET') return { kind: 'refused', error };
      return { kind: 'lost', reason: error.message };
    }
    if (this.done) return { kind: 'lost', reason: 'ended' };
    return new Promise<ConnectionEnd>((resolve) => {
      const ws = new Ws(`${node.replace(/^http/, 'ws')}/v1/ws`);
      this.ws = ws;
      this.node = node;
      let settled = false;
      let lastHeardMs = Date.now();
      // The server refuses anything before authentication (a ping too, as UNAUTHORIZED): ping only after it.
      let authenticated = false;
      const end = (e: ConnectionEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        detach(ws);
        if (ws.readyState === WS_OPEN || ws.readyState === WS_CONNECTING) dropSocket(ws);
        resolve(e);
      };
      const connectTimer = setTimeout(
        () => end({ kind: 'lost', reason: `no subscription within ${this.host.settings.liveConnectTimeoutMs} ms` }),
        this.host.settings.liveConnectTimeoutMs,
      );
      const initial: Record<string, unknown>[] = [];
      let schema: { name: string; data_type: string }[] = [];
      // Resume from the cursor when there is one to resume from: the initial rows were delivered, or fromSeq given.
      const resumeFrom = this.initialDelivered || this.opts.fromSeq !== undefined ? this.lastSeq : undefined;
      ws.onopen = () => ws.send(JSON.stringify({ type: 'authenticate', method: 'jwt', token }));
      ws.onerror = () => undefined; // the close that follows says it
      ws.onclose = (ev) => end({ kind: 'lost', reason: `socket closed (${ev.code} ${ev.reason})` });
      this.pingTimer = setInterval(() => {
        if (Date.now() - lastHeardMs > this.host.settings.livePingTimeoutMs) {
          end({ kind: 'lost', reason: `no message for ${this.host.settings.livePingTimeoutMs} ms` });
        } else if (authenticated && ws.readyState === WS_OPEN) ws.send(JSON.stringify({ type: 'ping' }));
      }, this.host.settings.livePingIntervalMs);
      ws.onmessage = (ev) => {
        lastHeardMs = Date.now();
        let m: ServerMessage;
        try {
          m = JSON.parse(textOf(ev.data)) as ServerMessage;
        } catch {
          end({ kind: 'lost', reason: 'a message that is not JSON' });
          return;
        }
        switch (m.type) {
          case 'auth_success': {
            authenticated = true;
            const options: Record<string, number> = { batch_size: this.host.settings.liveBatchSize };
            if (resumeFrom !== undefined) options['from_seq_id'] = resumeFrom;
            if (this.opts.lastRows !== undefined && resumeFrom === undefined) options['last_rows'] = this.opts.lastRows;
            ws.send(JSON.stringify({ type: 'subscribe', subscription: { id: this.id, sql: this.sql, options } }));
            return;
          }
          case 'auth_error':
            return end({ kind: 'auth', error: new AuthError('UNAUTHORIZED', m.message, { node }) });
          case 'subscription_ack':
            schema = m.schema.map((c) => ({ name: c.name, data_type: c.data_type }));
            return;
          case 'initial_data_batch': {
            if (m.subscription_id !== this.id) return;
            initial.push(...m.rows);
            const c = m.batch_control;
            if (c.has_more) {
              ws.send(JSON.stringify({ type: 'next_batch', subscription_id: this.id, last_seq_id: c.last_seq_id }));
              return;
            }
            clearTimeout(connectTimer);
            this.ready(node, resumeFrom, initial, schema, c);
            return;
          }
          case 'change':
            if (m.subscription_id === this.id) this.deliverChange(m);
            return;
          case 'error': {
            const error = errorFromServer(m.code, m.message, { node });
            if (m.code === 'UNAUTHORIZED') return end({ kind: 'auth', error });
            return end({ kind: 'refused', error });
          }
          case 'unsubscribed':
            return end({
              kind: 'refused',
              error: new KalamError('UNSUBSCRIBED', 'the server ended the subscription', { node }),
            });
          case 'pong':
            return;
        }
      };
    });
  }

  private ready(
    node: string,
    resumeFrom: number | undefined,
    rows: Record<string, unknown>[],
    schema: { name: string; data_type: string }[],
    control: Batch,
  ): void {
    this.outageSinceMs = null;
    this.retries = 0;
    this.host.pool.markUp(node);
    if (!this.initialDelivered) {
      const seq = control.snapshot_end_seq ?? control.last_seq_id ?? this.lastSeq;
      this.lastSeq = Math.max(this.lastSeq, seq);
      this.initialDelivered = true;
      this.guard(() => this.opts.onInitial?.({ type: 'initial', rows: rows as T[], schema, seq }));
      const waiter = this.startWaiter;
      this.startWaiter = null;
      waiter?.resolve();
    } else if (resumeFrom !== undefined) {
      this.guard(() => this.opts.onResume?.({ node, fromSeq: resumeFrom }));
    }
  }

  private deliverChange(m: Extract<ServerMessage, { type: 'change' }>): void {
    m.rows.forEach((row, i) => {
      if (this.done) return;
      const seq = Number(row['_seq']);
      // At or below the cursor: already delivered (or covered by the initial rows).
      if (!(seq > this.lastSeq)) return;
      this.lastSeq = seq;
      const old = m.old_values?.[i];
      const event: LiveChange<T> = {
        type: 'change',
        changeType: m.change_type,
        row: row as T,
        old: (old ?? null) as T | null,
        seq,
      };
      this.guard(() => this.opts.onChange?.(event));
    });
  }

  /** An application callback that throws must not take the subscription down with it: it is reported as the error. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.finish(new KalamError('CALLBACK_FAILED', `a live-query callback threw: ${String(err)}`, { cause: err }));
    }
  }

  private stopPing(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private finish(error: KalamError | null): void {
    if (this.done) return;
    this.done = true;
    this.host.closeSignal.removeEventListener('abort', this.onClientClosed);
    this.stopPing();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      detach(ws);
      if (ws.readyState === WS_OPEN) ws.close(1000, 'unsubscribed');
      else dropSocket(ws);
    }
    const waiter = this.startWaiter;
    this.startWaiter = null;
    if (waiter !== null) waiter.reject(error ?? new ClientClosedError('CLIENT_CLOSED', 'closed before it started'));
    else if (error !== null) this.opts.onError?.(error);
    this.endedResolve(error);
  }
}

/**
 * Stops listening to a socket. onerror stays a no-op: `ws` (Node) throws an 'error' event that has no listener, and
 * one still comes when a socket that is connecting is dropped.
 */
function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => undefined;
}

/** An async iterable of a live query's events; `return()` (a `break` out of `for await`) unsubscribes. */
export interface LiveIterable<E> extends AsyncIterable<E> {
  /** The subscription once started (its lastSeq, node). */
  readonly subscription: Subscription<unknown> | null;
}

/**
 * The iterator form over subscribe(): events are queued (at most `bufferedMax`, then the iterator throws
 * CLIENT_BUFFER_FULL rather than hold memory without bound) and handed out in order; an error ends it by throwing.
 */
export function liveIterable<T>(
  subscribe: (o: SubscribeOptions<T>) => Promise<Subscription<T>>,
  bufferedMax: number,
): LiveIterable<LiveEvent<T>> {
  const queue: LiveEvent<T>[] = [];
  let failure: KalamError | null = null;
  let wake: (() => void) | null = null;
  let sub: Subscription<T> | null = null;
  let started: Promise<Subscription<T>> | null = null;
  const push = (e: LiveEvent<T>): void => {
    if (queue.length >= bufferedMax) {
      failure ??= new KalamError('CLIENT_BUFFER_FULL', `more than ${bufferedMax} live events not read`);
      void sub?.unsubscribe();
    } else queue.push(e);
    wake?.();
  };
  const fail = (e: KalamError): void => {
    failure ??= e;
    wake?.();
  };
  const iterator: AsyncIterator<LiveEvent<T>> = {
    async next(): Promise<IteratorResult<LiveEvent<T>>> {
      started ??= subscribe({ onInitial: push, onChange: push, onError: fail }).then((s) => {
        sub = s;
        void s.ended.then(() => wake?.());
        return s;
      });
      await started;
      for (;;) {
        const e = queue.shift();
        if (e !== undefined) return { value: e, done: false };
        if (failure !== null) throw failure;
        if (sub === null || !sub.active) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
    async return(): Promise<IteratorResult<LiveEvent<T>>> {
      await sub?.unsubscribe();
      return { value: undefined, done: true };
    },
  };
  return {
    [Symbol.asyncIterator]: () => iterator,
    get subscription() {
      return sub as Subscription<unknown> | null;
    },
  };
}
