/**
 * RaftManager options and the timing defaults.
 *
 * Timing (DESIGN.md §6, issue targets): a 50 ms tick, heartbeats every 2 ticks (100 ms), elections after a
 * random 300–450 ms of silence. KalamDB used 100 ms / 300–500 ms, openraft 50 ms / 150–300 ms. Three missed
 * heartbeats before anyone campaigns keeps a loaded 2-core machine free of spurious elections; a SIGKILLed
 * leader is noticed sooner, when its links close (forgetLeader), so failover does not wait for the timeout.
 */
import type { NodeId, RaftLimits } from '@kalam/raft';
import type { TransportTls } from '@kalam/transport';
import type { RaftObserver } from './observer.js';
import type { StateMachine } from './state-machine.js';

export interface MemberAddress {
  readonly nodeId: NodeId;
  readonly host: string;
  readonly port: number;
}

export interface GroupSpec {
  readonly id: number;
  readonly name: string;
  readonly stateMachine: StateMachine;
}

export interface RaftTiming {
  readonly tickMs: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
}

export const DEFAULT_TIMING: RaftTiming = {
  tickMs: 100,
  heartbeatIntervalMs: 100,
  electionTimeoutMinMs: 300,
  electionTimeoutMaxMs: 500,
};

/**
 * Leader balance (balance.ts): every `intervalMs` a node that leads more than its share of the groups hands one or
 * a few over by leadership transfer. Off when absent or `intervalMs` is 0.
 */
export interface LeaderBalanceOptions {
  /** How often the node looks at the groups it leads, in ms; 0 turns the balancer off. */
  readonly intervalMs: number;
  /** Leaders a node may hold beyond its fair share, ⌈groups / live voters⌉, before it hands one over. */
  readonly tolerance: number;
  /** Balancing transfers one node runs at once; MULTIRAFT_LIMITS.balanceTransfersMax by default. */
  readonly transfersMax?: number;
  /**
   * The nodes being removed from the cluster (the membership's `leaving` state), asked each round: the balance gives
   * them no leadership and leaves them out of the share. Absent: none.
   */
  readonly leaving?: () => readonly NodeId[];
}

export interface RaftManagerOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly secret: string;
  /** Every member, this node included; the RPC address of this node is where it listens. */
  readonly members: readonly MemberAddress[];
  /**
   * The groups' founding voters: their configuration before any membership change, from which a log replayed from
   * index 1 rebuilds the one in force. Default: every member — right for the static members of a cluster that
   * never changed, wrong for a node that joined later (it would start as a voter).
   */
  readonly voters?: readonly NodeId[];
  readonly groups: readonly GroupSpec[];
  /** raft.db lives here. */
  readonly dataDir: string;
  readonly timing?: Partial<RaftTiming>;
  /** Entries applied since the last compaction before the log is compacted again. */
  readonly snapshotThreshold?: number;
  /** Entries kept behind a compaction for followers that are only a little behind. */
  readonly snapshotKeepEntries?: number;
  /** Bytes of log one group holds in memory before it is compacted (RaftDriver's logBytesMax). */
  readonly logBytesMax?: number;
  readonly limits?: Partial<RaftLimits>;
  /** Seeds the election-timeout randomness (default: from the node id and the clock). */
  readonly seed?: number;
  /** Leader balance; off when absent. */
  readonly leaderBalance?: LeaderBalanceOptions;
  readonly log?: (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void;
  /**
   * Who writes raft.db: 'worker' (default) — a worker thread, so the fsync does not block the event loop, and
   * writes handed over while one is in flight go together as the next transaction (group commit); 'sync' — the
   * event loop itself, durable when the call returns.
   */
  readonly logWrites?: 'worker' | 'sync';
  /**
   * The worker failed (an fsync error, the thread died): nothing more is written or acknowledged, and the node must
   * stop. Default: the error is thrown from a fresh call stack, as an uncaught exception (a node process exits on
   * it: serve.ts's node.fatal). Tests pass their own.
   */
  readonly onStorageFatal?: (err: Error) => void;
  /** RaftDriver's applyScope: the turn's applies as one unit (one data.db transaction); absent, one per group. */
  readonly applyScope?: (applies: () => void) => void;
  /** A peer refused this node's handshake because it was removed from the cluster (transport `onRemoved`). */
  readonly onRemoved?: (by: NodeId) => void;
  /** This node's API URL, told by the RPC port to plain HTTP requests (a join pointed at an RPC address). */
  readonly apiUrl?: string;
  /** Told of each log write's and apply batch's time and each proposal's outcome (the node's metrics); optional. */
  readonly observer?: RaftObserver;
  /** Where the transport listens (`[cluster.raft] rpc_bind`); default: this node's member address. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** TLS for the transport (TransportOptions.tls); absent: plain ws. */
  readonly tls?: TransportTls;
}

export interface ResolvedTicks {
  readonly tickMs: number;
  readonly heartbeatTick: number;
  readonly electionTick: number;
  readonly electionTickMax: number;
}

/** Turns millisecond timing into the core's ticks; every bad combination is a RangeError naming the key. */
export function resolveTiming(partial: Partial<RaftTiming> | undefined): ResolvedTicks {
  const t: RaftTiming = { ...DEFAULT_TIMING, ...partial };
  const positive = (key: keyof RaftTiming): void => {
    if (!Number.isInteger(t[key]) || t[key] <= 0)
      throw new RangeError(`${key} must be a positive integer, got ${t[key]}`);
  };
  positive('tickMs');
  positive('heartbeatIntervalMs');
  positive('electionTimeoutMinMs');
  positive('electionTimeoutMaxMs');
  if (t.heartbeatIntervalMs < t.tickMs) throw new RangeError('heartbeatIntervalMs must be at least tickMs');
  if (t.electionTimeoutMinMs <= t.heartbeatIntervalMs) {
    throw new RangeError('electionTimeoutMinMs must exceed heartbeatIntervalMs');
  }
  if (t.electionTimeoutMaxMs <= t.electionTimeoutMinMs) {
    throw new RangeError('electionTimeoutMaxMs must exceed electionTimeoutMinMs');
  }
  const heartbeatTick = Math.max(1, Math.round(t.heartbeatIntervalMs / t.tickMs));
  const electionTick = Math.max(heartbeatTick + 1, Math.round(t.electionTimeoutMinMs / t.tickMs));
  const electionTickMax = Math.max(electionTick + 1, Math.round(t.electionTimeoutMaxMs / t.tickMs));
  return { tickMs: t.tickMs, heartbeatTick, electionTick, electionTickMax };
}
