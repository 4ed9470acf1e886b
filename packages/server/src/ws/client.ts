/**
 * LiveClient: a small Node client of `/v1/ws` for tests, drills and benchmarks (ws/server.ts has the protocol).
 *
 *   const client = await LiveClient.connect('http://127.0.0.1:8081', { username: 'alice', password: '…' });
 *   const sub = await client.subscribe('s1', 'SELECT * FROM app.items WHERE done = false');
 *   sub.initialRows;                       // every initial batch, fetched with next_batch
 *   await sub.waitFor((s) => s.changes.length >= 3, 10_000);
 *   sub.changes;                           // one ChangeEvent per row, in arrival order, with `_seq`
 *   sub.lastSeq;                           // the resume cursor
 *   // the node died: resume on another, nothing missed, nothing twice
 *   const again = await (await LiveClient.connect(url3, auth)).subscribe('s1', sql, { from_seq_id: sub.lastSeq });
 *
 * LiveStream stitches the subscriptions of one logical stream across reconnections: `stream.attach(sub)` appends
 * every change of `sub` to `stream.changes` and moves `stream.lastSeq` on; `stream.resume(url, auth, {id, sql})`
 * subscribes on another node from that cursor and attaches — so a drill can compare the stream with the committed
 * history. Every wait here is bounded by a timeout.
 */
import { performance } from 'node:perf_hooks';

import WebSocket from 'ws';

import type { BatchControl, ServerMessage, SubscribeOptions } from './protocol.js';

export type LiveAuth = { readonly username: string; readonly password: string } | { readonly token: string };

type Row = Record<string, string | number | boolean | null>;

/** One changed row as a subscriber received it. */
export interface ChangeEvent {
  readonly changeType: 'insert' | 'update' | 'delete';
  readonly seq: number;
  readonly row: Row;
  readonly old: Row | null;
  /** Wall-clock ms (sub-ms resolution) when the message arrived. */
  readonly receivedAtMs: number;
}

export class LiveClientError extends Error {
  override readonly name = 'LiveClientError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

type Waiter = { check: () => boolean; resolve: () => void };

export class LiveSubscription {
  readonly initialRows: Row[] = [];
  readonly changes: ChangeEvent[] = [];
  /** Errors the server sent for this subscription (it has ended when one arrived). */
  readonly errors: { code: string; message: string }[] = [];
  liveId = '';
  totalRows = 0;
  /** initial_data_batch messages received. */
  batches = 0;
  /** The `_seq` the initial rows were read at (batch_control.snapshot_end_seq): they are the state after it. */
  snapshotSeq = 0;
  ready = false;
  ended = false;
  /** The highest `_seq` covered: resume with `from_seq_id` = this. */
  lastSeq = 0;
  private waiters: Waiter[] = [];
  private listeners: ((e: ChangeEvent) => void)[] = [];

  constructor(
    private readonly client: LiveClient,
    readonly id: string,
  ) {}

  /** Calls `fn` for every change from now on (after those already in `changes`). */
  onChange(fn: (e: ChangeEvent) => void): void {
    this.listeners.push(fn);
  }

  /** Resolves when `predicate` holds (checked after every message); rejects after `timeoutMs`. */
  waitFor(predicate: (s: LiveSubscription) => boolean, timeoutMs: number): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check: () => predicate(this),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new LiveClientError('TIMEOUT', `subscription ${this.id}: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  unsubscribe(timeoutMs = 10_000): Promise<void> {
    this.client.send({ type: 'unsubscribe', subscription_id: this.id });
    return this.waitFor((s) => s.ended, timeoutMs);
  }

  /** @internal */
  handle(m: ServerMessage): void {
    switch (m.type) {
      case 'subscription_ack':
        this.liveId = m.live_id;
        this.totalRows = m.total_rows;
        break;
      case 'initial_data_batch':
        this.batches++;
        this.initialRows.push(...(m.rows as Row[]));
        this.control(m.batch_control);
        break;
      case 'change': {
        const at = nowMs();
        m.rows.forEach((row, i) => {
          const old = m.old_values?.[i];
          const e: ChangeEvent = {
            changeType: m.change_type,
            seq: Number(row['_seq']),
            row,
            old: old ?? null,
            receivedAtMs: at,
          };
          this.changes.push(e);
          this.lastSeq = Math.max(this.lastSeq, e.seq);
          for (const l of this.listeners) l(e);
        });
        break;
      }
      case 'unsubscribed':
        this.ended = true;
        break;
      case 'error':
        this.errors.push({ code: m.code, message: m.message });
        this.ended = true;
        break;
      case 'auth_success':
      case 'auth_error':
      case 'pong':
        return;
    }
    this.settle();
  }

  /** @internal the connection closed. */
  closed(): void {
    this.ended = true;
    this.settle();
  }

  private control(c: BatchControl): void {
    if (c.snapshot_end_seq !== null) this.snapshotSeq = c.snapshot_end_seq;
    if (c.last_seq_id !== null) this.lastSeq = Math.max(this.lastSeq, c.last_seq_id);
    if (c.has_more) this.client.send({ type: 'next_batch', subscription_id: this.id, last_seq_id: c.last_seq_id });
    else this.ready = true;
  }

  private settle(): void {
    const done = this.waiters.filter((w) => w.check());
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }
}

export class LiveClient {
  readonly subscriptions = new Map<string, LiveSubscription>();
  /** Messages not about a subscription (pong, errors without one). */
  readonly other: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private closeInfo: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        for (const s of this.subscriptions.values()) s.closed();
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data: Buffer) => this.onMessage(data.toString('utf8')));
  }

  /**
   * Connects to `baseUrl`'s `/v1/ws` (http(s):// or ws(s)://) and authenticates; rejects on auth_error or timeout.
   * `ca` (PEM): trusted for a wss URL besides the system's CAs (a cluster's own CA, [tls]).
   */
  static async connect(baseUrl: string, auth: LiveAuth, timeoutMs = 10_000, ca?: string): Promise<LiveClient> {
    const url = `${baseUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/v1/ws`;
    const ws = new WebSocket(url, { maxPayload: 4 * 1024 * 1024, ...(ca !== undefined && { ca }) });
    const client = new LiveClient(ws);
    const timer = setTimeout(() => ws.terminate(), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', (err) =>
          reject(new LiveClientError('CONNECT_FAILED', `cannot connect to ${url}: ${err.message}`)),
        );
        void client.closed.then((c) => reject(new LiveClientError('CLOSED', `closed before open (${c.code})`)));
      });
      const message =
        'token' in auth
          ? { type: 'authenticate', method: 'jwt', token: auth.token }
          : { type: 'authenticate', method: 'basic', ...auth };
      ws.send(JSON.stringify(message));
      await new Promise<void>((resolve, reject) => {
        client.onAuth = (m) =>
          m.type === 'auth_success' ? resolve() : reject(new LiveClientError('AUTH_ERROR', m.message));
        void client.closed.then((c) =>
          reject(new LiveClientError('CLOSED', `closed during authentication (${c.code} ${c.reason})`)),
        );
      });
      return client;
    } catch (err) {
      ws.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private onAuth: ((m: Extract<ServerMessage, { type: 'auth_success' | 'auth_error' }>) => void) | undefined;

  /** Subscribes and waits for the initial load (every batch); rejects with the server's error or on timeout. */
  async subscribe(
    id: string,
    sql: string,
    options: SubscribeOptions = {},
    timeoutMs = 15_000,
  ): Promise<LiveSubscription> {
    const sub = new LiveSubscription(this, id);
    this.subscriptions.set(id, sub);
    this.send({ type: 'subscribe', subscription: { id, sql, options } });
    await sub.waitFor((s) => s.ready || s.ended, timeoutMs);
    const err = sub.errors[0];
    if (err !== undefined) throw new LiveClientError(err.code, err.message);
    if (!sub.ready) throw new LiveClientError('CLOSED', `the connection closed while subscribing ${id}`);
    return sub;
  }

  /** Sends a raw client message (tests of the protocol's refusals). */
  send(message: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.closeInfo === undefined) this.ws.close(1000);
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(text: string): void {
    const m = JSON.parse(text) as ServerMessage;
    if (m.type === 'auth_success' || m.type === 'auth_error') {
      this.onAuth?.(m);
      return;
    }
    const id = 'subscription_id' in m ? m.subscription_id : null;
    const sub = id === null ? undefined : this.subscriptions.get(id);
    if (sub === undefined) this.other.push(m);
    else sub.handle(m);
  }
}

/** One logical change stream across reconnections (see the module comment). */
export class LiveStream {
  readonly changes: ChangeEvent[] = [];
  initialRows: Row[] = [];
  lastSeq = 0;

  /** Follows `sub`: its changes so far and from now on. The first attach also takes its initial rows. */
  attach(sub: LiveSubscription): void {
    if (this.changes.length === 0 && this.initialRows.length === 0) this.initialRows = [...sub.initialRows];
    this.lastSeq = Math.max(this.lastSeq, sub.lastSeq);
    const take = (e: ChangeEvent): void => {
      this.changes.push(e);
      this.lastSeq = Math.max(this.lastSeq, e.seq);
    };
    for (const e of sub.changes) take(e);
    sub.onChange(take);
  }

  /**
   * Connects to `baseUrl`, subscribes `id` with `from_seq_id` = this stream's cursor and follows it: the next part
   * of the stream, from another node. The caller closes the returned client.
   */
  async resume(
    baseUrl: string,
    auth: LiveAuth,
    subscription: { readonly id: string; readonly sql: string },
    timeoutMs = 15_000,
    ca?: string,
  ): Promise<{ client: LiveClient; sub: LiveSubscription }> {
    const client = await LiveClient.connect(baseUrl, auth, timeoutMs, ca);
    try {
      const sub = await client.subscribe(subscription.id, subscription.sql, { from_seq_id: this.lastSeq }, timeoutMs);
      this.attach(sub);
      return { client, sub };
    } catch (err) {
      client.terminate();
      throw err;
    }
  }
}
