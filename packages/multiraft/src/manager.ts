/**
 * RaftManager: the node process's host of its Raft groups — the driver (driver.ts, the code the simulator runs too)
 * over this node's real I/O: raft.db (the SQLite log store; a write is durable when it returns, so a turn never
 * waits), the WebSocket transport, and real timers (one interval drives every group; `setImmediate` runs the next
 * turn). Everything the driver decides is in driver.ts; this file only wires it to the machine.
 */
import type { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Transport } from '@kalam/transport';
import { LogStore } from '@kalam/log-store';
import type { NodeId } from '@kalam/raft';
import type { LeaderBalanceOptions, MemberAddress, RaftManagerOptions, ResolvedTicks } from './config.js';
import { resolveTiming } from './config.js';
import type { DriverTiming } from './driver-timing.js';
import { RaftDriver } from './driver.js';
import type { DriverClock, GroupStatusReport, LeaderChange, ManagerStats, ProposeOptions } from './driver.js';
import { MultiRaftError } from './errors.js';

/** Real time: the driver measures with a monotonic clock and waits with Node's timers. */
const realClock: DriverClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  soon: (fn) => void setImmediate(fn),
};

export class RaftManager {
  readonly nodeId: NodeId;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly opts: RaftManagerOptions,
    readonly ticks: ResolvedTicks,
    readonly logStore: LogStore,
    readonly transport: Transport,
    readonly driver: RaftDriver,
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
    const logStore = LogStore.open({ path: join(opts.dataDir, 'raft.db'), groupIds: opts.groups.map((g) => g.id) });
    let driver: RaftDriver | undefined;
    const transport = new Transport({
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      secret: opts.secret,
      listen: { host: self.host, port: self.port },
      peers: opts.members.filter((m) => m.nodeId !== opts.nodeId),
      onEnvelopes: (from, envs) => driver?.deliver(from, envs),
      onRequest: (from, method, body) => {
        if (driver === undefined) return Promise.reject(new MultiRaftError('SHUTTING_DOWN', 'starting'));
        return driver.handleRequest(from, method, body);
      },
      onPeerStatus: (peer, status) => driver?.onPeerStatus(peer, status),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    let manager: RaftManager;
    try {
      driver = new RaftDriver({
        nodeId: opts.nodeId,
        voters: opts.members.map((m) => m.nodeId),
        groups: opts.groups,
        ticks,
        storage: {
          load: (groupId) => logStore.load(groupId),
          // Synchronous: durable when it returns, so the driver's turn goes on at once.
          write: (writes, done) => {
            logStore.write(writes);
            done();
          },
          compactLog: (groupId, offsetIndex, offsetTerm) => logStore.compactLog(groupId, offsetIndex, offsetTerm),
        },
        network: {
          send: (env) => transport.send(env),
          flush: () => transport.flush(),
          request: (to, method, body, timeoutMs) => transport.request(to, method, body, timeoutMs),
          peerConnected: (id) => transport.peerConnected(id),
        },
        clock: realClock,
        seed: opts.seed ?? (opts.nodeId * 7919 + Date.now()) >>> 0,
        ...(opts.snapshotThreshold !== undefined ? { snapshotThreshold: opts.snapshotThreshold } : {}),
        ...(opts.snapshotKeepEntries !== undefined ? { snapshotKeepEntries: opts.snapshotKeepEntries } : {}),
        ...(opts.logBytesMax !== undefined ? { logBytesMax: opts.logBytesMax } : {}),
        ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
        ...(opts.leaderBalance !== undefined ? { leaderBalance: opts.leaderBalance } : {}),
      });
      manager = new RaftManager(opts, ticks, logStore, transport, driver);
      await transport.start();
    } catch (err) {
      logStore.close();
      await transport.close().catch(() => undefined);
      throw err;
    }
    manager.timer = setInterval(() => manager.driver.tick(), ticks.tickMs);
    return manager;
  }

  get events(): EventEmitter<{ leaderChange: [LeaderChange] }> {
    return this.driver.events;
  }

  get stats(): ManagerStats {
    return this.driver.stats;
  }

  /** See RaftDriver.propose. */
  propose(groupId: number, command: Uint8Array, options: ProposeOptions = {}): Promise<unknown> {
    return this.driver.propose(groupId, command, options);
  }

  /** See RaftDriver.read. */
  read(groupId: number, options: ProposeOptions = {}): Promise<number> {
    return this.driver.read(groupId, options);
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
    this.logStore.setFsyncDelayMs(ms);
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
    this.logStore.close();
  }
}
