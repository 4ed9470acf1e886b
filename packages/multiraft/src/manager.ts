/**
 * RaftManager: the node process's host of its Raft groups — the driver (driver.ts, the code the simulator runs too)
 * over this node's real I/O: raft.db (the SQLite log store), the WebSocket transport, and real timers (one interval
 * drives every group; `setImmediate` runs the next turn). Everything the driver decides is in driver.ts; this file
 * only wires it to the machine.
 *
 * raft.db is written by a worker thread by default (LogWriter): a write completes later, as the simulator's disk
 * does, and the event loop serves sockets and requests meanwhile; what arrives then goes into the next turn and
 * the next transaction. With `logWrites: 'sync'` the event loop writes it and a turn never waits.
 *
 * Snapshots received from a leader are written to files in `<dataDir>/snapshots/` as their chunks arrive, and
 * raft.db names the file instead of holding the bytes (log-store snapshot-file.ts); files nobody names are deleted
 * at start-up.
 */
import type { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Transport } from '@kalam/transport';
import { LogStore, LogWriter, SnapshotFiles, snapshotDirOf, snapshotFileOf } from '@kalam/log-store';
import type { GroupLogState, GroupWrite, LogStoreStats } from '@kalam/log-store';
import type { ConfChangeV2, ConfState, NodeId } from '@kalam/raft';
import type { LeaderBalanceOptions, MemberAddress, RaftManagerOptions, ResolvedTicks } from './config.js';
import { resolveTiming } from './config.js';
import type { DriverTiming } from './driver-timing.js';
import { RaftDriver } from './driver.js';
import type { DriverClock, GroupStatusReport, LeaderChange, ManagerStats, ProposeOptions } from './driver.js';
import { MultiRaftError } from './errors.js';
import { LogWriteRecorder } from './log-write-stats.js';
import type { LogWriteStats } from './log-write-stats.js';
import { outcomeOf } from './observer.js';

/** Real time: the driver measures with a monotonic clock and waits with Node's timers. */
const realClock: DriverClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  soon: (fn) => void setImmediate(fn),
};

/** raft.db as the manager uses it: written on the event loop (LogStore) or by the log worker (LogWriter). */
interface NodeLog {
  write(writes: readonly GroupWrite[], done: () => void): void;
  compactLog(groupId: number, compactTo: number, compactToTerm: number): void;
  setFsyncDelayMs(ms: number): void;
  stats(): LogStoreStats;
  close(): Promise<void>;
}

function syncLog(store: LogStore): NodeLog {
  return {
    write: (writes, done) => {
      store.write(writes);
      done();
    },
    compactLog: (g, to, toTerm) => store.compactLog(g, to, toTerm),
    setFsyncDelayMs: (ms) => store.setFsyncDelayMs(ms),
    stats: () => store.stats(),
    close: () => {
      store.close();
      return Promise.resolve();
    },
  };
}

/**
 * Opens raft.db and recovers every group on this thread (the store's checks and checksums as ever), then — in
 * worker mode — closes it and hands the file to the log worker, which takes the exclusive lock for its writes.
 */
async function openLog(
  opts: RaftManagerOptions,
  onFatal: (err: Error) => void,
): Promise<{ log: NodeLog; states: Map<number, GroupLogState>; files: SnapshotFiles }> {
  const path = join(opts.dataDir, 'raft.db');
  const groupIds = opts.groups.map((g) => g.id);
  const store = LogStore.open({ path, groupIds });
  let states: Map<number, GroupLogState>;
  try {
    states = new Map(groupIds.map((id) => [id, store.load(id)]));
  } catch (err) {
    store.close();
    throw err;
  }
  // Partial transfers, and files a crash left behind after raft.db stopped naming them, go now.
  const files = new SnapshotFiles(snapshotDirOf(path)!);
  const named = new Set<string>();
  for (const s of states.values()) {
    const file = s.snapshot !== undefined ? snapshotFileOf(s.snapshot.data) : undefined;
    if (file !== undefined) named.add(file.path);
  }
  files.removeUnreferenced(named);
  if (opts.logWrites === 'sync') return { log: syncLog(store), states, files };
  store.close();
  return { log: await LogWriter.start({ path, groupIds, onFatal }), states, files };
}

/** The default storage fatal: an uncaught exception (a node process logs node.fatal and exits 1). */
function throwUncaught(err: Error): void {
  setImmediate(() => {
    throw err;
  });
}

export class RaftManager {
  readonly nodeId: NodeId;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly opts: RaftManagerOptions,
    readonly ticks: ResolvedTicks,
    private readonly log: NodeLog,
    readonly transport: Transport,
    readonly driver: RaftDriver,
    private readonly logWrites: LogWriteRecorder,
  ) {
    this.nodeId = opts.nodeId;
  }

  /** Opens raft.db, recovers every group, starts the transport and the timer. */
  static async start(opts: RaftManagerOptions): Promise<RaftManager> {
    const ticks = resolveTiming(opts.timing);
    const self = opts.members.find((m) => m.nodeId === opts.nodeId);
    if (self === undefined) throw new RangeError(`node ${opts.nodeId} is not among the members`);
    if (new Set(opts.groups.map((g) => g.id)).size !== opts.groups.length)
      throw new RangeError('group ids must be distinct');
    mkdirSync(opts.dataDir, { recursive: true });
    const { log, states, files } = await openLog(opts, opts.onStorageFatal ?? throwUncaught);
    let driver: RaftDriver | undefined;
    let manager: RaftManager | undefined;
    const logWrites = new LogWriteRecorder();
    const logWritten = opts.observer?.logWritten?.bind(opts.observer);
    const applied = opts.observer?.applied?.bind(opts.observer);
    const transport = new Transport({
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      secret: opts.secret,
      listen: opts.listen ?? { host: self.host, port: self.port },
      peers: opts.members.filter((m) => m.nodeId !== opts.nodeId),
      onEnvelopes: (from, envs) => driver?.deliver(from, envs),
      onRequest: (from, method, body) => {
        if (driver === undefined) return Promise.reject(new MultiRaftError('SHUTTING_DOWN', 'starting'));
        return driver.handleRequest(from, method, body);
      },
      onPeerStatus: (peer, status) => driver?.onPeerStatus(peer, status),
      ...(opts.onRemoved !== undefined ? { onRemoved: opts.onRemoved } : {}),
      ...(opts.apiUrl !== undefined ? { apiUrl: opts.apiUrl } : {}),
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    try {
      driver = new RaftDriver({
        nodeId: opts.nodeId,
        voters: opts.voters ?? opts.members.map((m) => m.nodeId),
        groups: opts.groups,
        ticks,
        storage: {
          // Each group's state was read once at start-up (openLog); the store serves no reads after that.
          load: (groupId) => {
            const state = states.get(groupId);
            if (state === undefined) throw new RangeError(`group ${groupId} was not loaded`);
            states.delete(groupId);
            return state;
          },
          write: (writes, done) => {
            const startedAt = performance.now();
            log.write(writes, () => {
              const ms = performance.now() - startedAt;
              logWrites.written(ms);
              logWritten?.(ms);
              done();
            });
          },
          compactLog: (groupId, offsetIndex, offsetTerm) => {
            log.compactLog(groupId, offsetIndex, offsetTerm);
            logWrites.compacted();
          },
        },
        network: {
          send: (env) => transport.send(env),
          flush: () => transport.flush(),
          request: (to, method, body, timeoutMs) => transport.request(to, method, body, timeoutMs),
          peerConnected: (id) => transport.peerConnected(id),
          // The transport's peers now: the members it started with and those added at run time ([M9] §2).
          knowsPeer: (id) => transport.hasPeer(id),
        },
        clock: realClock,
        // A tick that fires while the log worker writes runs when the write is durable, before the next write —
        // as a timer fires late, not never, behind an event loop inside fsync.
        deferTicksDuringWrite: true,
        snapshotFiles: files,
        seed: opts.seed ?? (opts.nodeId * 7919 + Date.now()) >>> 0,
        ...(opts.snapshotThreshold !== undefined ? { snapshotThreshold: opts.snapshotThreshold } : {}),
        ...(opts.snapshotKeepEntries !== undefined ? { snapshotKeepEntries: opts.snapshotKeepEntries } : {}),
        ...(opts.logBytesMax !== undefined ? { logBytesMax: opts.logBytesMax } : {}),
        ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
        ...(opts.leaderBalance !== undefined ? { leaderBalance: opts.leaderBalance } : {}),
        ...(applied !== undefined ? { onApplied: applied } : {}),
        ...(opts.applyScope !== undefined ? { applyScope: opts.applyScope } : {}),
      });
      manager = new RaftManager(opts, ticks, log, transport, driver, logWrites);
      await transport.start();
    } catch (err) {
      await log.close();
      await transport.close().catch(() => undefined);
      throw err;
    }
    const started = manager;
    started.timer = setInterval(() => started.driver.tick(), ticks.tickMs);
    return started;
  }

  get events(): EventEmitter<{ leaderChange: [LeaderChange] }> {
    return this.driver.events;
  }

  get stats(): ManagerStats {
    return this.driver.stats;
  }

  /** See RaftDriver.propose; its outcome is told to the observer, if any. */
  propose(groupId: number, command: Uint8Array, options: ProposeOptions = {}): Promise<unknown> {
    const proposal = this.driver.propose(groupId, command, options);
    const observer = this.opts.observer;
    if (observer?.proposed !== undefined) {
      // A side branch: the caller gets the driver's own promise, its rejection included.
      void proposal.then(
        () => observer.proposed?.('ok'),
        (err: unknown) => observer.proposed?.(outcomeOf(err)),
      );
    }
    return proposal;
  }

  /** See RaftDriver.read. */
  read(groupId: number, options: ProposeOptions = {}): Promise<number> {
    return this.driver.read(groupId, options);
  }

  /** See RaftDriver.proposeConfChange: a membership change, forwarded to the group's leader; `deadlineMs` from now. */
  proposeConfChange(groupId: number, cc: ConfChangeV2, deadlineMs: number): Promise<ConfState> {
    return this.driver.proposeConfChange(groupId, cc, deadlineMs);
  }

  /** See RaftDriver.confState: the group's configuration in force on this node. */
  confState(groupId: number): ConfState {
    return this.driver.confState(groupId);
  }

  /** See RaftDriver.progress: on the leader, each member's match index and the leader's last index. */
  progress(groupId: number): ReadonlyMap<NodeId, { readonly match: number; readonly lastIndex: number }> {
    return this.driver.progress(groupId);
  }

  /** See RaftDriver.leaderProgress: progress() as the group's leader sees it, wherever it is. */
  leaderProgress(
    groupId: number,
    deadlineMs: number,
  ): Promise<ReadonlyMap<NodeId, { readonly match: number; readonly lastIndex: number }>> {
    return this.driver.leaderProgress(groupId, deadlineMs);
  }

  transferLeadership(groupId: number, to?: NodeId, options: ProposeOptions = {}): Promise<NodeId> {
    return this.driver.transferLeadership(groupId, to, options);
  }

  transferAllLeadership(timeoutMs: number): Promise<{ moved: number; failed: number }> {
    return this.driver.transferAllLeadership(timeoutMs);
  }

  status(): GroupStatusReport[] {
    return this.driver.status();
  }

  driverTiming(): DriverTiming {
    return this.driver.driverTiming();
  }

  /** What raft.db's writes cost: counts, transactions (fsyncs) and the time of one write (log-write-stats.ts). */
  logWriteStats(): LogWriteStats {
    return this.logWrites.snapshot(this.log.stats().transactions);
  }

  /** raft.db's own counters (transactions, entries and bytes written). */
  logStats(): LogStoreStats {
    return this.log.stats();
  }

  /** The leader balance's settings, or undefined when it is off. */
  leaderBalance(): LeaderBalanceOptions | undefined {
    const b = this.opts.leaderBalance;
    return b === undefined || b.intervalMs === 0 ? undefined : b;
  }

  members(): readonly MemberAddress[] {
    return this.opts.members;
  }

  groupIds(): number[] {
    return this.driver.groupIds();
  }

  isLeader(groupId: number): boolean {
    return this.driver.isLeader(groupId);
  }

  leaderOf(groupId: number): NodeId | null {
    return this.driver.leaderOf(groupId);
  }

  /** Slow-disk fault: every log write blocks this long. */
  setFsyncDelayMs(ms: number): void {
    this.log.setFsyncDelayMs(ms);
  }

  /**
   * Stops the node. With `transferLeadership`, groups this node leads are handed over first (bounded by
   * `timeoutMs`), so that requests in flight elsewhere do not fail.
   */
  async stop(options: { transferLeadership?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    if (options.transferLeadership === true) {
      await this.driver.transferAllLeadership(options.timeoutMs ?? 2_000).catch(() => undefined);
    }
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.driver.stop();
    await this.transport.close();
    await this.log.close();
  }
}
