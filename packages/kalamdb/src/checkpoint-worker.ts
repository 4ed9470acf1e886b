/**
 * The thread that checkpoints data.db's WAL for a node (checkpointer.ts): its own connection, one PASSIVE checkpoint
 * per message, the result posted back. PASSIVE never waits for a reader or a writer: it copies what no reader still
 * needs and leaves the rest for the next one. Under synchronous=NORMAL SQLite syncs the WAL before it copies and the
 * database file after, before the WAL may be reused — the durability data.db's sync() relies on holds as with the
 * main connection's own checkpoints.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointWorkerData {
  readonly path: string;
}

export type CheckpointReply =
  | { readonly ok: true; readonly busy: number; readonly log: number; readonly checkpointed: number }
  | { readonly ok: false; readonly error: string };

const port = parentPort;
if (port !== null) {
  const { path } = workerData as CheckpointWorkerData;
  const db = new Database(path, { fileMustExist: true });
  db.pragma('synchronous = NORMAL');
  // Never the checkpointer of its own commits (it makes none), and never waiting on a lock: PASSIVE.
  db.pragma('wal_autocheckpoint = 0');
  port.on('message', (m: unknown) => {
    if (m === 'close') {
      db.close();
      port.close();
      return;
    }
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      port.postMessage({ ok: true, busy: r?.busy ?? 0, log: r?.log ?? 0, checkpointed: r?.checkpointed ?? 0 });
    } catch (err) {
      port.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
  port.postMessage('ready');
}
