/**
 * ColdStore: the flushed ("cold") part of every table on this node — Parquet files on disk, their manifest in
 * data.db (`cold_files`, written in the same transaction as the command that made them) and in memory, and a bounded
 * cache of decoded rows.
 *
 * Layout: a table incarnation's files live under `<data_dir>/storage/<namespace>/<table>/<incarnation>/` — or `<path>/<namespace>/<table>/<incarnation>/`
 * when the table names a storage (STORAGE_ID; a relative path is taken under data_dir, an absolute one gets a
 * `node-<id>/` folder so nodes sharing a disk never share files) — in `shared/` for SHARED
 * tables and in `users/<url-encoded user id>/` for USER and STREAM tables: one folder per user. File names are
 * chosen by the proposer (`f-<minSeq>-<maxSeq>.parquet` for a flush, `c-…` for a compaction), so every replica
 * writes the same name; the content is a pure function of the rows (parquet.ts), so every replica writes the same
 * bytes from its own identical rows. Nodes never share or copy files.
 *
 * What is in memory: only the manifest (each file's name, folder, row count, seq range, columns) per (table, scope),
 * loaded from data.db at startup; `load()` checks that every file it names exists but decodes none. A file's rows are
 * read when something needs them — a read, a point read, an UPDATE/DELETE, a rewrite, a snapshot dump — and kept in
 * a cache bounded by a count of rows (COLD_LIMITS.cachedRowsMax, least recently used out first), together with the
 * merged latest versions of recently read (table, scope)s. A state machine applies synchronously, so the read is too:
 * `readFileSync` and parquet.ts's synchronous decode. A flush or a rewrite puts the rows it has just written into the
 * cache, so reading them right after costs no decode. The files are the durable copy; the cache only saves decodes.
 *
 * Crash safety: a file is written (tmp, fsync, rename) before the transaction that names it commits — a replay
 * rewrites the same bytes; a file is deleted only after the transaction that dropped it committed (`afterCommit`).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

import { Catalog } from '../catalog.js';
import type { Value } from '../commands.js';
import type { DataStore } from '../store.js';
import { splitTableId } from '../tables.js';
import type { TableRef } from '../tables.js';
import { RowCache } from './cache.js';
import { COLD_LIMITS } from './limits.js';
import { makeDirs, probeDir } from './paths.js';
import { decodeParquet, encodeParquet } from './parquet.js';
import type { ColdColumn, ColdRow } from './parquet.js';

/** The scope of a file: a user's id for USER/STREAM tables, '' for SHARED tables. */
export type ColdScope = string;

/** One file as the manifest records it. */
export interface ColdFile {
  readonly fileName: string;
  readonly rowCount: number;
  readonly minSeq: number;
  readonly maxSeq: number;
  readonly columns: readonly ColdColumn[];
  readonly createdAt: number;
}

/** A file with its rows: what a flush or a rewrite writes and what a snapshot carries. */
export interface ColdFileWithRows extends ColdFile {
  readonly rows: readonly ColdRow[];
}

/**
 * One (table incarnation, scope)'s files, for a shard snapshot's state record: the manifest only (snapshot format 4:
 * the rows follow in records of their own, a page at a time), or with each file's rows (format 3).
 */
export interface ColdScopeDump {
  readonly tableId: string;
  readonly incarnation: number;
  readonly scope: ColdScope;
  readonly files: readonly (ColdFile | ColdFileWithRows)[];
}

/** A file of a shard snapshot, by its place in the state record's dump (scope, then file), and where it lies here. */
export interface ColdSnapshotFile {
  readonly scope: number;
  readonly file: number;
  readonly table: TableRef;
  readonly scopeKey: ColdScope;
  readonly manifest: ColdFile;
  readonly path: string;
}

export class ColdStoreError extends Error {
  override readonly name = 'ColdStoreError';
  readonly code = 'COLD_STORE';
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS cold_files (table_id TEXT NOT NULL, incarnation INTEGER NOT NULL,
  scope TEXT NOT NULL, file_name TEXT NOT NULL, group_id INTEGER NOT NULL, ordinal INTEGER NOT NULL,
  row_count INTEGER NOT NULL, min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL, columns_json TEXT NOT NULL,
  created_at INTEGER NOT NULL, dir TEXT NOT NULL, PRIMARY KEY (table_id, incarnation, scope, file_name))`;

interface ManifestRow {
  table_id: string;
  incarnation: number;
  scope: string;
  file_name: string;
  group_id: number;
  ordinal: number;
  row_count: number;
  min_seq: number;
  max_seq: number;
  columns_json: string;
  created_at: number;
  dir: string;
}

function tableKey(t: TableRef): string {
  return `${t.tableId}\u0000${t.incarnation}`;
}

function keyOf(t: TableRef, scope: ColdScope): string {
  return `${tableKey(t)}\u0000${scope}`;
}

function latestKey(t: TableRef, scope: ColdScope): string {
  return `latest:${keyOf(t, scope)}`;
}

function fileKey(t: TableRef, scope: ColdScope, fileName: string): string {
  return `${keyOf(t, scope)}\u0000${fileName}`;
}

export class ColdStore {
  /** (incarnation, scope) → the manifest of its files in the order they were written (later files hold later versions). */
  private readonly files = new Map<string, { readonly table: TableRef; readonly scope: ColdScope; list: ColdFile[] }>();
  /**
   * Decoded rows, bounded by rows: `file:<path>` → a file's rows; `latest:<incarnation, scope>` → primary key (JSON) →
   * latest version among the scope's files (dropped whenever the scope's files change).
   */
  private readonly cache: RowCache<readonly ColdRow[] | ReadonlyMap<string, ColdRow>>;
  private readonly pendingDeletes = new Set<string>();
  /**
   * Files a snapshot being built still reads (path → how many builds), and those of them dropped meanwhile: deleted
   * when the last build lets go, so a compaction committed during a build never pulls a file from under it.
   */
  private readonly pins = new Map<string, number>();
  private readonly deferredDeletes = new Set<string>();
  /**
   * (incarnation, scope, file) → the folder it was written to on this node, as the manifest records it: where a file
   * lives never depends on the catalog at read time (a shard snapshot may arrive before its table's storage is known).
   */
  private readonly dirs = new Map<string, string>();
  private readonly catalog: Catalog;

  /** `dataDir` null: an in-memory node (tests); flushing is then refused. */
  constructor(
    private readonly store: DataStore,
    private readonly dataDir: string | null,
    private readonly nodeId = 1,
    cachedRowsMax: number = COLD_LIMITS.cachedRowsMax,
  ) {
    store.db.exec(SCHEMA);
    this.cache = new RowCache(cachedRowsMax);
    this.catalog = new Catalog(store);
  }

  /**
   * Loads the manifest and checks that every file it names exists (startup, before any apply); decodes nothing.
   * Synchronous: nothing else runs yet, and the simulator opens a node's data.db inside one event.
   */
  load(): void {
    const rows = this.store.db
      .prepare<[], ManifestRow>('SELECT * FROM cold_files ORDER BY table_id, incarnation, scope, ordinal')
      .all();
    this.files.clear();
    this.dirs.clear();
    this.cache.clear();
    for (const r of rows) {
      const path = join(r.dir, r.file_name);
      let isFile: boolean;
      try {
        isFile = statSync(path).isFile();
      } catch (cause) {
        throw new ColdStoreError(`flushed file ${path} of ${r.table_id} is missing or unreadable`, { cause });
      }
      if (!isFile) throw new ColdStoreError(`flushed file ${path} of ${r.table_id} is not a file`);
      const t = { tableId: r.table_id, incarnation: r.incarnation };
      this.dirs.set(fileKey(t, r.scope, r.file_name), r.dir);
      this.push(t, r.scope, manifestFile(r));
    }
  }

  /** The files of (incarnation, scope), oldest first. */
  filesOf(t: TableRef, scope: ColdScope): readonly ColdFile[] {
    return this.files.get(keyOf(t, scope))?.list ?? [];
  }

  /** Every scope of an incarnation that has files. */
  scopesOf(t: TableRef): ColdScope[] {
    const out: ColdScope[] = [];
    for (const f of this.files.values()) {
      if (f.table.tableId === t.tableId && f.table.incarnation === t.incarnation) out.push(f.scope);
    }
    return out;
  }

  /** The latest flushed version of each primary key in (incarnation, scope), tombstones included. */
  versions(t: TableRef, scope: ColdScope, primaryKey: string): ReadonlyMap<string, ColdRow> {
    const key = latestKey(t, scope);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached as ReadonlyMap<string, ColdRow>;
    const m = mergeLatest(
      this.filesOf(t, scope).map((f) => ({ rows: this.rowsOf(t, scope, f) })),
      primaryKey,
    );
    if (m.size > 0) this.cache.set(key, m, m.size);
    return m;
  }

  /** The rows of one file of (incarnation, scope), in file order: from the cache, or read from its file and cached. */
  rowsOf(t: TableRef, scope: ColdScope, file: ColdFile): readonly ColdRow[] {
    const path = this.pathOf(t, scope, file.fileName);
    const cached = this.cache.get(`file:${path}`);
    if (cached !== undefined) return cached as readonly ColdRow[];
    const rows = this.readRows(path, file);
    this.cache.set(`file:${path}`, rows, rows.length);
    return rows;
  }

  /** What the cache holds now (node-local; for tests and diagnostics). */
  cacheStats(): { readonly entries: number; readonly rows: number; readonly maxRows: number } {
    return { entries: this.cache.size, rows: this.cache.rows, maxRows: this.cache.maxRows };
  }

  /** Adds a file (a flush): writes it, records it in the manifest of `groupId`, and caches its rows. */
  add(groupId: number, t: TableRef, scope: ColdScope, file: ColdFileWithRows): void {
    if (this.filesOf(t, scope).some((f) => f.fileName === file.fileName)) {
      throw new ColdStoreError(`file ${file.fileName} of ${t.tableId} already exists`);
    }
    const dir = this.dirOf(t, scope);
    // The same name written again (a restore of a file this node dropped): the earlier drop must not delete it.
    this.pendingDeletes.delete(join(dir, file.fileName));
    this.deferredDeletes.delete(join(dir, file.fileName));
    this.writeFile(dir, file);
    this.dirs.set(fileKey(t, scope, file.fileName), dir);
    const ordinal = this.filesOf(t, scope).length;
    this.store.db
      .prepare(
        'INSERT INTO cold_files (table_id, incarnation, scope, file_name, group_id, ordinal, row_count, min_seq, max_seq, columns_json, created_at, dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        t.tableId,
        t.incarnation,
        scope,
        file.fileName,
        groupId,
        ordinal,
        file.rowCount,
        file.minSeq,
        file.maxSeq,
        JSON.stringify(file.columns),
        file.createdAt,
        dir,
      );
    const { rows, ...manifest } = file;
    this.push(t, scope, manifest);
    this.cache.set(`file:${join(dir, file.fileName)}`, rows, rows.length);
  }

  /**
   * Replaces every file of (incarnation, scope) by `output` (a compaction or a retention rewrite; null when nothing is
   * left). The old files are deleted from disk after the transaction commits.
   */
  replaceAll(groupId: number, t: TableRef, scope: ColdScope, output: ColdFileWithRows | null): void {
    const old = this.filesOf(t, scope);
    this.store
      .prepare('DELETE FROM cold_files WHERE table_id = ? AND incarnation = ? AND scope = ?')
      .run(t.tableId, t.incarnation, scope);
    for (const f of old) {
      if (f.fileName !== output?.fileName) this.forgetFile(t, scope, f.fileName);
    }
    this.files.delete(keyOf(t, scope));
    this.cache.delete(latestKey(t, scope));
    if (output !== null) this.add(groupId, t, scope, output);
  }

  /** The manifest of everything `groupId` holds, for its snapshot's state record (the rows go by `snapshotFiles`). */
  dump(groupId: number): ColdScopeDump[] {
    return this.scopesOfGroup(groupId).map((s) => ({
      tableId: s.tableId,
      incarnation: s.incarnation,
      scope: s.scope,
      files: this.filesOf(s, s.scope),
    }));
  }

  /** Every file of `dump(groupId)`, in its order, with where it lies: what a snapshot pages the rows of. */
  snapshotFiles(groupId: number): ColdSnapshotFile[] {
    const out: ColdSnapshotFile[] = [];
    this.scopesOfGroup(groupId).forEach((s, i) => {
      this.filesOf(s, s.scope).forEach((f, j) => {
        const table = { tableId: s.tableId, incarnation: s.incarnation };
        out.push({
          scope: i,
          file: j,
          table,
          scopeKey: s.scope,
          manifest: f,
          path: this.pathOf(s, s.scope, f.fileName),
        });
      });
    });
    return out;
  }

  /** A file's rows for a snapshot: from the cache if there (not cached when read: a snapshot reads each file once). */
  snapshotRows(f: ColdSnapshotFile): readonly ColdRow[] {
    return (this.cache.peek(`file:${f.path}`) as readonly ColdRow[] | undefined) ?? this.readRows(f.path, f.manifest);
  }

  /** Keeps these files on disk until `unpin`, whatever drops them meanwhile (a snapshot built beside the applies). */
  pin(paths: readonly string[]): void {
    for (const p of paths) this.pins.set(p, (this.pins.get(p) ?? 0) + 1);
  }

  unpin(paths: readonly string[]): void {
    for (const p of paths) {
      const n = (this.pins.get(p) ?? 0) - 1;
      if (n > 0) {
        this.pins.set(p, n);
        continue;
      }
      this.pins.delete(p);
      if (this.deferredDeletes.delete(p)) unlinkIfThere(p);
    }
  }

  /**
   * Replaces everything `groupId` holds by a snapshot's (inside the install's first piece): the manifest's files
   * given with their rows (format 3) are written now; those without (format 4) are added (`add`) as their rows
   * arrive, in the dump's order.
   */
  restore(groupId: number, dumps: readonly ColdScopeDump[]): void {
    for (const s of this.scopesOfGroup(groupId)) this.replaceAll(groupId, s, s.scope, null);
    for (const d of dumps) {
      for (const f of d.files) if ('rows' in f) this.add(groupId, d, d.scope, f);
    }
  }

  /** Forgets what `groupId` holds of a purged incarnation (its manifest and cache; files removed after commit). */
  purge(groupId: number, t: TableRef): void {
    for (const s of this.scopesOfGroup(groupId)) {
      if (s.tableId === t.tableId && s.incarnation === t.incarnation) this.replaceAll(groupId, t, s.scope, null);
    }
  }

  /** Deletes the files dropped by committed transactions. */
  afterCommit(): void {
    for (const path of this.pendingDeletes) {
      if (this.pins.has(path)) this.deferredDeletes.add(path);
      else unlinkIfThere(path);
    }
    this.pendingDeletes.clear();
  }

  /** The folder of (incarnation, scope) on this node. */
  dirOf(t: TableRef, scope: ColdScope): string {
    if (this.dataDir === null) throw new ColdStoreError('this node has no data_dir: flushed files cannot be stored');
    const [ns, table] = splitTableId(t.tableId);
    const tail = scope === '' ? 'shared' : join('users', encodeURIComponent(scope));
    return join(this.tableBase(t), ns, table, String(t.incarnation), tail);
  }

  private scopesOfGroup(groupId: number): (TableRef & { scope: string })[] {
    return this.store
      .prepare<[number], { table_id: string; incarnation: number; scope: string }>(
        'SELECT DISTINCT table_id, incarnation, scope FROM cold_files WHERE group_id = ? ORDER BY table_id, incarnation, scope',
      )
      .all(groupId)
      .map((r) => ({ tableId: r.table_id, incarnation: r.incarnation, scope: r.scope }));
  }

  private tableBase(t: TableRef): string {
    const dataDir = this.dataDir as string;
    const storageId = this.catalog.storageOf(t);
    if (storageId === undefined) return join(dataDir, 'storage');
    const s = this.store.db
      .prepare<[string], { config_json: string }>('SELECT config_json FROM sys_storages WHERE storage_id = ?')
      .get(storageId);
    if (s === undefined) return join(dataDir, 'storage');
    return this.storageDir((JSON.parse(s.config_json) as { path: string }).path);
  }

  /** The folder a storage PATH means on this node. */
  private storageDir(path: string): string {
    // An absolute path may be one folder that several nodes of one host see: each node keeps its own copy under it.
    return isAbsolute(path) ? join(path, `node-${this.nodeId}`) : join(this.dataDir as string, path);
  }

  /**
   * Whether this node can keep files under a storage PATH (cold/paths.ts probeDir): undefined when it can, else
   * what its disk said. Asked when CREATE STORAGE is planned. Always fine on a node without a data folder.
   */
  probeStorage(path: string): string | undefined {
    if (this.dataDir === null) return undefined;
    return probeOrProblem(this.storageDir(path));
  }

  /** Whether this node can write a table's flushed files: asked by a job before it proposes any. */
  probeTable(t: TableRef): string | undefined {
    if (this.dataDir === null) return undefined;
    return probeOrProblem(this.tableBase(t));
  }

  /** Queues a file of the manifest for deletion after commit. */
  private forgetFile(t: TableRef, scope: ColdScope, fileName: string): void {
    const key = fileKey(t, scope, fileName);
    const dir = this.dirs.get(key);
    if (dir !== undefined) {
      this.pendingDeletes.add(join(dir, fileName));
      this.cache.delete(`file:${join(dir, fileName)}`);
    }
    this.dirs.delete(key);
  }

  /** Where a file of the manifest lives on this node (the folder the manifest recorded). */
  private pathOf(t: TableRef, scope: ColdScope, fileName: string): string {
    const dir = this.dirs.get(fileKey(t, scope, fileName));
    if (dir === undefined) throw new ColdStoreError(`file ${fileName} of ${t.tableId} is not in the manifest`);
    return join(dir, fileName);
  }

  /** Reads and decodes one file, checking its row count against the manifest. */
  private readRows(path: string, file: ColdFile): ColdRow[] {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new ColdStoreError(`flushed file ${path} is missing or unreadable`, { cause });
    }
    const rows = decodeParquet(file.columns, bytes);
    if (rows.length !== file.rowCount) {
      throw new ColdStoreError(`flushed file ${path} holds ${rows.length} rows, the manifest says ${file.rowCount}`);
    }
    return rows;
  }

  private writeFile(dir: string, file: ColdFileWithRows): void {
    const path = join(dir, file.fileName);
    makeDirs(dirname(path));
    const bytes = encodeParquet(file.columns, file.rows);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }

  private push(t: TableRef, scope: ColdScope, file: ColdFile): void {
    const key = keyOf(t, scope);
    const entry = this.files.get(key) ?? { table: { tableId: t.tableId, incarnation: t.incarnation }, scope, list: [] };
    entry.list.push(file);
    this.files.set(key, entry);
    this.cache.delete(latestKey(t, scope));
  }
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) throw err;
  }
}

function manifestFile(r: ManifestRow): ColdFile {
  return {
    fileName: r.file_name,
    rowCount: r.row_count,
    minSeq: r.min_seq,
    maxSeq: r.max_seq,
    columns: JSON.parse(r.columns_json) as ColdColumn[],
    createdAt: r.created_at,
  };
}

/**
 * The latest version of each key among files given oldest first: the later file wins. A file holds one version per
 * key (a flush takes the hot table, one row per key; a rewrite keeps one), and a key's version in a later file was
 * applied after its version in an earlier one — a flush empties the hot versions it takes, so whatever is flushed
 * next for that key was written after. That is the order every replica applied, so it is what they agree on; it is
 * the `_seq` order too whenever `_seq` follows apply order, and stays right when two nodes' clocks make it not.
 */
export function mergeLatest(
  files: readonly { readonly rows: readonly ColdRow[] }[],
  primaryKey: string,
): Map<string, ColdRow> {
  const m = new Map<string, ColdRow>();
  for (const f of files) {
    for (const r of f.rows) m.set(pkKey(r.values[primaryKey] ?? null), r);
  }
  return m;
}

/** A primary key value as a map key. */
export function pkKey(v: Value): string {
  return JSON.stringify(v);
}

function probeOrProblem(dir: string): string | undefined {
  try {
    probeDir(dir);
    return undefined;
  } catch (err) {
    return `${dir}: ${err instanceof Error ? err.message : String(err)}`;
  }
}
