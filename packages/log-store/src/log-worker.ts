/**
 * The log worker thread (started by LogWriter, log-writer.ts): it owns raft.db's only connection while the node
 * runs and performs each batch the main thread sends — one LogStore.writeBatch, one transaction, one fsync — then
 * answers. The fsync blocks this thread instead of the event loop that drives Raft.
 *
 * It answers a batch only after its transaction has committed. After any failure it answers nothing more: what
 * was in flight is not known to be durable, and the main thread stops the node.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { AssertionError } from '@kalam/raft';

import { LogStoreError } from './errors.js';
import { LogStore } from './log-store.js';
import type { LogOp } from './log-store.js';
import type { StagedBatch, WorkerData, WorkerReply, WorkerRequest, WorkerFailure } from './log-writer.js';

const port = parentPort;
if (port === null) throw new Error('log-worker.js runs only as a worker thread');
const data = workerData as WorkerData;

function describe(err: unknown): WorkerFailure {
  if (err instanceof Error) {
    const code = err instanceof LogStoreError ? err.code : err instanceof AssertionError ? 'ASSERTION' : null;
    return { name: err.name, code, message: err.message, stack: err.stack ?? null };
  }
  return { name: null, code: null, message: String(err), stack: null };
}

function reply(r: WorkerReply): void {
  port!.postMessage(r);
}

/**
 * The batch's ops with each entry's bytes as a view of the shared staging buffer (no copy): LogWriter does not touch
 * the buffer again before this batch is answered, and nothing of the batch outlives its transaction here.
 */
function unstage(batch: StagedBatch): LogOp[] {
  return batch.ops.map((op): LogOp => {
    if (op.type !== 'write') return op;
    const writes = op.writes.map((w) => ({
      ...w,
      entries: w.entries.map((e) => ({
        term: e.term,
        index: e.index,
        kind: e.kind,
        data: new Uint8Array(batch.staging, e.offset, e.length),
      })),
    }));
    return { type: 'write', writes };
  });
}

let store: LogStore | undefined;
let failed = false;
/** TEST ONLY: the next batch fails as an fsync error would (LogWriter.injectFault). */
let failNextBatch = false;

try {
  store = LogStore.open({ path: data.path, groupIds: data.groupIds, fsyncDelayMs: data.fsyncDelayMs });
  reply({ type: 'ready' });
} catch (err) {
  failed = true;
  reply({ type: 'failed', id: null, error: describe(err) });
}

port.on('message', (req: WorkerRequest) => {
  if (failed || store === undefined) return;
  switch (req.type) {
    case 'batch': {
      const startedAt = performance.now();
      try {
        if (failNextBatch) throw new Error('injected failure of the log write (as an fsync error, EIO)');
        store.writeBatch(unstage(req));
      } catch (err) {
        failed = true;
        reply({ type: 'failed', id: req.id, error: describe(err) });
        return;
      }
      reply({ type: 'done', id: req.id, transactionMs: performance.now() - startedAt, stats: store.stats() });
      return;
    }
    case 'fsyncDelay':
      store.setFsyncDelayMs(req.ms);
      return;
    case 'fault':
      if (req.fault === 'io-error') failNextBatch = true;
      else process.exit(70); // in a worker this ends the thread only: "the worker died"
      return;
    case 'close':
      store.close();
      reply({ type: 'closed' });
      port.close();
      return;
  }
});
