/**
 * LogWriter: raft.db written by a worker thread (log-worker.ts), so that its fsync does not block the event loop
 * that drives Raft. The main thread hands over each driver turn's writes (and each compaction) and is told when
 * they are durable; the driver treats such a write as one that completes later (DriverStorage.write's `done`), so
 * nothing that depends on it — acknowledgements, the leader's own match index, applying — happens before.
 *
 * Group commit: one batch is in flight at a time. Whatever is handed over meanwhile waits, and all of it leaves as
 * the next batch — one transaction, one fsync — the moment the batch in flight is durable. Ops keep their order,
 * and the worker validates each against the state the ops before it leave, as LogStore.write does.
 *
 * The store never serves reads here: the Raft core keeps every entry that is not yet durable in its unstable log
 * (and everything since the last compaction in memory), and recovery reads raft.db once, before the worker starts
 * (LogStore.open + load on the main thread, then closed). So the worker's connection keeps its exclusive lock.
 *
 * Failure: if a batch fails in the worker (an fsync or I/O error, an invalid write) or the thread dies, nothing
 * more is written and no `done` of that batch or a later one is ever called — an acknowledgement that waits for
 * one never leaves — and `onFatal` is called once with a LogWorkerError: the node must stop.
 */
import { Worker } from 'node:worker_threads';

import type { Entry, Snapshot } from '@kalam/raft';
import { assert } from '@kalam/raft';

import { LogWorkerError } from './errors.js';
import type { LogOp, WriteOp } from './log-store.js';
import { limits } from './limits.js';
import type { GroupWrite, LogStoreStats } from './types.js';

/** What the worker is started with. */
export interface WorkerData {
  readonly path: string;
  readonly groupIds: readonly number[];
  readonly fsyncDelayMs: number;
}

/**
 * A batch as it crosses to the worker: every entry's bytes are in `staging` (shared memory, not cloned) at
 * [offset, offset + length); the entry itself carries only its place there. See LogWriter.stage.
 */
export interface StagedBatch {
  readonly type: 'batch';
  readonly id: number;
  readonly staging: SharedArrayBuffer;
  readonly ops: readonly StagedOp[];
}

/** A LogOp whose write ops' entries left their `data` behind (compactions and snapshots travel as they are). */
export type StagedOp = Exclude<LogOp, WriteOp> | StagedWriteOp;

export interface StagedWriteOp {
  readonly type: 'write';
  readonly writes: readonly StagedGroupWrite[];
}

export interface StagedGroupWrite extends Omit<GroupWrite, 'entries'> {
  readonly entries: readonly StagedEntry[];
}

export interface StagedEntry extends Omit<Entry, 'data'> {
  readonly offset: number;
  readonly length: number;
}

export type WorkerRequest =
  | StagedBatch
  | { readonly type: 'fsyncDelay'; readonly ms: number }
  | { readonly type: 'fault'; readonly fault: LogWorkerFault }
  | { readonly type: 'close' };

/** An error in the worker, as it crosses the thread boundary (class and cause do not). */
export interface WorkerFailure {
  readonly name: string | null;
  readonly code: string | null;
  readonly message: string;
  readonly stack: string | null;
}

export type WorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly id: number; readonly transactionMs: number; readonly stats: LogStoreStats }
  | { readonly type: 'failed'; readonly id: number | null; readonly error: WorkerFailure }
  | { readonly type: 'closed' };

/** TEST ONLY: `io-error` fails the next batch as an fsync error would; `exit` ends the worker thread. */
export type LogWorkerFault = 'io-error' | 'exit';

export interface LogWriterOptions {
  /** raft.db (a file: the worker opens it with its own connection). */
  readonly path: string;
  readonly groupIds: readonly number[];
  readonly fsyncDelayMs?: number;
  /** Called once when the worker fails; no write handed over after or in flight then is ever reported durable. */
  readonly onFatal: (err: LogWorkerError) => void;
}

export interface LogWriterStats extends LogStoreStats {
  /** Batches sent to the worker (each one transaction when it had something to write). */
  readonly batches: number;
  /** Writes and compactions handed over; ops / batches is how much group commit merged. */
  readonly ops: number;
  /** Time the worker spent in its transactions (fsync included), in ms. */
  readonly transactionMsTotal: number;
}

interface Queued {
  readonly op: LogOp;
  readonly done: (() => void) | undefined;
}

export class LogWriter {
  private queue: Queued[] = [];
  private inFlight: { readonly id: number; readonly items: readonly Queued[] } | undefined;
  private nextId = 0;
  private failure: LogWorkerError | undefined;
  private closing = false;
  private store: LogStoreStats = { transactions: 0, entriesWritten: 0, bytesWritten: 0 };
  private batches = 0;
  private ops = 0;
  private transactionMsTotal = 0;
  /** Where the batch in flight's entry bytes are (see stage); shared with the worker, reused batch after batch. */
  private staging = new SharedArrayBuffer(limits.stagingBytesMin);
  /** Batches in a row whose entries fit in limits.stagingBytesMin (see fitStaging). */
  private smallBatches = 0;
  /** Resolves when nothing is queued or in flight (close waits on it). */
  private drained: (() => void) | undefined;
  private closed: (() => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly onFatal: (err: LogWorkerError) => void,
  ) {}

  /**
   * Starts the worker, which opens raft.db (the caller has closed its own connection: the lock is exclusive).
   * Rejects with LogWorkerError when the worker cannot open it within limits.workerStartMs.
   */
  static async start(opts: LogWriterOptions): Promise<LogWriter> {
    const data: WorkerData = { path: opts.path, groupIds: opts.groupIds, fsyncDelayMs: opts.fsyncDelayMs ?? 0 };
    const worker = new Worker(new URL('./log-worker.js', import.meta.url), { workerData: data });
    try {
      await waitReady(worker);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    const writer = new LogWriter(worker, opts.onFatal);
    worker.on('message', (r: WorkerReply) => writer.onReply(r));
    worker.on('error', (err) =>
      writer.fail(new LogWorkerError(`the log worker threw: ${err.message}`, null, err.name, { cause: err })),
    );
    worker.on('exit', (code) => {
      if (writer.closing && writer.failure === undefined) writer.closed?.();
      else writer.fail(new LogWorkerError(`the log worker exited (code ${code})`, null, null));
    });
    return writer;
  }

  /** Hands over one driver turn's writes; `done` is called once they are durable (never, if the worker fails). */
  write(writes: readonly GroupWrite[], done: () => void): void {
    this.enqueue({ op: { type: 'write', writes }, done });
  }

  /** Hands over a compaction (LogStore.compact); it is durable with the batch that carries it. */
  compact(groupId: number, snapshot: Snapshot, compactTo: number, compactToTerm: number): void {
    this.enqueue({ op: { type: 'compact', groupId, snapshot, compactTo, compactToTerm }, done: undefined });
  }

  /** Hands over a compaction without a snapshot (LogStore.compactLog); durable with the batch that carries it. */
  compactLog(groupId: number, compactTo: number, compactToTerm: number): void {
    this.enqueue({ op: { type: 'compactLog', groupId, compactTo, compactToTerm }, done: undefined });
  }

  /** The slow-disk fault, in the worker: its transactions take `ms` longer (the event loop is not blocked). */
  setFsyncDelayMs(ms: number): void {
    assert(
      Number.isFinite(ms) && ms >= 0 && ms <= limits.fsyncDelayMsMax,
      () => `fsync delay must be in [0, ${limits.fsyncDelayMsMax}] ms, got ${ms}`,
    );
    this.post({ type: 'fsyncDelay', ms });
  }

  /** TEST ONLY: makes the worker fail (see LogWorkerFault). */
  injectFault(fault: LogWorkerFault): void {
    this.post({ type: 'fault', fault });
  }

  stats(): LogWriterStats {
    return { ...this.store, batches: this.batches, ops: this.ops, transactionMsTotal: this.transactionMsTotal };
  }

  /** Ops handed over and not yet durable (queued or in flight). */
  pendingOps(): number {
    return this.queue.length + (this.inFlight?.items.length ?? 0);
  }

  /** The worker failed (onFatal was called). */
  failed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Waits (at most limits.workerCloseMs) until what was handed over is durable, then closes raft.db and ends the
   * worker. A failed worker is ended at once. Closing twice is allowed.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.failure === undefined && this.pendingOps() > 0) {
      await bounded(new Promise<void>((resolve) => (this.drained = resolve)), limits.workerCloseMs);
    }
    if (this.failure === undefined) {
      const exited = new Promise<void>((resolve) => (this.closed = resolve));
      this.post({ type: 'close' });
      if (await bounded(exited, limits.workerCloseMs)) return;
    }
    await this.worker.terminate();
  }

  // ---------------------------------------------------------------------------------------------------

  private enqueue(item: Queued): void {
    assert(!this.closing, 'the log writer is closed');
    if (this.failure !== undefined) return; // the node is stopping: nothing is written or reported any more
    this.queue.push(item);
    this.ops++;
    this.pump();
  }

  /** Sends everything queued as one batch, unless a batch is in flight (then it goes when that one is durable). */
  private pump(): void {
    if (this.inFlight !== undefined || this.failure !== undefined) return;
    if (this.queue.length === 0) {
      this.drained?.();
      return;
    }
    const items = this.queue;
    this.queue = [];
    const id = ++this.nextId;
    this.inFlight = { id, items };
    this.batches++;
    this.post(this.stage(id, items));
  }

  /**
   * Copies the entries' bytes of a batch into the staging buffer and returns the batch that points at them. The
   * worker reads them in place, so it allocates nothing per entry: cloned, every entry came to it as a new
   * ArrayBuffer, freed only when its small heap was next collected, and glibc kept ~40 MB of the worker's thread
   * arena under a bulk load (README, "What holds a node's memory"). They cannot be transferred instead: the Raft
   * log in memory keeps the same bytes. Reusing one buffer is safe because one batch is in flight at a time and the
   * next is staged only once the worker has answered this one, its transaction over and nothing of it kept.
   */
  private stage(id: number, items: readonly Queued[]): StagedBatch {
    let bytes = 0;
    for (const { op } of items) {
      if (op.type === 'write') for (const w of op.writes) for (const e of w.entries) bytes += e.data.byteLength;
    }
    this.fitStaging(bytes);
    const view = new Uint8Array(this.staging);
    let offset = 0;
    const stageEntry = (e: Entry): StagedEntry => {
      view.set(e.data, offset);
      const staged = { term: e.term, index: e.index, kind: e.kind, offset, length: e.data.byteLength };
      offset += e.data.byteLength;
      return staged;
    };
    const ops = items.map(({ op }): StagedOp => {
      if (op.type !== 'write') return op;
      return { type: 'write', writes: op.writes.map((w) => ({ ...w, entries: w.entries.map(stageEntry) })) };
    });
    return { type: 'batch', id, staging: this.staging, ops };
  }

  /**
   * Grows the staging buffer to hold `bytes` (to a power of two, so a load of growing batches reallocates it a few
   * times only), and gives a grown buffer back once limits.stagingShrinkBatches batches in a row fit in the smallest.
   */
  private fitStaging(bytes: number): void {
    this.smallBatches = bytes <= limits.stagingBytesMin ? this.smallBatches + 1 : 0;
    if (bytes > this.staging.byteLength) {
      this.staging = new SharedArrayBuffer(2 ** Math.ceil(Math.log2(bytes)));
    } else if (this.staging.byteLength > limits.stagingBytesMin && this.smallBatches >= limits.stagingShrinkBatches) {
      this.staging = new SharedArrayBuffer(limits.stagingBytesMin);
    }
  }

  private onReply(r: WorkerReply): void {
    switch (r.type) {
      case 'done': {
        const batch = this.inFlight;
        assert(batch !== undefined && batch.id === r.id, () => `the log worker answered batch ${r.id} out of turn`);
        if (this.failure !== undefined) return;
        this.inFlight = undefined;
        this.store = r.stats;
        this.transactionMsTotal += r.transactionMs;
        // The next batch leaves before the completions run: it is on the disk while the driver works.
        this.pump();
        for (const q of batch.items) q.done?.();
        return;
      }
      case 'failed': {
        const e = r.error;
        this.fail(
          new LogWorkerError(`the log worker failed: ${e.name ?? 'Error'}: ${e.message}`, e.code, e.name, {
            cause: e.stack ?? e.message,
          }),
        );
        return;
      }
      case 'closed':
      case 'ready':
        return;
    }
  }

  private fail(err: LogWorkerError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.queue = [];
    this.drained?.();
    if (this.closing) return;
    this.onFatal(err);
  }

  private post(req: WorkerRequest): void {
    if (this.failure === undefined) this.worker.postMessage(req);
  }
}

/** Resolves once the worker has opened raft.db; rejects with what it met otherwise, or after workerStartMs. */
function waitReady(worker: Worker): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => settle(new LogWorkerError(`the log worker did not open raft.db in ${limits.workerStartMs} ms`, null, null)),
      limits.workerStartMs,
    );
    const onMessage = (r: WorkerReply): void => {
      if (r.type === 'ready') settle(undefined);
      else if (r.type === 'failed') {
        settle(
          new LogWorkerError(`the log worker could not open raft.db: ${r.error.message}`, r.error.code, r.error.name),
        );
      }
    };
    const onError = (err: Error): void =>
      settle(new LogWorkerError(`the log worker threw: ${err.message}`, null, err.name, { cause: err }));
    const onExit = (code: number): void =>
      settle(new LogWorkerError(`the log worker exited (code ${code})`, null, null));
    const settle = (err: LogWorkerError | undefined): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (err === undefined) resolve();
      else reject(err);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** True when `p` settled within `ms`. */
async function bounded(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
