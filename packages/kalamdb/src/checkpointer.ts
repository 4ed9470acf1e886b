/**
 * data.db's WAL checkpoints, off the event loop (issue [M8] §3). SQLite checkpoints a WAL database from inside a
 * commit once the WAL passes 1,000 pages — on the thread that commits, the driver's. Usually that copies a few MiB;
 * but while a snapshot is built from a read view the checkpoint cannot pass the reader, the WAL grows with every
 * write meanwhile, and the first commit after the view closes copied all of it: 771 ms of the shard leader's event
 * loop at the end of a 1 GB catch-up (a `--cpu-prof` profile; elections followed). Here the main connection never
 * checkpoints (`wal_autocheckpoint = 0`); a worker thread with its own connection runs a PASSIVE checkpoint every
 * `intervalMs`, one at a time. Should the worker fail, the main connection checkpoints again as before.
 */
import { Worker } from 'node:worker_threads';
import type { Database as Db } from 'better-sqlite3';

import type { CheckpointReply, CheckpointWorkerData } from './checkpoint-worker.js';

/** SQLite's own default, restored on the main connection if the worker fails. */
const AUTOCHECKPOINT_PAGES = 1000;
const CHECKPOINT_INTERVAL_MS = 200;

export interface CheckpointerStats {
  /** WAL frames copied into the database file by the worker, over all its checkpoints. */
  framesCheckpointed: number;
  /** Why the worker stopped, if it failed (the main connection checkpoints again then). */
  failed: string | null;
}

export class WalCheckpointer {
  readonly stats: CheckpointerStats = { framesCheckpointed: 0, failed: null };
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;
  private ready = false;
  private inFlight = false;
  private closed = false;
  private waiters: (() => void)[] = [];

  constructor(
    path: string,
    private readonly db: Db,
    intervalMs = CHECKPOINT_INTERVAL_MS,
    private readonly onFailure?: (why: string) => void,
  ) {
    const data: CheckpointWorkerData = { path };
    this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: data });
    // Not the main connection's job any more; set before the worker exists, so no commit meanwhile checkpoints.
    db.pragma('wal_autocheckpoint = 0');
    this.worker.unref();
    this.worker.on('message', (m: CheckpointReply | 'ready') => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(`the checkpoint worker threw: ${err.message}`));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(`the checkpoint worker exited (${code})`);
    });
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
  }

  /** Resolves after the next checkpoint the worker completes (tests); at once when the worker has failed or closed. */
  checkpointed(): Promise<void> {
    if (this.closed || this.stats.failed !== null) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.worker.postMessage('close');
    this.release();
  }

  private kick(): void {
    if (!this.ready || this.inFlight || this.closed || this.stats.failed !== null) return;
    this.inFlight = true;
    this.worker.postMessage('checkpoint');
  }

  private onMessage(m: CheckpointReply | 'ready'): void {
    if (m === 'ready') {
      this.ready = true;
      return;
    }
    this.inFlight = false;
    if (!m.ok) {
      this.fail(`a checkpoint failed: ${m.error}`);
      return;
    }
    this.stats.framesCheckpointed += Math.max(0, m.checkpointed);
    this.release();
  }

  private fail(why: string): void {
    if (this.stats.failed !== null || this.closed) return;
    this.stats.failed = why;
    clearInterval(this.timer);
    // Back to SQLite's way: the main connection's commits checkpoint again.
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    void this.worker.terminate();
    this.onFailure?.(why);
    this.release();
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
