/**
 * How late the driver's timer fires and how long its turns take: the figure that says whether Raft's clock is
 * kept. Every group's election clock advances only when the timer fires, so a tick that fires late by more than
 * a heartbeat interval is a heartbeat that left late; a follower that misses heartbeats for its election timeout
 * campaigns. A stalled turn (a long apply, a big write, a request computing on the same event loop) shows up
 * here as lateness of the next tick.
 *
 * Lateness of one tick = (time since the previous tick fired) − tickMs, never negative. The figures cover the
 * last `windowTicks` ticks (a ring buffer) and, for the maximum, the whole life of the node too.
 */
import { MULTIRAFT_LIMITS } from './limits.js';

/** What a node reports about its driver's timing (RaftManager.driverTiming()). */
export interface DriverTiming {
  /** Ticks the window figures cover (at most MULTIRAFT_LIMITS.timingWindowTicks). */
  readonly windowTicks: number;
  /** Worst and 99th-percentile lateness of a tick in the window, in ms. */
  readonly tickLateMsMax: number;
  readonly tickLateMsP99: number;
  /** Ticks in the window late by at least one heartbeat interval (a heartbeat left late). */
  readonly ticksLateOverHeartbeat: number;
  /** Worst lateness since the node started, in ms. */
  readonly tickLateMsMaxEver: number;
  /** Longest driver turn in the window, and the longest apply and log write inside one turn, in ms. */
  readonly turnMsMax: number;
  readonly applyMsMax: number;
  readonly persistMsMax: number;
}

/** A window of per-tick samples: lateness and the heaviest turn work seen since the previous tick. */
export class DriverTimingRecorder {
  private readonly late: Float64Array;
  private readonly turn: Float64Array;
  private readonly apply: Float64Array;
  private readonly persist: Float64Array;
  private next = 0;
  private count = 0;
  private lastTickAtMs: number | undefined;
  private lateMaxEver = 0;
  /** The heaviest turn work since the last tick, folded into the tick's slot when it fires. */
  private pendingTurnMs = 0;
  private pendingApplyMs = 0;
  private pendingPersistMs = 0;

  constructor(
    private readonly tickMs: number,
    private readonly heartbeatMs: number,
    private readonly windowTicks: number = MULTIRAFT_LIMITS.timingWindowTicks,
  ) {
    this.late = new Float64Array(windowTicks);
    this.turn = new Float64Array(windowTicks);
    this.apply = new Float64Array(windowTicks);
    this.persist = new Float64Array(windowTicks);
  }

  /** The timer fired at `nowMs` (a monotonic clock). */
  tick(nowMs: number): void {
    const previous = this.lastTickAtMs;
    this.lastTickAtMs = nowMs;
    if (previous === undefined) return;
    const lateMs = Math.max(0, nowMs - previous - this.tickMs);
    this.lateMaxEver = Math.max(this.lateMaxEver, lateMs);
    this.late[this.next] = lateMs;
    this.turn[this.next] = this.pendingTurnMs;
    this.apply[this.next] = this.pendingApplyMs;
    this.persist[this.next] = this.pendingPersistMs;
    this.pendingTurnMs = 0;
    this.pendingApplyMs = 0;
    this.pendingPersistMs = 0;
    this.next = (this.next + 1) % this.windowTicks;
    this.count = Math.min(this.count + 1, this.windowTicks);
  }

  /** One driver turn took `turnMs`, of which `applyMs` applying and `persistMs` writing the log. */
  turnDone(turnMs: number, applyMs: number, persistMs: number): void {
    this.pendingTurnMs = Math.max(this.pendingTurnMs, turnMs);
    this.pendingApplyMs = Math.max(this.pendingApplyMs, applyMs);
    this.pendingPersistMs = Math.max(this.pendingPersistMs, persistMs);
  }

  snapshot(): DriverTiming {
    const late = Array.from(this.late.subarray(0, this.count)).sort((a, b) => a - b);
    const max = (xs: Float64Array): number => round(Math.max(0, ...xs.subarray(0, this.count)));
    const p99 = late.length === 0 ? 0 : (late[Math.min(late.length - 1, Math.floor(0.99 * late.length))] ?? 0);
    return {
      windowTicks: this.count,
      tickLateMsMax: round(late[late.length - 1] ?? 0),
      tickLateMsP99: round(p99),
      ticksLateOverHeartbeat: late.filter((x) => x >= this.heartbeatMs).length,
      tickLateMsMaxEver: round(this.lateMaxEver),
      turnMsMax: max(this.turn),
      applyMsMax: max(this.apply),
      persistMsMax: max(this.persist),
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
