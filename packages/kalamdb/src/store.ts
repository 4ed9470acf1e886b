/**
 * data.db: the state of every group of one node in one SQLite file (WAL, synchronous=NORMAL — the Raft log
 * in raft.db is the durable record; data.db is rebuilt from it and from snapshots). Each group's last
 * applied index lives in `group_applied`, written in the same transaction as the data it covers, so a
 * replay after a crash skips what was already applied (idempotent apply).
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';

import { WalCheckpointer } from './checkpointer.js';
import { PhysicalTables } from './physical.js';

const SCHEMA = [
  // One row rewritten by sync() (a commit under synchronous=FULL, which fsyncs the WAL).
  `CREATE TABLE IF NOT EXISTS sync_mark (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS group_applied (group_id INTEGER PRIMARY KEY, applied_index INTEGER NOT NULL, applied_term INTEGER NOT NULL)`,
  // A snapshot install under way, from its first piece to its last (state/base.ts installer): set, the group's state
  // is part old, part new, and the node installs the snapshot again at boot.
  `CREATE TABLE IF NOT EXISTS group_installing (group_id INTEGER PRIMARY KEY, snapshot_index INTEGER NOT NULL,
     snapshot_term INTEGER NOT NULL, snapshot_crc TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sys_namespaces (namespace_id TEXT PRIMARY KEY, created_by TEXT, created_at INTEGER NOT NULL)`,
  // meta:system's catalog keeps every incarnation of a table, dropped ones too (dropped_index: the DropTable entry),
  // and every schema version with the entry that made it, so a data group can read the catalog as of any index.
  `CREATE TABLE IF NOT EXISTS sys_tables (table_id TEXT NOT NULL, incarnation INTEGER NOT NULL, namespace_id TEXT NOT NULL,
     table_name TEXT NOT NULL, table_type TEXT NOT NULL, schema_json TEXT NOT NULL, version INTEGER NOT NULL,
     created_at INTEGER NOT NULL, dropped_index INTEGER, PRIMARY KEY (table_id, incarnation))`,
  `CREATE UNIQUE INDEX IF NOT EXISTS sys_tables_live ON sys_tables (table_id) WHERE dropped_index IS NULL`,
  `CREATE INDEX IF NOT EXISTS sys_tables_dropped ON sys_tables (dropped_index) WHERE dropped_index IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS sys_table_versions (table_id TEXT NOT NULL, incarnation INTEGER NOT NULL,
     version INTEGER NOT NULL, from_index INTEGER NOT NULL, schema_json TEXT NOT NULL,
     PRIMARY KEY (table_id, incarnation, version))`,
  `CREATE INDEX IF NOT EXISTS sys_table_versions_from ON sys_table_versions (from_index)`,
  // Each data group's meta horizon (the highest metaIndex it applied) and its view of the catalog as of it.
  `CREATE TABLE IF NOT EXISTS group_horizon (group_id INTEGER PRIMARY KEY, meta_horizon INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS group_tables (group_id INTEGER NOT NULL, table_id TEXT NOT NULL, incarnation INTEGER NOT NULL,
     table_type TEXT NOT NULL, version INTEGER NOT NULL, schema_json TEXT NOT NULL, PRIMARY KEY (group_id, table_id))`,
  `CREATE TABLE IF NOT EXISTS sys_storages (storage_id TEXT PRIMARY KEY, config_json TEXT NOT NULL)`,
  // meta:system's member list (system.cluster_nodes). Rows are never deleted: a removed node keeps its row, so the
  // largest id ever given out is MAX(node_id) and ids are never reused.
  `CREATE TABLE IF NOT EXISTS sys_cluster_nodes (node_id INTEGER PRIMARY KEY, rpc_addr TEXT NOT NULL, api_addr TEXT NOT NULL,
     state TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sys_users (user_id TEXT PRIMARY KEY, username TEXT NOT NULL, password_hash TEXT NOT NULL,
     role TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER, locked_until INTEGER,
     last_login_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS sys_jobs (job_id TEXT PRIMARY KEY, job_type TEXT NOT NULL, namespace_id TEXT, table_name TEXT,
     config_json TEXT, status TEXT NOT NULL, node_id INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     claimed_at INTEGER, completed_at INTEGER, result TEXT, error_message TEXT)`,
  // A name is unique among live users; a dropped user keeps its row (and its name) for the record.
  `CREATE UNIQUE INDEX IF NOT EXISTS sys_users_live_name ON sys_users (username) WHERE deleted_at IS NULL`,
  `CREATE INDEX IF NOT EXISTS sys_jobs_status ON sys_jobs (status)`,
  `CREATE TABLE IF NOT EXISTS sys_schedules (schedule_id TEXT PRIMARY KEY, job_type TEXT NOT NULL, cron_expression TEXT NOT NULL,
     config_json TEXT, created_at INTEGER NOT NULL)`,
  // Client sessions of each data group (state/sessions.ts): the sessions, their remembered answers, the group's
  // session clock (the largest `at` applied) and each user's horizon (the newest created_ms of their sessions dropped).
  `CREATE TABLE IF NOT EXISTS client_sessions (group_id INTEGER NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL,
     created_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, acked INTEGER NOT NULL,
     PRIMARY KEY (group_id, user_id, client_id))`,
  `CREATE INDEX IF NOT EXISTS client_sessions_idle ON client_sessions (group_id, last_ms, user_id, client_id)`,
  `CREATE TABLE IF NOT EXISTS client_answers (group_id INTEGER NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL,
     seq INTEGER NOT NULL, answer_json TEXT NOT NULL, PRIMARY KEY (group_id, user_id, client_id, seq))`,
  // session_count: the rows of client_sessions of the group, kept here so that the bound costs no count per apply.
  `CREATE TABLE IF NOT EXISTS client_session_clock (group_id INTEGER PRIMARY KEY, clock_ms INTEGER NOT NULL,
     session_count INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS client_session_horizons (group_id INTEGER NOT NULL, user_id TEXT NOT NULL,
     horizon_ms INTEGER NOT NULL, PRIMARY KEY (group_id, user_id))`,
  `CREATE TABLE IF NOT EXISTS sys_live_queries (subscription_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, shard INTEGER NOT NULL,
     query_hash TEXT NOT NULL, table_id TEXT NOT NULL, filter_json TEXT, node_id INTEGER NOT NULL, created_at INTEGER NOT NULL,
     last_ping_at INTEGER NOT NULL)`,
];

/**
 * The layout of data.db this code reads and writes (`PRAGMA user_version`). Format 1 (before table incarnations) is
 * refused at open with what to do about it.
 */
export const DATA_FORMAT_VERSION = 2;

export class DataFormatError extends Error {
  override readonly name = 'DataFormatError';
  readonly code = 'DATA_FORMAT';
}

/** The "path" of a store opened from serialized bytes (the simulator's data.db images). */
const IMAGE = '(image)';

/** How many compiled statements a store keeps (per-table SQL makes the set grow with the tables). */
const STATEMENTS_CACHED_MAX = 2_000;

/**
 * data.db's page cache per connection, KiB (`PRAGMA cache_size = -N`). better-sqlite3 builds SQLite with 16 MiB, which
 * a bulk load fills and keeps for the life of the node (issue [M8] §3); data.db is read through its own indexes and
 * the file stays in the operating system's cache, so SQLite's own default of 2 MiB serves as well.
 */
const PAGE_CACHE_KIB = 2_048;

export class DataStore {
  readonly db: Db;
  private readonly getApplied;
  private readonly setApplied;
  private readonly bumpSyncMark;
  /** Something was applied since the last sync(). */
  private unsynced = true;
  /** Called after each sync() that wrote (the simulator keeps an image of data.db as durable then). */
  onSync: (() => void) | undefined;
  /**
   * Applied indexes as committed, so that the driver's per-turn look at every group's applied index costs no
   * query. Values written inside `transaction()` wait in `pendingApplied` until the outermost one commits; any
   * throw inside a transaction forgets both maps (the next read asks SQLite again).
   */
  private readonly appliedCache = new Map<number, number>();
  private readonly pendingApplied = new Map<number, number>();
  private depth = 0;
  /** Compiled statements by SQL text (better-sqlite3 compiles on every prepare); bounded, oldest dropped first. */
  private readonly statements = new Map<string, Statement>();

  /** Which physical tables exist (node-local; physical.ts). */
  readonly physical: PhysicalTables;
  /** The WAL's checkpointer when it runs on a worker thread (DataStoreOptions.checkpointer). */
  checkpointer: WalCheckpointer | undefined;

  private constructor(
    db: Db,
    private readonly path: string,
  ) {
    this.db = db;
    checkFormat(db, path);
    for (const sql of SCHEMA) db.exec(sql);
    db.pragma(`user_version = ${DATA_FORMAT_VERSION}`);
    this.physical = new PhysicalTables(db);
    this.getApplied = db.prepare<[number], { applied_index: number; applied_term: number }>(
      'SELECT applied_index, applied_term FROM group_applied WHERE group_id = ?',
    );
    this.bumpSyncMark = db.prepare(
      'INSERT INTO sync_mark (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1',
    );
    this.setApplied = db.prepare<[number, number, number]>(
      'INSERT INTO group_applied (group_id, applied_index, applied_term) VALUES (?, ?, ?) ' +
        'ON CONFLICT (group_id) DO UPDATE SET applied_index = excluded.applied_index, applied_term = excluded.applied_term',
    );
  }

  /**
   * Opens (or creates) data.db at `path`; ':memory:' for tests and the standalone benchmark, or the bytes of a
   * serialized database (the simulator's image of data.db as durable at its last sync).
   */
  static open(path: string | Buffer, options: DataStoreOptions = {}): DataStore {
    const db = new Database(path);
    const file = typeof path === 'string' && path !== ':memory:';
    if (file) {
      db.pragma('journal_mode = WAL');
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    }
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = OFF');
    const store = new DataStore(db, typeof path === 'string' ? path : IMAGE);
    const c = options.checkpointer;
    if (file && c !== undefined) store.checkpointer = new WalCheckpointer(path, db, c.intervalMs, c.onFailure);
    return store;
  }

  appliedIndex(groupId: number): number {
    const pending = this.pendingApplied.get(groupId);
    if (pending !== undefined) return pending;
    const cached = this.appliedCache.get(groupId);
    if (cached !== undefined) return cached;
    const stored = this.getApplied.get(groupId)?.applied_index ?? 0;
    // A value read inside a transaction nobody here tracks might still roll back: not cached.
    if (!this.db.inTransaction) this.appliedCache.set(groupId, stored);
    return stored;
  }

  markApplied(groupId: number, index: number, term: number): void {
    this.setApplied.run(groupId, index, term);
    this.unsynced = true;
    if (this.depth > 0) this.pendingApplied.set(groupId, index);
    else if (this.db.inTransaction) this.appliedCache.delete(groupId);
    else this.appliedCache.set(groupId, index);
  }

  /**
   * A read-only connection on data.db, for reads beside the main connection's applies (a snapshot built from a
   * read view in slices); undefined for a store in memory, which no second connection can see. The caller closes it.
   */
  openReader(): Db | undefined {
    if (this.path === ':memory:' || this.path === IMAGE) return undefined;
    const reader = new Database(this.path, { readonly: true, fileMustExist: true });
    reader.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    return reader;
  }

  /**
   * Makes every committed transaction durable: the Raft log is compacted up to the applied indexes as of a sync
   * (data.db IS the snapshot of the compacted entries). Under synchronous=NORMAL a WAL commit is not fsynced; one
   * commit under synchronous=FULL fsyncs the WAL, and with it every frame appended before (the WAL is one
   * append-only file, and a checkpoint that restarts it syncs the database file first). One small write and one
   * fsync — cheaper than a checkpoint, which copies pages, and never blocked by a reader. A no-op when nothing was
   * applied since the last one, so every group of the node can ask after the same turn for one fsync.
   */
  sync(): void {
    if (!this.unsynced) return;
    if (this.db.inTransaction) throw new Error('data.db: sync() inside a transaction');
    this.db.pragma('synchronous = FULL');
    try {
      this.bumpSyncMark.run();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
    this.unsynced = false;
    this.onSync?.();
  }

  /**
   * `db.prepare`, compiled once per SQL text. The state machines and readers only call `get`, `all` and `run`
   * (never `iterate`, `pluck` or `raw`), so one statement object can serve every caller. A statement whose table
   * was dropped fails as a fresh prepare would.
   */
  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): Statement<P, R> {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (this.statements.size >= STATEMENTS_CACHED_MAX) {
        const oldest = this.statements.keys().next().value;
        if (oldest !== undefined) this.statements.delete(oldest);
      }
      this.statements.set(sql, stmt);
    }
    return stmt as unknown as Statement<P, R>;
  }

  /** Runs `fn` in one transaction (a savepoint when nested). */
  transaction<T>(fn: () => T): T {
    this.depth++;
    let result: T;
    try {
      result = this.db.transaction(fn)();
    } catch (err) {
      this.rolledBack();
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0) {
      for (const [groupId, index] of this.pendingApplied) this.appliedCache.set(groupId, index);
      this.pendingApplied.clear();
    }
    return result;
  }

  /** A transaction or savepoint rolled back: forget every cache that may hold what it wrote. */
  rolledBack(): void {
    this.pendingApplied.clear();
    this.appliedCache.clear();
    this.physical.forget();
  }

  close(): void {
    this.checkpointer?.close();
    this.db.close();
  }
}

export interface DataStoreOptions {
  /**
   * Checkpoint the WAL on a worker thread (checkpointer.ts) instead of inside the main connection's commits: a node's
   * data.db. Ignored for a store in memory.
   */
  readonly checkpointer?: { readonly intervalMs?: number; readonly onFailure?: (why: string) => void };
}

/** Refuses a data.db of another format: one written by Kalam before table incarnations has tables but version 0. */
function checkFormat(db: Db, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === DATA_FORMAT_VERSION) return;
  const tables = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
  if (version === 0 && tables.n === 0) return; // a new file
  throw new DataFormatError(
    `${path} has data format ${version === 0 ? 1 : version}; this Kalam reads format ${DATA_FORMAT_VERSION}. ` +
      "Remove the node's data folder and let it rejoin its cluster (kalam node wipe N), or start a new cluster.",
  );
}
