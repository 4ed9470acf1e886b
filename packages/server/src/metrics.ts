/**
 * GET /metrics: the node's health in Prometheus text format (prom-client), for the tools operators already run
 * (issue [M10] §4; README "Metrics" lists every family, its type, labels and unit).
 *
 * Each node has its own Registry (never prom-client's global one), so several nodes in one process — the tests —
 * never share a series. Two kinds of figures:
 * - observed as they happen, where only the event knows them: HTTP requests and their latency (http.ts calls
 *   `httpDone` once per request), and from RaftManager's observer (`raft`) the time of each durable log write
 *   and each apply batch and the outcome of each proposal — once per write, batch or proposal, never per entry;
 * - read when scraped (`render`), from what the node keeps anyway: every group's role, term and indexes
 *   (clusterStatus, the same view as GET /v1/api/cluster/status), the driver's and the transport's cumulative
 *   counters, live queries, and jobs by type and status — nothing per driver turn.
 * The process-wide default metrics (CPU, memory, event-loop lag, GC: prom-client's collectDefaultMetrics) live
 * in one registry per process, since they describe the process, and follow the node's families in the answer.
 *
 * Who may read it: root with the system role (Basic or a token, as the admin endpoints), or whoever presents
 * `[auth] metrics_token` as a bearer token. The figures name the cluster's topology (peers, leaders, terms), the
 * same facts GET /v1/api/cluster/status keeps from ordinary users.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { Session } from '@kalam/kalamdb';
import type { ProposalOutcome, RaftManager, RaftObserver } from '@kalam/multiraft';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { requireRoot } from './admin.js';
import { authenticateRequest } from './auth.js';
import type { RequestOrigin } from './auth.js';
import type { RunningNode } from './runtime.js';
import type { LiveEndpoint } from './ws/server.js';

export const METRICS_PATH = '/metrics';

/** Histogram buckets, in seconds: each family's from well under its usual value to well past a bad one. */
export const METRICS_BUCKETS = {
  /** An HTTP request: a point read takes about a millisecond, a write a few, a bulk load or a slow leader seconds. */
  httpSeconds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  /** A raft.db write with its fsync: under a millisecond on a fast disk, hundreds on a slow or loaded one. */
  logWriteSeconds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  /** One apply batch (one data.db transaction): tens of microseconds for one row, up to the turn's apply budget. */
  applySeconds: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
} as const;

const METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** Every role a group's core can be in: the role gauge has a series for each, 1 for the one in force. */
const ROLES = ['leader', 'follower', 'candidate', 'pre-candidate'] as const;

type Labels<T extends string> = Partial<Record<T, string | number>>;

/**
 * The per-process default metrics (one registry however many nodes the process runs), started by the first scrape:
 * their event-loop monitor and GC observer then run for the life of the process, so nothing starts them unasked.
 */
let processRegistry: Registry | undefined;

function defaultMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** What a scrape reads besides the node: its API server's live queries, and the version it reports. */
export interface ScrapeSources {
  readonly live: LiveEndpoint;
  readonly version: string;
}

export class NodeMetrics {
  readonly registry = new Registry();
  /** Handed to RaftManager (RaftManagerOptions.observer). */
  readonly raft: RaftObserver;

  private readonly httpRequests = this.counter(
    'kalam_http_requests_total',
    'HTTP requests answered, by method, route template and status',
    ['method', 'route', 'status'],
  );
  private readonly httpSeconds = new Histogram({
    name: 'kalam_http_request_duration_seconds',
    help: 'Time from an HTTP request’s arrival until its answer was written, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [...METRICS_BUCKETS.httpSeconds],
    registers: [this.registry],
  });
  private readonly proposals = this.counter(
    'kalam_raft_proposals_total',
    'Proposals made through this node (forwarded ones where they were made), by outcome: ok or the error code',
    ['outcome'],
  );
  private readonly logWriteSeconds = new Histogram({
    name: 'kalam_raft_log_fsync_duration_seconds',
    help: 'Raft log writes: time from the driver handing a turn’s writes to raft.db until they were durable (one SQLite transaction with its fsync, plus any wait behind the write in flight)',
    buckets: [...METRICS_BUCKETS.logWriteSeconds],
    registers: [this.registry],
  });
  private readonly applySeconds = new Histogram({
    name: 'kalam_raft_apply_duration_seconds',
    help: 'Time to apply one batch of committed entries to a state machine (one data.db transaction)',
    buckets: [...METRICS_BUCKETS.applySeconds],
    registers: [this.registry],
  });
  private readonly appliedEntries = this.counter(
    'kalam_raft_applied_entries_total',
    'Committed entries applied to the state machines on this node',
  );

  // Read when scraped.
  private readonly nodeInfo = this.gauge('kalam_node_info', 'Always 1: the node’s id, mode and version', [
    'node_id',
    'mode',
    'version',
  ]);
  private readonly groupRole = this.gauge(
    'kalam_raft_group_role',
    'Raft role of each group on this node: 1 for the role in force, 0 for the others',
    ['group', 'role'],
  );
  private readonly groupLeader = this.gauge(
    'kalam_raft_group_leader_id',
    'The node id this node knows as the group’s leader (0: none known)',
    ['group'],
  );
  private readonly groupTerm = this.gauge('kalam_raft_group_term', 'Current Raft term of each group on this node', [
    'group',
  ]);
  private readonly groupCommit = this.gauge(
    'kalam_raft_group_commit_index',
    'Commit index of each group on this node',
    ['group'],
  );
  private readonly groupApplied = this.gauge(
    'kalam_raft_group_applied_index',
    'Index of the last entry each group’s state machine applied on this node',
    ['group'],
  );
  private readonly groupLast = this.gauge(
    'kalam_raft_group_last_index',
    'Last index in each group’s Raft log on this node',
    ['group'],
  );
  private readonly groupSnapshot = this.gauge(
    'kalam_raft_group_snapshot_index',
    'Index of each group’s latest snapshot (log compacted up to it) on this node',
    ['group'],
  );
  private readonly readRounds = this.counter(
    'kalam_raft_read_index_rounds_total',
    'ReadIndex rounds asked of the Raft cores (concurrent linearizable reads of a group share one)',
  );
  private readonly reads = this.counter(
    'kalam_raft_read_index_requests_total',
    'Linearizable read points asked for (each retry after a leader change counts)',
  );
  private readonly forwarded = this.counter(
    'kalam_raft_proposals_forwarded_total',
    'Proposals this node forwarded to another node, the group’s leader',
  );
  private readonly leaderships = this.counter(
    'kalam_raft_leaderships_acquired_total',
    'Times this node became the leader of a group (elections and transfers)',
  );
  private readonly turns = this.counter(
    'kalam_raft_driver_turns_total',
    'Raft driver turns (step, persist, send, apply) run on this node',
  );
  private readonly logWrites = this.counter(
    'kalam_raft_log_writes_total',
    'Writes the Raft driver handed to raft.db (one per Ready round with something to make durable)',
  );
  private readonly logTransactions = this.counter(
    'kalam_raft_log_transactions_total',
    'raft.db transactions (each one fsync) that carried the writes and compactions',
  );
  private readonly logEntries = this.counter(
    'kalam_raft_log_entries_written_total',
    'Raft log entries written to raft.db',
  );
  private readonly compactions = this.counter(
    'kalam_raft_log_compactions_total',
    'Raft log compactions (each up to what the state machine made durable)',
  );
  private readonly snapshots = this.counter(
    'kalam_raft_snapshots_total',
    'Snapshots taken (built for a follower behind the compacted log), sent (a transfer’s last chunk left) and installed',
    ['event'],
  );
  private readonly snapshotBytes = this.counter(
    'kalam_raft_snapshot_bytes_total',
    'Bytes of the snapshots taken and installed, and of every snapshot chunk sent (resends included)',
    ['event'],
  );
  private readonly envelopesDropped = this.counter(
    'kalam_raft_envelopes_dropped_total',
    'Raft messages the driver dropped: invalid (malformed, oversized, for an unknown group, inbox full) or unroutable (to a node the transport does not know)',
    ['reason'],
  );
  private readonly peerUp = this.gauge(
    'kalam_transport_peer_up',
    '1 while this node’s authenticated link to the peer is open',
    ['peer'],
  );
  private readonly frames = this.counter(
    'kalam_transport_frames_total',
    'WebSocket frames exchanged with each peer (an inbound socket’s from its handshake on)',
    ['peer', 'direction'],
  );
  private readonly bytes = this.counter(
    'kalam_transport_bytes_total',
    'Bytes of the WebSocket frames exchanged with each peer',
    ['peer', 'direction'],
  );
  private readonly transportErrors = this.counter(
    'kalam_transport_errors_total',
    'Errors on the links with each peer, by kind: socket, undecodable, oversized, queue_full, disconnected',
    ['peer', 'kind'],
  );
  private readonly transportDropped = this.counter(
    'kalam_transport_dropped_total',
    'Frames or envelopes the transport dropped, by reason (all peers, and sockets not yet authenticated)',
    ['reason'],
  );
  private readonly handshakesRefused = this.counter(
    'kalam_transport_handshakes_refused_total',
    'Raft transport handshakes this node refused',
  );
  private readonly reconnects = this.counter(
    'kalam_transport_reconnects_total',
    'Links to peers that came up again after having been up',
  );
  private readonly liveSubscriptions = this.gauge(
    'kalam_live_subscriptions',
    'Live-query subscriptions held by this node',
  );
  private readonly liveConnections = this.gauge('kalam_live_connections', 'Open WebSocket connections on /v1/ws');
  private readonly liveNotifications = this.counter(
    'kalam_live_notifications_total',
    'Change notifications (`change` messages) sent to this node’s subscribers',
  );
  private readonly jobs = this.gauge(
    'kalam_jobs',
    'Jobs in system.jobs (replicated: the same on every node once applied), by type and status',
    ['type', 'status'],
  );

  /** Label sets of the proposal outcomes, made once: a proposal's count allocates nothing of ours. */
  private readonly outcomeLabels = new Map<ProposalOutcome, Labels<'outcome'>>();

  constructor() {
    this.proposals.inc({ outcome: 'ok' }, 0);
    this.raft = {
      logWritten: (ms) => this.logWriteSeconds.observe(ms / 1000),
      applied: (entries, ms) => {
        this.applySeconds.observe(ms / 1000);
        this.appliedEntries.inc(entries);
      },
      proposed: (outcome) => this.proposals.inc(this.outcomeLabel(outcome)),
    };
  }

  /** One HTTP request was answered (http.ts): `route` a path of the API or `other`, `ms` since it arrived. */
  httpDone(method: string | undefined, route: string, status: number, ms: number): void {
    const m = method !== undefined && METHODS.has(method) ? method : 'other';
    this.httpRequests.inc({ method: m, route, status: String(status) });
    this.httpSeconds.observe({ method: m, route }, ms / 1000);
  }

  /** The exposition text: the node's families read now, then the process's. */
  async render(node: RunningNode, sources: ScrapeSources): Promise<string> {
    this.refresh(node, sources);
    return (await this.registry.metrics()) + (await defaultMetrics().metrics());
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private refresh(node: RunningNode, sources: ScrapeSources): void {
    this.nodeInfo.reset();
    this.nodeInfo.set({ node_id: node.nodeId, mode: node.config.mode, version: sources.version }, 1);
    this.refreshGroups(node);
    if (node.manager !== undefined) {
      this.refreshDriver(node.manager);
      this.refreshTransport(node.manager);
    }
    const live = sources.live;
    this.liveSubscriptions.set(live.live.count());
    this.liveConnections.set(live.connections());
    setTotal(this.liveNotifications, live.live.notifications());
    this.jobs.reset();
    for (const j of node.machines.jobs.countsByTypeAndStatus()) {
      this.jobs.set({ type: j.jobType, status: j.status }, j.count);
    }
  }

  /** The same view as GET /v1/api/cluster/status (standalone: every group led here, term 0). */
  private refreshGroups(node: RunningNode): void {
    const gauges = [
      this.groupRole,
      this.groupLeader,
      this.groupTerm,
      this.groupCommit,
      this.groupApplied,
      this.groupLast,
      this.groupSnapshot,
    ];
    for (const g of gauges) g.reset();
    for (const g of node.clusterStatus().groups) {
      const group = g.name;
      for (const role of ROLES) this.groupRole.set({ group, role }, g.role === role ? 1 : 0);
      this.groupLeader.set({ group }, g.leader ?? 0);
      this.groupTerm.set({ group }, g.term);
      this.groupCommit.set({ group }, g.commit_index);
      this.groupApplied.set({ group }, g.applied_index);
      this.groupLast.set({ group }, g.last_index);
      this.groupSnapshot.set({ group }, g.snapshot_index);
    }
  }

  private refreshDriver(manager: RaftManager): void {
    const s = manager.stats;
    setTotal(this.readRounds, s.readRounds);
    setTotal(this.reads, s.reads);
    setTotal(this.forwarded, s.forwardedProposals);
    setTotal(this.leaderships, s.leaderChanges);
    setTotal(this.turns, s.turns);
    setTotal(this.logWrites, s.writes);
    setTotal(this.logEntries, s.entriesWritten);
    setTotal(this.compactions, s.logCompactions);
    setTotal(this.logTransactions, manager.logWriteStats().transactions);
    setTotals(this.snapshots, 'event', {
      taken: s.snapshotsTaken,
      sent: s.snapshotsSent,
      installed: s.snapshotsInstalled,
    });
    setTotals(this.snapshotBytes, 'event', {
      taken: s.snapshotBytesTaken,
      sent: s.snapshotBytesSent,
      installed: s.snapshotBytesInstalled,
    });
    setTotals(this.envelopesDropped, 'reason', { invalid: s.envelopesDropped, unroutable: s.envelopesUnroutable });
  }

  private refreshTransport(manager: RaftManager): void {
    const transport = manager.transport;
    this.peerUp.reset();
    for (const peer of transport.peers()) this.peerUp.set({ peer }, transport.peerConnected(peer) ? 1 : 0);
    this.frames.reset();
    this.bytes.reset();
    this.transportErrors.reset();
    for (const [peer, p] of transport.peerStats()) {
      this.frames.inc({ peer, direction: 'sent' }, p.framesOut);
      this.frames.inc({ peer, direction: 'received' }, p.framesIn);
      this.bytes.inc({ peer, direction: 'sent' }, p.bytesOut);
      this.bytes.inc({ peer, direction: 'received' }, p.bytesIn);
      const e = p.errors;
      this.transportErrors.inc({ peer, kind: 'socket' }, e.socket);
      this.transportErrors.inc({ peer, kind: 'undecodable' }, e.undecodable);
      this.transportErrors.inc({ peer, kind: 'oversized' }, e.oversized);
      this.transportErrors.inc({ peer, kind: 'queue_full' }, e.queueFull);
      this.transportErrors.inc({ peer, kind: 'disconnected' }, e.disconnected);
    }
    const t = transport.stats();
    const d = t.dropped;
    setTotals(this.transportDropped, 'reason', {
      undecodable: d.undecodable,
      oversized: d.oversized,
      queue_full: d.queueFull,
      fault: d.fault,
      unauthenticated: d.unauthenticated,
      not_a_peer: d.notAPeer,
    });
    setTotal(this.handshakesRefused, t.handshakesRefused);
    setTotal(this.reconnects, t.reconnects);
  }

  private outcomeLabel(outcome: ProposalOutcome): Labels<'outcome'> {
    let labels = this.outcomeLabels.get(outcome);
    if (labels === undefined) this.outcomeLabels.set(outcome, (labels = { outcome: outcome.toLowerCase() }));
    return labels;
  }

  private counter<T extends string>(name: string, help: string, labelNames: readonly T[] = []): Counter<T> {
    return new Counter<T>({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<T extends string>(name: string, help: string, labelNames: readonly T[] = []): Gauge<T> {
    return new Gauge<T>({ name, help, labelNames, registers: [this.registry] });
  }
}

/** A counter read from a cumulative figure the node keeps: it takes the figure's value (which never goes back). */
function setTotal(counter: Counter, value: number): void {
  counter.reset();
  counter.inc(value);
}

function setTotals<T extends string>(counter: Counter<T>, label: T, values: Record<string, number>): void {
  counter.reset();
  for (const [key, value] of Object.entries(values)) counter.inc({ [label]: key } as Labels<T>, value);
}

// ---------------------------------------------------------------------------------------------------------
// Who may scrape.

/**
 * Lets root (with the system role, as the admin endpoints) or the holder of `[auth] metrics_token` through; throws
 * UNAUTHORIZED (401) or PERMISSION_DENIED (403) otherwise. Returns the session, or null for the metrics token.
 */
export async function authorizeScrape(
  node: RunningNode,
  header: string | undefined,
  origin: RequestOrigin,
): Promise<Session | null> {
  const token = node.config.auth.metricsToken;
  if (token !== undefined && header !== undefined && bearerMatches(header, token)) return null;
  const session = await authenticateRequest(node, header, origin);
  requireRoot(session, `${METRICS_PATH} is`);
  return session;
}

/** `Bearer <token>` with exactly `token`, compared in constant time (over digests, so lengths do not show). */
function bearerMatches(header: string, token: string): boolean {
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return false;
  const given = createHash('sha256')
    .update(header.slice(space + 1).trim())
    .digest();
  return timingSafeEqual(given, createHash('sha256').update(token).digest());
}
