/**
 * The node-to-node transport: one /raft endpoint for what peers send us, one outbound link per peer for what
 * we send them (see server.ts and link.ts). This class wires them to one context (identity, limits, counters,
 * fault rules) and is the only thing users touch.
 */
import type { NodeId } from '@kalam/raft';
import { assert } from './assert.js';
import type { TransportContext } from './context.js';
import { TransportError } from './errors.js';
import { DelayQueue, FaultTable } from './faults.js';
import type { FaultRule } from './faults.js';
import { PeerLink } from './link.js';
import { resolveLimits } from './limits.js';
import { rateLimitedLog } from './log.js';
import { InboundServer } from './server.js';
import { copyPeerStats, copyStats, newStats } from './stats.js';
import type { PeerStats, TransportStats } from './stats.js';
import type { Envelope, LogFn, PeerAddress, PeerStatus, TransportOptions } from './types.js';

type TransportState = 'new' | 'starting' | 'started' | 'closed';

export class Transport {
  private readonly ctx: TransportContext;
  private readonly server: InboundServer;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Ids removed at run time (removePeer): their hellos are refused as `removed_node`. */
  private readonly removed = new Set<number>();
  private readonly onStatus: (peer: NodeId, status: PeerStatus) => void;
  private readonly listenAddress: { host: string; port: number };
  private state: TransportState = 'new';
  private closing: Promise<void> | undefined;

  constructor(opts: TransportOptions) {
    checkOptions(opts);
    const limits = resolveLimits(opts);
    const now = Date.now;
    const log: LogFn =
      opts.log === undefined ? () => undefined : rateLimitedLog(opts.log, limits.logLinesPerEventPerSecondMax, now);
    this.ctx = {
      identity: { clusterId: opts.clusterId, nodeId: opts.nodeId, secret: opts.secret },
      limits,
      stats: newStats(),
      peerStats: new Map(),
      faults: new FaultTable(),
      delays: new DelayQueue(limits.delayedItemsMax),
      log,
      isPeer: (nodeId) => this.links.has(nodeId as NodeId),
      isRemoved: (nodeId) => this.removed.has(nodeId),
      onRemoved: (by) => {
        if (!this.ctx.closed) opts.onRemoved?.(by);
      },
      now,
      onEnvelopes: opts.onEnvelopes,
      onRequest: opts.onRequest,
      apiUrl: opts.apiUrl,
      tls: opts.tls,
      closed: false,
    };
    this.onStatus = (peer: NodeId, status: PeerStatus): void => opts.onPeerStatus?.(peer, status);
    for (const address of opts.peers) this.links.set(address.nodeId, new PeerLink(this.ctx, address, this.onStatus));
    this.server = new InboundServer(this.ctx);
    this.listenAddress = { ...opts.listen };
  }

  /** Listens on /raft (port 0 picks one) and starts dialing every peer. Rejects when the port cannot be bound. */
  async start(): Promise<{ port: number }> {
    assert(this.state === 'new', `start() called on a transport that is ${this.state}`);
    this.state = 'starting';
    const port = await this.server.listen(this.listenAddress.host, this.listenAddress.port);
    if (this.ctx.closed) return { port };
    this.state = 'started';
    this.ctx.log('info', 'listening', { nodeId: this.ctx.identity.nodeId, host: this.listenAddress.host, port });
    for (const link of this.links.values()) link.start();
    return { port };
  }

  /**
   * Queues `env` for its peer. Everything queued for a peer in one event-loop turn leaves as one frame; MsgSnap
   * goes on the paced bulk lane. Never blocks and never fails: overflow and faults are counted in `stats()`.
   */
  send(env: Envelope): void {
    if (this.ctx.closed) return;
    assert(
      env.from === this.ctx.identity.nodeId,
      () => `envelope from ${env.from} sent by node ${this.ctx.identity.nodeId}`,
    );
    const link = this.links.get(env.to);
    if (link === undefined) {
      // Peers follow the cluster's membership (addPeer/removePeer), which changes apart from each group's own
      // configuration: a message to a node just removed is dropped and counted, as a lost message would be.
      this.ctx.stats.dropped.notAPeer += 1;
      return;
    }
    link.send(env);
  }

  /**
   * Writes every queued envelope to the sockets now. RaftManager calls it before its fsync, so that a
   * leader's appends travel while its own write is in progress (the Ready's `messages` may leave before the
   * write is durable).
   */
  flush(): void {
    if (this.ctx.closed) return;
    for (const link of this.links.values()) link.flushNow();
  }

  /**
   * Calls `method` on `to`'s onRequest. Rejects with TransportError: PEER_UNAVAILABLE (no link now, or it closed
   * while waiting), TIMEOUT, REMOTE_ERROR (the handler failed: its message, `remoteCode`, `remoteFields`), CLOSED.
   */
  request(to: NodeId, method: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.ctx.closed) return Promise.reject(new TransportError('CLOSED', 'the transport is closed', { peer: to }));
    const link = this.links.get(to);
    if (link === undefined) {
      return Promise.reject(new TransportError('PEER_UNAVAILABLE', `node ${to} is not a peer`, { peer: to }));
    }
    return link.request(method, body, timeoutMs);
  }

  /**
   * Adds a peer at run time (a node joined the cluster), or changes the address of a known one; it is dialed at
   * once when the transport has started. A removed id stays refused: ids are never reused.
   */
  addPeer(address: PeerAddress): void {
    if (this.ctx.closed) return;
    assert(address.nodeId !== this.ctx.identity.nodeId, `node ${address.nodeId} cannot be its own peer`);
    assert(!this.removed.has(address.nodeId), () => `node ${address.nodeId} was removed; ids are never reused`);
    checkPeer(address);
    const known = this.links.get(address.nodeId);
    if (known !== undefined) {
      if (known.address.host === address.host && known.address.port === address.port) return;
      known.stop();
    }
    const link = new PeerLink(this.ctx, { ...address }, this.onStatus);
    this.links.set(address.nodeId, link);
    this.ctx.log('info', 'peer_added', { peer: address.nodeId, host: address.host, port: address.port });
    if (this.state === 'started') link.start();
  }

  /**
   * Removes a peer for good (it was removed from the cluster): its link stops, its inbound sockets close, and
   * from now on its hello is refused as `removed_node`, which tells it that it was removed.
   */
  removePeer(nodeId: NodeId): void {
    if (this.ctx.closed || this.removed.has(nodeId)) return;
    this.removed.add(nodeId);
    this.links.get(nodeId)?.stop();
    this.links.delete(nodeId);
    this.server.dropPeer(nodeId, 'removed_node');
    this.ctx.peerStats.delete(nodeId);
    this.ctx.log('info', 'peer_removed', { peer: nodeId });
  }

  /** Whether the transport links to `nodeId` now (a member, static or added at run time, not removed). */
  hasPeer(nodeId: NodeId): boolean {
    return this.links.has(nodeId);
  }

  /** The peers this transport links to now. */
  peers(): NodeId[] {
    return [...this.links.keys()].sort((a, b) => a - b);
  }

  /** Replaces the fault rule for `peer` (see faults.ts for what each field does). */
  setFault(peer: NodeId, rule: FaultRule): void {
    this.ctx.faults.set(peer, rule);
    this.ctx.log('info', 'fault_set', { peer, rule });
  }

  /** The fault rules in force, by peer. */
  faults(): { peer: NodeId; rule: Readonly<FaultRule> }[] {
    return this.ctx.faults.entries();
  }

  /** Clears the rule of one peer, or of all. Items already delayed still arrive late. */
  clearFaults(peer?: NodeId): void {
    this.ctx.faults.clear(peer);
    this.ctx.log('info', 'faults_cleared', { peer: peer ?? 'all' });
  }

  /** Whether our outbound link to `peer` is up and authenticated. */
  peerConnected(peer: NodeId): boolean {
    return this.links.get(peer)?.connected() ?? false;
  }

  stats(): TransportStats {
    return copyStats(this.ctx.stats);
  }

  /** Frames, bytes and errors per peer (PeerStats), by peer id; a peer appears once a socket with it counted. */
  peerStats(): Map<NodeId, PeerStats> {
    const out = new Map<NodeId, PeerStats>();
    for (const [peer, stats] of this.ctx.peerStats) out.set(peer as NodeId, copyPeerStats(stats));
    return out;
  }

  /** Closes the server and every link, rejects pending requests with CLOSED. Idempotent; bounded in time. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.ctx.closed = true;
    this.state = 'closed';
    for (const link of this.links.values()) link.stop();
    this.ctx.delays.clear();
    await this.server.close();
    this.ctx.log('info', 'closed', { nodeId: this.ctx.identity.nodeId });
  }
}

function checkOptions(opts: TransportOptions): void {
  assert(Number.isSafeInteger(opts.nodeId) && opts.nodeId > 0, `nodeId must be a positive integer, got ${opts.nodeId}`);
  assert(opts.clusterId.length > 0, 'clusterId must not be empty');
  assert(opts.secret.length > 0, 'secret must not be empty');
  const seen = new Set<number>();
  for (const peer of opts.peers) {
    checkPeer(peer);
    assert(peer.nodeId !== opts.nodeId, `node ${opts.nodeId} lists itself as a peer`);
    assert(!seen.has(peer.nodeId), `peer ${peer.nodeId} is listed twice`);
    seen.add(peer.nodeId);
  }
}

function checkPeer(peer: PeerAddress): void {
  assert(
    Number.isSafeInteger(peer.nodeId) && peer.nodeId > 0,
    `peer nodeId must be a positive integer, got ${peer.nodeId}`,
  );
  assert(
    Number.isInteger(peer.port) && peer.port > 0 && peer.port < 65536,
    `peer ${peer.nodeId} has a bad port ${peer.port}`,
  );
}
