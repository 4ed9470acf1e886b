/**
 * What the node's durable log writes cost: how many the driver asked for, how many SQLite transactions (fsyncs)
 * carried them, and how long a write took from the driver's call until it was durable. These are the figures that
 * say whether raft.db's fsync bounds a node's throughput (issue [M8]): writes per second, the time of one, and —
 * beside the client's operation count — durable writes per operation.
 *
 * Counters are cumulative since the node started (a benchmark takes the difference over its window); the mean and
 * the 99th percentile cover the last MULTIRAFT_LIMITS.logWriteWindow writes (a ring buffer).
 */
import { MULTIRAFT_LIMITS } from './limits.js';

export interface LogWriteStats {
  /** Writes the driver handed to its storage (one per Ready round that had something to make durable). */
  readonly writes: number;
  /** SQLite transactions that carried them (each one fsync); fewer than writes + compactions when batched. */
  readonly transactions: number;
  /** Compactions (our own snapshots) handed to the storage. */
  readonly compactions: number;
  /** Sum of the time from the driver's call to durable, over all writes, in ms. */
  readonly writeMsTotal: number;
  /** Over the window: writes it covers, mean, 99th percentile and maximum of one write's time, in ms. */
  readonly windowWrites: number;
  readonly writeMsMean: number;
  readonly writeMsP99: number;
  readonly writeMsMax: number;
}

export class LogWriteRecorder {
  private readonly window: Float64Array;
  private next = 0;
  private count = 0;
  private writes = 0;
  private compactions = 0;
  private writeMsTotal = 0;

  constructor(private readonly windowWrites: number = MULTIRAFT_LIMITS.logWriteWindow) {
    this.window = new Float64Array(windowWrites);
  }

  /** One driver write became durable `ms` after it was handed over. */
  written(ms: number): void {
    this.writes++;
    this.writeMsTotal += ms;
    this.window[this.next] = ms;
    this.next = (this.next + 1) % this.windowWrites;
    this.count = Math.min(this.count + 1, this.windowWrites);
  }

  compacted(): void {
    this.compactions++;
  }

  /** `transactions`: the storage's own count of committed transactions. */
  snapshot(transactions: number): LogWriteStats {
    const xs = Array.from(this.window.subarray(0, this.count)).sort((a, b) => a - b);
    const sum = xs.reduce((a, b) => a + b, 0);
    return {
      writes: this.writes,
      transactions,
      compactions: this.compactions,
      writeMsTotal: round(this.writeMsTotal),
      windowWrites: xs.length,
      writeMsMean: xs.length === 0 ? 0 : round(sum / xs.length),
      writeMsP99: round(xs[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))] ?? 0),
      writeMsMax: round(xs[xs.length - 1] ?? 0),
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
