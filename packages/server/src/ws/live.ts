/**
 * LiveQueries: the node's side of live queries — every subscription whose socket this node holds, fed from this
 * node's own apply path (ChangeFeed), registered through the subscriber's user shard.
 *
 * Delivery contract, per subscription: every committed change of its table (and user) after its starting point,
 * exactly once, in commit order, each row carrying its `_seq`.
 * - Starting point. After RegisterLiveQuery has applied here and a read barrier on the data group, ONE synchronous
 *   step reads the initial rows (or, for `from_seq_id`, the change log after it) and adds the subscription to the
 *   dispatch table. Apply runs on the same thread, so every change is either in what was read or delivered after —
 *   no gap, no duplicate. The initial rows are held in memory and paged out (`next_batch`); changes that arrive
 *   meanwhile wait in `pending` and follow the last batch.
 * - Order and dedup. `_seq` increases in commit order per data group (state/data.ts), so each subscription keeps a
 *   cursor, the highest `_seq` it has covered, and takes only changes above it. A snapshot restore of the group
 *   (the node fell behind) is caught up from the restored change log after the cursor; if the log no longer reaches
 *   back that far the subscription ends with RESUME_UNAVAILABLE rather than skip anything. A `from_seq_id` past the
 *   group's newest `_seq` (checked after the barrier, so a cursor handed out by any node passes) is refused with
 *   RESUME_AHEAD: nothing could ever be delivered after it.
 * - Registration. RegisterLiveQuery{node_id: this node} on subscribe (the per-user limit is enforced there, on every
 *   replica alike), UnregisterLiveQuery on unsubscribe or socket close, and every WS_LIMITS.pingIntervalMs one
 *   PingLiveQueries per user, for all of that user's subscriptions on this node. A ping that finds no registration
 *   (a cleanup raced a slow heartbeat) re-registers. The leader of each user shard sweeps every
 *   WS_LIMITS.sweepIntervalMs and proposes CleanupNodeSubscriptions{user, node} for registrations not pinged for
 *   WS_LIMITS.staleAfterMs — a node that died. KILL LIVE QUERY's UnregisterLiveQuery, seen applying here,
 *   ends the subscription with SUBSCRIPTION_KILLED.
 * - Rights. A subscription holds only while its user may hold it (ws/sessions.ts re-checks the sockets when meta:users
 *   changes): a revoked connection's subscriptions end (`revokeConnection`), and after a role change each is checked
 *   again as when it was made (`recheckConnection`) — one the new role may not read ends with PERMISSION_DENIED.
 */
import {
  KalamError,
  LIVE_LIMITS,
  changesAfter,
  concerns,
  dataUserShard,
  initialRows,
  newestSeq,
  toKalamError,
  viewOf,
} from '@kalam/kalamdb';
import type { DataResponse, FeedEvent, LiveQueryPlan, LiveRow, LiveView, RowChange, Session } from '@kalam/kalamdb';

import type { NodeLog, RunningNode } from '../runtime.js';
import { WS_LIMITS } from './limits.js';
import type { BatchControl, ServerMessage, SubscribeOptions } from './protocol.js';
import { ProtocolError } from './protocol.js';

/** The socket side of a subscription: where its messages go. */
export interface LiveSink {
  /** The connection id (no '-'); a live id is `<connectionId>-<subscription id>`. */
  readonly connectionId: string;
  /** null until the connection has authenticated. */
  readonly session: Session | null;
  send(message: ServerMessage): void;
  readonly open: boolean;
}

interface Subscription {
  readonly sink: LiveSink;
  readonly clientId: string;
  readonly liveId: string;
  plan: LiveQueryPlan | null;
  state: 'registering' | 'loading' | 'live' | 'ended';
  /** The highest `_seq` covered: delivered, filtered out, or inside the initial rows. */
  cursor: number;
  rows: LiveRow[];
  rowsSent: number;
  batchNum: number;
  batchSize: number;
  snapshotSeq: number;
  pending: LiveView[];
  pingInFlight: boolean;
}

export class LiveQueries {
  private readonly byLiveId = new Map<string, Subscription>();
  private readonly byGroup = new Map<number, Set<Subscription>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private sweeping = false;
  private stopFeed: (() => void) | undefined;
  private beforeDeliveryHook: (() => void) | undefined;
  /** `change` messages sent to subscribers since the node started (the node's metrics). */
  private notificationsSent = 0;

  constructor(
    private readonly node: RunningNode,
    private readonly log: NodeLog,
  ) {}

  start(): void {
    this.stopFeed = this.node.machines.feed.subscribe((e) => this.onFeed(e));
    const ping = setInterval(() => this.heartbeat(), WS_LIMITS.pingIntervalMs);
    const sweep = setInterval(() => void this.sweep(), WS_LIMITS.sweepIntervalMs);
    ping.unref();
    sweep.unref();
    this.timers.push(ping, sweep);
  }

  /**
   * Ends every subscription (their UnregisterLiveQuery proposals go out, best effort: a node stopping may not see
   * them commit, and what is left behind goes stale and is cleaned up by the shard leaders), stops timers and feed.
   */
  stop(): void {
    for (const sub of [...this.byLiveId.values()]) this.end(sub, true);
    for (const t of this.timers) clearInterval(t);
    this.stopFeed?.();
  }

  /** Subscriptions held by this node. */
  count(): number {
    return this.byLiveId.size;
  }

  /** `change` messages sent to this node's subscribers since it started. */
  notifications(): number {
    return this.notificationsSent;
  }

  /** Subscriptions of one connection (registering ones included). */
  heldBy(connectionId: string): number {
    let n = 0;
    for (const sub of this.byLiveId.values()) if (sub.sink.connectionId === connectionId) n++;
    return n;
  }

  // -------------------------------------------------------------------------------------------------------
  // Subscribe, next batch, unsubscribe.

  async subscribe(
    sink: LiveSink,
    clientId: string,
    sql: string,
    options: SubscribeOptions,
    held: number,
  ): Promise<void> {
    const session = sink.session;
    if (session === null) throw new ProtocolError('UNAUTHORIZED', 'authenticate first', clientId);
    const liveId = `${sink.connectionId}-${clientId}`;
    if (this.byLiveId.has(liveId)) {
      throw new ProtocolError(
        'INVALID_SUBSCRIPTION_ID',
        `subscription ${clientId} is already active on this connection`,
        clientId,
      );
    }
    if (held >= WS_LIMITS.subscriptionsPerConnectionMax) {
      throw new ProtocolError(
        'SUBSCRIPTION_LIMIT_EXCEEDED',
        `a connection holds at most ${WS_LIMITS.subscriptionsPerConnectionMax} subscriptions`,
        clientId,
      );
    }
    const sub: Subscription = {
      sink,
      clientId,
      liveId,
      plan: null,
      state: 'registering',
      cursor: 0,
      rows: [],
      rowsSent: 0,
      batchNum: 0,
      batchSize: options.batch_size ?? WS_LIMITS.batchSizeDefault,
      snapshotSeq: 0,
      pending: [],
      pingInFlight: false,
    };
    this.byLiveId.set(liveId, sub);
    try {
      const plan = await this.node.engine.planLiveQuery(session, sql);
      sub.plan = plan;
      await this.register(sub, plan);
      await this.node.executor.readBarrier(plan.dataGroup);
    } catch (err) {
      this.byLiveId.delete(liveId);
      if (sub.plan !== null) this.unregister(sub);
      throw asProtocolError(err, clientId);
    }
    if (sub.state !== 'registering' || !sink.open || sink.session === null) {
      // The socket closed, was revoked, or the subscription was killed while registering: undo the registration.
      this.byLiveId.delete(liveId);
      this.unregister(sub);
      return;
    }
    try {
      // The user's role may have changed while registering: the plan must still be allowed to the session now.
      this.node.engine.checkLiveQuery(sink.session, sub.plan);
    } catch (err) {
      this.byLiveId.delete(liveId);
      this.unregister(sub);
      throw asProtocolError(err, clientId);
    }
    try {
      this.begin(sub, sub.plan, options);
    } catch (err) {
      // A load that failed (an unreadable flushed file): the subscription must not stay registered and silent.
      this.end(sub, true); // idempotent: begin may have ended it already
      throw asProtocolError(err, clientId);
    }
  }

  /** The synchronous step of the module comment: read, then join the dispatch table, with no apply in between. */
  private begin(sub: Subscription, plan: LiveQueryPlan, options: SubscribeOptions): void {
    const from = options.from_seq_id;
    if (from !== undefined) {
      // Decided here, after the read barrier: this node has applied every change any node has delivered, so a
      // cursor past its newest `_seq` was never handed out, and following it would silently deliver nothing.
      if (from > newestSeq(this.node.machines, plan)) {
        this.end(sub, true);
        throw new ProtocolError(
          'RESUME_AHEAD',
          `from_seq_id ${from} is beyond the newest change of this table's group; it was not handed out by this cluster, subscribe again without it`,
          sub.clientId,
        );
      }
      const missed = changesAfter(this.node.machines, plan, from);
      if (missed === 'trimmed') {
        this.end(sub, true);
        throw new ProtocolError(
          'RESUME_UNAVAILABLE',
          `from_seq_id ${from} is older than the change history this node keeps; subscribe again without it`,
          sub.clientId,
        );
      }
      sub.cursor = from;
      sub.snapshotSeq = from;
      sub.state = 'live';
      this.join(sub, plan);
      const control: BatchControl = {
        batch_num: 0,
        has_more: false,
        status: 'ready',
        last_seq_id: from,
        snapshot_end_seq: from,
      };
      sub.sink.send({
        type: 'subscription_ack',
        subscription_id: sub.clientId,
        live_id: sub.liveId,
        total_rows: 0,
        batch_control: control,
        schema: plan.schema,
      });
      sub.sink.send({ type: 'initial_data_batch', subscription_id: sub.clientId, rows: [], batch_control: control });
      this.deliver(sub, missed);
      return;
    }
    const lastRows = options.last_rows ?? plan.lastRows;
    const { rows, snapshotSeq } = initialRows(this.node.machines, plan, lastRows);
    if (rows.length > WS_LIMITS.initialRowsMax) {
      this.end(sub, true);
      throw new ProtocolError(
        'TOO_MANY_ROWS',
        `the initial load would hold ${rows.length} rows (at most ${WS_LIMITS.initialRowsMax}); narrow it with last_rows or WHERE`,
        sub.clientId,
      );
    }
    sub.rows = rows;
    sub.cursor = snapshotSeq;
    sub.snapshotSeq = snapshotSeq;
    sub.state = 'loading';
    this.join(sub, plan);
    sub.sink.send({
      type: 'subscription_ack',
      subscription_id: sub.clientId,
      live_id: sub.liveId,
      total_rows: rows.length,
      batch_control: {
        batch_num: 0,
        has_more: rows.length > 0,
        status: 'loading',
        last_seq_id: null,
        snapshot_end_seq: snapshotSeq,
      },
      schema: plan.schema,
    });
    this.sendBatch(sub);
  }

  nextBatch(sink: LiveSink, clientId: string): void {
    const sub = this.byLiveId.get(`${sink.connectionId}-${clientId}`);
    if (sub === undefined)
      throw new ProtocolError('NOT_FOUND', `no subscription ${clientId} on this connection`, clientId);
    if (sub.state !== 'loading') {
      throw new ProtocolError('BATCH_FETCH_FAILED', `subscription ${clientId} has no more initial batches`, clientId);
    }
    this.sendBatch(sub);
  }

  /** Ends a subscription of this connection at the client's request. */
  unsubscribe(sink: LiveSink, clientId: string): void {
    const sub = this.byLiveId.get(`${sink.connectionId}-${clientId}`);
    if (sub === undefined)
      throw new ProtocolError('NOT_FOUND', `no subscription ${clientId} on this connection`, clientId);
    this.end(sub, true);
    sink.send({ type: 'unsubscribed', subscription_id: clientId });
  }

  /** The connection closed: every subscription of it ends and is unregistered. */
  closeConnection(connectionId: string): void {
    for (const sub of [...this.byLiveId.values()]) if (sub.sink.connectionId === connectionId) this.end(sub, true);
  }

  /**
   * The connection's credentials were revoked (its user dropped, locked, or its password changed): every
   * subscription of it ends with `code` and `message` and is unregistered. The caller closes the socket.
   */
  revokeConnection(connectionId: string, code: string, message: string): void {
    for (const sub of [...this.byLiveId.values()]) {
      if (sub.sink.connectionId === connectionId) this.fail(sub, code, message, true);
    }
  }

  /**
   * The connection's session changed (its user's role): each subscription of it is checked again as it was when it
   * was made, and ends (PERMISSION_DENIED, unregistered) unless the session may still hold it.
   */
  recheckConnection(connectionId: string, session: Session): void {
    for (const sub of [...this.byLiveId.values()]) {
      if (sub.sink.connectionId !== connectionId || sub.plan === null || sub.state === 'ended') continue;
      try {
        this.node.engine.checkLiveQuery(session, sub.plan);
      } catch (err) {
        const e = toKalamError(err);
        this.fail(sub, e.code, `subscription ${sub.clientId} ended: the user's rights changed (${e.message})`, true);
      }
    }
  }

  /**
   * `fn` runs before every delivery from the apply path, synchronously: the WebSocket layer re-checks its sessions
   * there when meta:users has applied something, so a change applied on this node before a data change is in force
   * before that data change is delivered.
   */
  beforeDelivery(fn: () => void): void {
    this.beforeDeliveryHook = fn;
  }

  private join(sub: Subscription, plan: LiveQueryPlan): void {
    let set = this.byGroup.get(plan.dataGroupId);
    if (set === undefined) this.byGroup.set(plan.dataGroupId, (set = new Set()));
    set.add(sub);
  }

  private end(sub: Subscription, unregister: boolean): void {
    const wasRegistered = sub.state !== 'ended' && sub.plan !== null;
    sub.state = 'ended';
    sub.rows = [];
    sub.pending = [];
    this.byLiveId.delete(sub.liveId);
    if (sub.plan !== null) this.byGroup.get(sub.plan.dataGroupId)?.delete(sub);
    if (unregister && wasRegistered) this.unregister(sub);
  }

  private fail(sub: Subscription, code: string, message: string, unregister: boolean): void {
    this.end(sub, unregister);
    if (sub.sink.open) sub.sink.send({ type: 'error', subscription_id: sub.clientId, code, message });
  }

  private sendBatch(sub: Subscription): void {
    const batch: LiveRow[] = [];
    let bytes = 0;
    while (sub.rowsSent < sub.rows.length && batch.length < sub.batchSize) {
      const row = sub.rows[sub.rowsSent]!;
      const size = JSON.stringify(row).length;
      if (batch.length > 0 && bytes + size > WS_LIMITS.outgoingBytesTarget) break;
      batch.push(row);
      bytes += size;
      sub.rowsSent++;
    }
    const hasMore = sub.rowsSent < sub.rows.length;
    const last = batch.at(-1);
    const control: BatchControl = {
      batch_num: sub.batchNum,
      has_more: hasMore,
      status: hasMore ? (sub.batchNum === 0 ? 'loading' : 'loading_batch') : 'ready',
      last_seq_id: hasMore && last !== undefined ? Number(last['_seq']) : sub.snapshotSeq,
      snapshot_end_seq: sub.snapshotSeq,
    };
    sub.batchNum++;
    sub.sink.send({ type: 'initial_data_batch', subscription_id: sub.clientId, rows: batch, batch_control: control });
    if (hasMore) return;
    sub.rows = [];
    sub.state = 'live';
    const pending = sub.pending;
    sub.pending = [];
    this.sendViews(sub, pending);
  }

  // -------------------------------------------------------------------------------------------------------
  // Delivery from the apply path.

  private onFeed(e: FeedEvent): void {
    try {
      if (e.kind !== 'unregistered') this.beforeDeliveryHook?.();
      switch (e.kind) {
        case 'changes':
          for (const sub of [...(this.byGroup.get(e.groupId) ?? [])]) this.deliver(sub, e.changes);
          return;
        case 'restored':
          for (const sub of [...(this.byGroup.get(e.groupId) ?? [])]) this.catchUp(sub);
          return;
        case 'unregistered':
          for (const id of e.subscriptionIds) this.onUnregistered(id, e.cause);
          return;
      }
    } catch (err) {
      // A listener must not throw into the apply path; a bug here is logged, not fatal to Raft.
      this.log('error', 'live.feed_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private deliver(sub: Subscription, changes: readonly RowChange[]): void {
    const plan = sub.plan;
    if (plan === null || sub.state === 'ended' || sub.state === 'registering') return;
    const views: LiveView[] = [];
    for (const c of changes) {
      if (c.seq <= sub.cursor || !concerns(plan, c)) continue;
      sub.cursor = c.seq;
      const v = viewOf(plan, c);
      if (v !== null) views.push(v);
    }
    if (views.length === 0) return;
    if (sub.state === 'loading') {
      sub.pending.push(...views);
      if (sub.pending.length > WS_LIMITS.pendingChangesMax) {
        this.fail(
          sub,
          'SUBSCRIPTION_OVERFLOW',
          `more than ${WS_LIMITS.pendingChangesMax} changes arrived while the initial rows were loading; fetch batches faster or use last_rows`,
          true,
        );
      }
      return;
    }
    this.sendViews(sub, views);
  }

  /** After a snapshot restore of the subscription's group: the changes it skipped, from the restored change log. */
  private catchUp(sub: Subscription): void {
    if (sub.plan === null) return;
    const missed = changesAfter(this.node.machines, sub.plan, sub.cursor);
    if (missed === 'trimmed') {
      this.fail(
        sub,
        'RESUME_UNAVAILABLE',
        'this node caught up from a snapshot past the changes kept; subscribe again',
        true,
      );
      return;
    }
    this.deliver(sub, missed);
  }

  /** Sends views as `change` messages: each run of one change type in one message, cut to a bounded size. */
  private sendViews(sub: Subscription, views: readonly LiveView[]): void {
    let i = 0;
    while (i < views.length && sub.state === 'live') {
      const type = views[i]!.changeType;
      const rows: LiveRow[] = [];
      const old: LiveRow[] = [];
      let bytes = 0;
      while (i < views.length && views[i]!.changeType === type) {
        const v = views[i]!;
        const size = JSON.stringify(v.row).length + (v.old === null ? 0 : JSON.stringify(v.old).length);
        if (rows.length > 0 && bytes + size > WS_LIMITS.outgoingBytesTarget) break;
        rows.push(v.row);
        if (v.old !== null) old.push(v.old);
        bytes += size;
        i++;
      }
      const base = { type: 'change', subscription_id: sub.clientId, change_type: type, rows } as const;
      sub.sink.send(type === 'insert' ? base : { ...base, old_values: old });
      this.notificationsSent++;
    }
  }

  private onUnregistered(liveId: string, cause: 'unregister' | 'cleanup' | 'dropped'): void {
    const sub = this.byLiveId.get(liveId);
    if (sub === undefined || sub.plan === null) return;
    if (cause === 'unregister') {
      this.fail(sub, 'SUBSCRIPTION_KILLED', `live query ${liveId} was killed (KILL LIVE QUERY)`, false);
      return;
    }
    if (cause === 'dropped') {
      this.fail(sub, 'TABLE_NOT_FOUND', `table ${sub.plan.tableId} was dropped`, false);
      return;
    }
    // Cleaned up as stale while this node still holds the socket (its heartbeats were late): register again.
    this.log('warn', 'live.reregister', { liveId });
    void this.register(sub, sub.plan).catch((err: unknown) => {
      const e = asProtocolError(err, sub.clientId);
      this.fail(sub, e.code, `the live query lost its registration and could not register again: ${e.message}`, false);
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Registration through the user's shard.

  private async register(sub: Subscription, plan: LiveQueryPlan): Promise<void> {
    const r = await this.node.executor.executeUserData(plan.userId, {
      type: 'RegisterLiveQuery',
      subscriptionId: sub.liveId,
      userId: plan.userId,
      queryHash: plan.queryHash,
      tableId: plan.tableId,
      incarnation: plan.incarnation,
      filter: plan.filter,
      nodeId: this.node.nodeId,
      createdAt: Date.now(),
      // Planned against this node's catalog: the shard applies it once its meta:system has this index too.
      metaIndex: this.node.machines.system.appliedIndex(),
    });
    refused(r);
  }

  private unregister(sub: Subscription): void {
    const plan = sub.plan;
    if (plan === null) return;
    const cmd = { type: 'UnregisterLiveQuery', subscriptionId: sub.liveId, userId: plan.userId, metaIndex: 0 } as const;
    this.node.executor.executeUserData(plan.userId, cmd).catch((err: unknown) => {
      // Left behind, it goes stale and the shard leader's sweep removes it.
      this.log('warn', 'live.unregister_failed', { liveId: sub.liveId, error: String(err) });
    });
  }

  /**
   * One PingLiveQueries per user (not one PingLiveQuery per subscription) for this node's subscriptions that are
   * registered and not already being pinged. A subscription the answer no longer lists was cleaned up by its shard
   * leader (or never registered): it ends. Only subscriptions in the batch are judged, so one that registers
   * while the ping is in flight is not mistaken for a removed one.
   */
  private heartbeat(): void {
    const byUser = new Map<string, Subscription[]>();
    for (const sub of this.byLiveId.values()) {
      const plan = sub.plan;
      if (plan === null || sub.pingInFlight || (sub.state !== 'live' && sub.state !== 'loading')) continue;
      let list = byUser.get(plan.userId);
      if (list === undefined) byUser.set(plan.userId, (list = []));
      list.push(sub);
    }
    for (const [userId, all] of byUser) {
      for (let i = 0; i < all.length; i += LIVE_LIMITS.subscriptionsPerUserMax) {
        this.ping(userId, all.slice(i, i + LIVE_LIMITS.subscriptionsPerUserMax));
      }
    }
  }

  private ping(userId: string, subs: readonly Subscription[]): void {
    for (const sub of subs) sub.pingInFlight = true;
    const cmd = {
      type: 'PingLiveQueries',
      userId,
      subscriptionIds: subs.map((s) => s.liveId),
      pingedAt: Date.now(),
      metaIndex: 0,
    } as const;
    this.node.executor
      .executeUserData(userId, cmd)
      .then((r) => {
        if (r.type !== 'LiveQueriesPinged') return;
        const still = new Set(r.subscriptionIds);
        for (const sub of subs)
          if (!still.has(sub.liveId) && sub.state !== 'ended') this.onUnregistered(sub.liveId, 'cleanup');
      })
      .catch((err: unknown) =>
        this.log('warn', 'live.ping_failed', { userId, subscriptions: subs.length, error: String(err) }),
      )
      .finally(() => {
        for (const sub of subs) sub.pingInFlight = false;
      });
  }

  /** On each user shard this node leads: CleanupNodeSubscriptions for every (user, node) with a stale registration. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const staleBefore = Date.now() - WS_LIMITS.staleAfterMs;
      for (const shard of this.node.machines.userShards) {
        if (!this.node.executor.isLeader(dataUserShard(shard.shard))) continue;
        const stale = new Map<string, { userId: string; nodeId: number }>();
        for (const q of shard.liveQueries()) {
          if (Number(q['last_ping_at']) >= staleBefore) continue;
          const userId = String(q['user_id']);
          const nodeId = Number(q['node_id']);
          stale.set(`${userId}\u0000${nodeId}`, { userId, nodeId });
        }
        for (const { userId, nodeId } of stale.values()) {
          const cmd = { type: 'CleanupNodeSubscriptions', userId, failedNodeId: nodeId, metaIndex: 0 } as const;
          const r = await this.node.executor.executeUserData(userId, cmd);
          this.log('info', 'live.cleanup', {
            userId,
            failedNodeId: nodeId,
            removed: r.type === 'RowsAffected' ? r.count : 0,
          });
        }
      }
    } catch (err) {
      this.log('warn', 'live.sweep_failed', { error: String(err) });
    } finally {
      this.sweeping = false;
    }
  }
}

function refused(r: DataResponse): void {
  if (r.type !== 'Error') return;
  if (r.code === 'LIMIT_EXCEEDED') throw new ProtocolError('SUBSCRIPTION_LIMIT_EXCEEDED', r.message);
  throw new KalamError('SQL_EXECUTION_ERROR', r.message);
}

function asProtocolError(err: unknown, clientId: string): ProtocolError {
  if (err instanceof ProtocolError) return new ProtocolError(err.code, err.message, clientId);
  const e = toKalamError(err);
  return new ProtocolError(e.code, e.message, clientId);
}
