/**
 * The data groups: a user shard (USER and STREAM table rows of the users routed to it, and their live
 * queries) and a shared shard (SHARED table rows). Writes are soft: a delete sets `_deleted`; every written
 * row gets the next `_seq`: the command's `seqBase`, or past the group's high-water mark when that is lower
 * (live/changelog.ts), so `_seq` increases in commit order per group and every replica agrees on it. Each written
 * row is also a RowChange: recorded in the group's change log and reported to the node's ChangeFeed after commit.
 *
 * Flushed rows (cold/store.ts) and hot rows read as one table: the hot table keeps the last applied write of each
 * key, so a hot row (live or tombstone) wins over every flushed version; among flushed versions the one of the later
 * file wins (cold/store.ts `mergeLatest`: apply order, which is `_seq` order whenever `_seq` follows it). Updates and
 * deletes of a flushed row write a new hot version (a full row, or a tombstone).
 *
 * Cross-group order and ownership (DESIGN.md §6): a data command carries the meta:system index it was planned against;
 * `canApply` holds the group until this node's meta:system has applied that index — the group pauses, it never skips.
 * A data group owns its rows (in every table incarnation), its change log, its flushed files and (a user shard) its
 * live-query registrations, and nothing else. It applies every command against its own view of the catalog as of its
 * meta horizon (state/view.ts), never against the node's current catalog, and purges an incarnation's rows itself
 * when its horizon passes the DropTable. Reads, which run after read barriers, see the current catalog.
 */
import { performance } from 'node:perf_hooks';

import type { AppliedEntry, SnapshotBuilder, SnapshotOutput } from '@kalam/multiraft';
import { SqlError, evaluate, matches } from '@kalam/sql';
import { Catalog } from '../catalog.js';
import type { TableInfo } from '../catalog.js';
import type { ColdRow } from '../cold/parquet.js';
import { pastCutoff, seqFloor } from '../cold/retention.js';
import type { Cutoffs } from '../cold/retention.js';
import { ColdStore, pkKey } from '../cold/store.js';
import type { ColdFile, ColdFileWithRows, ColdScopeDump, ColdSnapshotFile } from '../cold/store.js';
import type {
  ClientStamp,
  ComputedAssignment,
  DataJobCommand,
  DataResponse,
  Filter,
  Row,
  SharedDataCommand,
  TableSchema,
  UserDataCommand,
  Value,
} from '../commands.js';
import { CHANGELOG_SNAPSHOT_QUERY, ChangeLog } from '../live/changelog.js';
import type { ChangeLogDump } from '../live/changelog.js';
import type { ChangeFeed } from '../live/feed.js';
import { LIVE_LIMITS } from '../live/limits.js';
import type { RowChange } from '../live/types.js';
import type { ShardRouter } from '../shard-router.js';
import { KalamError } from '../sql/errors.js';
import { coerce, toValue } from '../sql/values.js';
import type { DataStore } from '../store.js';
import { checkRow, fromSqlite, isPerUser, physicalName, primaryKeyLiteral, toSqlite, withDefaults } from '../tables.js';
import type { TableRef } from '../tables.js';
import { checkSharedDataCommand, checkUserDataCommand } from '../validate.js';
import { ApplyError, KalamStateMachine } from './base.js';
import { RowPager, SnapshotFormatError, SnapshotWriter, pageFull, rowBytes } from './snapshot-format.js';
import type { SnapshotImport, StateMachineOptions } from './base.js';
import { ClientSessions, SESSION_SNAPSHOT_QUERIES } from './sessions.js';
import type { SessionClock } from './sessions.js';
import { GroupView } from './view.js';
import type { ViewDump } from './view.js';

/** Whose rows a command touches: one user's in a user shard, or all rows of a shared table. */
type Scope = { readonly kind: 'user'; readonly userId: string; readonly shard: number } | { readonly kind: 'shared' };

interface StoredRow {
  readonly values: Record<string, Value>;
  readonly seq: number;
  readonly deleted: boolean;
}

function scopeKey(scope: Scope): string {
  return scope.kind === 'user' ? scope.userId : '';
}

/**
 * The values of `SET column = expression` for one row: every expression sees the row as it was before the
 * statement. A value that cannot be stored (a type mismatch, an integer beyond ±2^53) refuses the whole command, on
 * every replica alike.
 */
function evaluateSet(t: TableInfo, computed: readonly ComputedAssignment[], old: Row): Row {
  if (computed.length === 0) return {};
  const out: Record<string, Value> = {};
  for (const a of computed) {
    const c = t.schema.columns.find((col) => col.name === a.column);
    if (c === undefined) throw new ApplyError('INVALID', `unknown column ${a.column}`);
    try {
      out[a.column] = coerce(c, toValue(evaluate(a.expr, old)));
    } catch (err) {
      if (err instanceof KalamError || err instanceof SqlError)
        throw new ApplyError('INVALID', `SET ${a.column}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

/** Row operations over the physical tables, shared by both data state machines. */
class Rows {
  constructor(
    private readonly store: DataStore,
    private readonly catalog: Catalog,
    readonly cold: ColdStore,
    /** Throws when the group's state may not be read now (a snapshot being installed). */
    private readonly checkReadable: () => void,
  ) {}

  /** The live incarnation of `tableId` in the current catalog, for reads (which run after read barriers). */
  current(tableId: string, wantPerUser: boolean): TableInfo {
    this.checkReadable();
    const t = this.catalog.table(tableId);
    if (t === undefined || isPerUser(t.tableType) !== wantPerUser) {
      throw new ApplyError(
        'TABLE_NOT_FOUND',
        `table ${tableId} does not exist${t === undefined ? '' : ` as a ${wantPerUser ? 'USER' : 'SHARED'} table`}`,
      );
    }
    return t;
  }

  private where(scope: Scope): { sql: string; args: (string | number)[] } {
    return scope.kind === 'user' ? { sql: '"_user_id" = ?', args: [scope.userId] } : { sql: '1 = 1', args: [] };
  }

  /** Only the hot rows in scope, deleted ones included, in primary-key order. */
  hot(t: TableInfo, scope: Scope): StoredRow[] {
    if (!this.store.physical.exists(t)) return [];
    const w = this.where(scope);
    const pk = t.schema.primaryKey;
    const rows = this.store
      .prepare(`SELECT * FROM "${physicalName(t)}" WHERE ${w.sql} ORDER BY "${pk}"`)
      .all(...w.args) as Record<string, unknown>[];
    return rows.map((r) => toStored(t.schema, r));
  }

  /** The latest version of every key in scope, hot and flushed, deleted ones included, in primary-key order. */
  scan(t: TableInfo, scope: Scope): StoredRow[] {
    const hot = this.hot(t, scope);
    const cold = this.cold.versions(t, scopeKey(scope), t.schema.primaryKey);
    if (cold.size === 0) return hot;
    const merged = new Map<string, StoredRow>();
    for (const [k, r] of cold) merged.set(k, fromCold(t.schema, r));
    for (const r of hot) merged.set(pkKey(r.values[t.schema.primaryKey] ?? null), r);
    const pk = t.schema.primaryKey;
    return [...merged.values()].sort((a, b) => compareKeys(a.values[pk] ?? null, b.values[pk] ?? null));
  }

  /**
   * The live rows of the scope that `filter` matches, in primary-key order — what an UPDATE or DELETE changes —
   * holding only those: a primary-key probe for `pk = literal` (the filter still applied to what it finds), the rows
   * filtered as SQLite hands them out when nothing of the scope is flushed, the merged scan otherwise. Every replica
   * holds the same rows, so every replica takes the same branch and finds the same rows.
   */
  matching(t: TableInfo, scope: Scope, filter: Filter | null): StoredRow[] {
    const live = (r: StoredRow): boolean => !r.deleted && (filter === null || matches(filter, r.values));
    const key = filter === null ? undefined : primaryKeyLiteral(filter, t.schema.primaryKey);
    if (key !== undefined) {
      const r = this.byKey(t, scope, key);
      return r !== undefined && live(r) ? [r] : [];
    }
    return this.liveHot(t, scope, live, Infinity) ?? this.scan(t, scope).filter(live);
  }

  /** The first `n` live rows of the scope in primary-key order: what `scan(…)` filtered to live rows starts with. */
  livePrefix(t: TableInfo, scope: Scope, n: number): StoredRow[] {
    return (
      this.liveHot(t, scope, () => true, n) ??
      this.scan(t, scope)
        .filter((r) => !r.deleted)
        .slice(0, n)
    );
  }

  /**
   * The scope's live rows that `keep` accepts, in primary-key order, at most `max` of them — read one at a time from
   * SQLite, so only the kept ones are held — when nothing of the scope is flushed; undefined otherwise (the caller
   * reads the merged scan). `keep` must not touch the database: the read is one synchronous pass of one statement.
   */
  liveHot(t: TableInfo, scope: Scope, keep: (r: StoredRow) => boolean, max: number): StoredRow[] | undefined {
    if (this.cold.versions(t, scopeKey(scope), t.schema.primaryKey).size > 0) return undefined;
    const out: StoredRow[] = [];
    if (!this.store.physical.exists(t) || max <= 0) return out;
    const w = this.where(scope);
    const rows = this.store
      .prepare(`SELECT * FROM "${physicalName(t)}" WHERE ${w.sql} AND "_deleted" = 0 ORDER BY "${t.schema.primaryKey}"`)
      .iterate(...w.args) as IterableIterator<Record<string, unknown>>;
    for (const raw of rows) {
      const r = toStored(t.schema, raw);
      if (!keep(r)) continue;
      out.push(r);
      if (out.length >= max) break; // leaving the loop (or a throw from keep) finalizes the statement
    }
    return out;
  }

  /**
   * How many live rows the scope holds, hot and flushed — what `scan(…).filter(live).length` says, without reading a
   * row's values: SQLite counts the hot ones; with flushed versions, only the hot rows' keys and tombstones are read.
   */
  liveCount(t: TableInfo, scope: Scope): number {
    const cold = this.cold.versions(t, scopeKey(scope), t.schema.primaryKey);
    if (!this.store.physical.exists(t)) {
      let live = 0;
      for (const r of cold.values()) if (!r.deleted) live++;
      return live;
    }
    const w = this.where(scope);
    const table = physicalName(t);
    if (cold.size === 0) {
      const row = this.store
        .prepare(`SELECT COUNT(*) AS n FROM "${table}" WHERE ${w.sql} AND "_deleted" = 0`)
        .get(...w.args) as { n: number };
      return row.n;
    }
    // A hot version, live or a tombstone, replaces the flushed one of its key (scan's rule).
    const pk = t.schema.primaryKey;
    const column = t.schema.columns.find((c) => c.name === pk)!;
    const hotKeys = new Set<string>();
    let live = 0;
    const rows = this.store
      .prepare(`SELECT "${pk}" AS k, "_deleted" AS d FROM "${table}" WHERE ${w.sql}`)
      .iterate(...w.args) as IterableIterator<{ k: unknown; d: number }>;
    for (const r of rows) {
      hotKeys.add(pkKey(fromSqlite(column, r.k)));
      if (r.d !== 1) live++;
    }
    for (const [k, r] of cold) if (!r.deleted && !hotKeys.has(k)) live++;
    return live;
  }

  /** The live row with this primary key in scope, if any (an index probe, then the flushed versions). */
  byKey(t: TableInfo, scope: Scope, key: Value): StoredRow | undefined {
    const w = this.where(scope);
    const r = !this.store.physical.exists(t)
      ? undefined
      : (this.store
          .prepare(`SELECT * FROM "${physicalName(t)}" WHERE ${w.sql} AND "${t.schema.primaryKey}" = ?`)
          .get(...w.args, toSqlite(key)) as Record<string, unknown> | undefined);
    const found =
      r !== undefined
        ? toStored(t.schema, r)
        : (() => {
            const c = this.cold.versions(t, scopeKey(scope), t.schema.primaryKey).get(pkKey(key));
            return c === undefined ? undefined : fromCold(t.schema, c);
          })();
    return found === undefined || found.deleted ? undefined : found;
  }

  insert(t: TableInfo, scope: Scope, rows: readonly Row[], seqBase: number, out: RowChange[]): number {
    const cols = t.schema.columns.map((c) => c.name);
    const perUser = scope.kind === 'user';
    const names = [...cols, '_seq', '_deleted', ...(perUser ? ['_user_id', '_shard'] : [])];
    const stmt = this.store.prepare(
      `INSERT OR REPLACE INTO "${physicalName(t)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    );
    // One primary-key lookup per row (an index probe, then the flushed versions), not a scan of the table.
    const pk = t.schema.primaryKey;
    const live = { get: (key: Value) => this.byKey(t, scope, key) };
    const seen = new Set<string>();
    rows.forEach((row, i) => {
      const full = withDefaults(t.schema, row);
      const problem = checkRow(t.schema, full);
      if (problem !== null) throw new ApplyError('INVALID', `row ${i + 1}: ${problem}`);
      const key = JSON.stringify(full[pk]);
      if (seen.has(key) || live.get(full[pk] ?? null) !== undefined) {
        throw new ApplyError('CONFLICT', `duplicate primary key ${t.schema.primaryKey} = ${key} in ${t.tableId}`);
      }
      seen.add(key);
      const values = cols.map((c) => toSqlite(full[c] ?? null));
      const sys = [seqBase + i, 0, ...(scope.kind === 'user' ? [scope.userId, scope.shard] : [])];
      stmt.run(...values, ...sys);
      const written = Object.fromEntries(cols.map((c) => [c, full[c] ?? null]));
      out.push({
        seq: seqBase + i,
        tableId: t.tableId,
        incarnation: t.incarnation,
        userId: userOf(scope),
        changeType: 'insert',
        row: written,
        old: null,
      });
    });
    return rows.length;
  }

  /** Updates (or soft-deletes, with `updates` null) the live rows in scope that match the filter. */
  modify(
    t: TableInfo,
    scope: Scope,
    updates: Row | null,
    computed: readonly ComputedAssignment[],
    filter: Filter | null,
    seqBase: number,
    out: RowChange[],
  ): number {
    if (updates !== null) {
      for (const k of [...Object.keys(updates), ...computed.map((a) => a.column)]) {
        if (!t.schema.columns.some((c) => c.name === k)) throw new ApplyError('INVALID', `unknown column ${k}`);
        if (k === t.schema.primaryKey) throw new ApplyError('INVALID', `the primary key ${k} cannot be updated`);
      }
    }
    const target = this.matching(t, scope, filter);
    // A new version of each row, written whole: the row may live only in a flushed file.
    const stmt = this.upsert(t, scope);
    target.forEach((r, i) => {
      const values = updates === null ? r.values : { ...r.values, ...updates, ...evaluateSet(t, computed, r.values) };
      if (updates !== null) {
        const problem = checkRow(t.schema, values);
        if (problem !== null) throw new ApplyError('INVALID', problem);
      }
      stmt.run(
        ...t.schema.columns.map((c) => toSqlite(values[c.name] ?? null)),
        seqBase + i,
        updates === null ? 1 : 0,
        ...(scope.kind === 'user' ? [scope.userId, scope.shard] : []),
      );
      out.push({
        seq: seqBase + i,
        tableId: t.tableId,
        incarnation: t.incarnation,
        userId: userOf(scope),
        changeType: updates === null ? 'delete' : 'update',
        row: values,
        old: { ...r.values, _seq: r.seq },
      });
    });
    return target.length;
  }

  private upsert(t: TableInfo, scope: Scope): { run: (...args: (string | number | null)[]) => unknown } {
    const names = [
      ...t.schema.columns.map((c) => c.name),
      '_seq',
      '_deleted',
      ...(scope.kind === 'user' ? ['_user_id', '_shard'] : []),
    ];
    return this.store.prepare<(string | number | null)[]>(
      `INSERT OR REPLACE INTO "${physicalName(t)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    );
  }

  /** FlushRows: the hot rows with `_seq` in [minSeq, maxSeq] move into a Parquet file of the scope. */
  flush(t: TableInfo, scope: Scope, groupId: number, cmd: Extract<DataJobCommand, { type: 'FlushRows' }>): number {
    const w = this.where(scope);
    const range = `${w.sql} AND "_seq" >= ? AND "_seq" <= ?`;
    const args = [...w.args, cmd.minSeq, cmd.maxSeq];
    const rows = (
      this.store
        .prepare(`SELECT * FROM "${physicalName(t)}" WHERE ${range} ORDER BY "_seq", "${t.schema.primaryKey}"`)
        .all(...args) as Record<string, unknown>[]
    ).map((r) => toStored(t.schema, r));
    if (rows.length !== cmd.rowCount) {
      throw new ApplyError('CONFLICT', `${rows.length} hot rows in the seq range, the flush expected ${cmd.rowCount}`);
    }
    if (this.cold.filesOf(t, scopeKey(scope)).some((f) => f.fileName === cmd.fileName)) {
      throw new ApplyError('ALREADY_EXISTS', `flushed file ${cmd.fileName} of ${t.tableId} already exists`);
    }
    this.store.prepare(`DELETE FROM "${physicalName(t)}" WHERE ${range}`).run(...args);
    this.cold.add(groupId, t, scopeKey(scope), {
      fileName: cmd.fileName,
      rowCount: rows.length,
      minSeq: cmd.minSeq,
      maxSeq: cmd.maxSeq,
      columns: t.schema.columns.map((c) => ({ name: c.name, type: c.type })),
      createdAt: cmd.at,
      rows: rows.map((r) => ({ values: r.values, seq: r.seq, deleted: r.deleted })),
    });
    return rows.length;
  }

  /**
   * RewriteFiles: every flushed file of the scope (exactly `inputFiles`) becomes one file holding the latest version
   * of each key minus what is past the cutoffs (merging all files is what makes dropping a tombstone safe: nothing
   * older is left beneath it); then hot rows past the cutoffs go too — a hot tombstone only when no flushed version of
   * its key is left for it to hide. Retention leaves the files alone when nothing in them is past a cutoff.
   */
  rewrite(t: TableInfo, scope: Scope, groupId: number, cmd: Extract<DataJobCommand, { type: 'RewriteFiles' }>): number {
    const key = scopeKey(scope);
    const pk = t.schema.primaryKey;
    const files = this.cold.filesOf(t, key);
    const names = files.map((f) => f.fileName);
    if (names.length !== cmd.inputFiles.length || names.some((n, i) => n !== cmd.inputFiles[i])) {
      throw new ApplyError('CONFLICT', `the flushed files of ${t.tableId} changed since the ${cmd.reason} was planned`);
    }
    const latest = [...this.cold.versions(t, key, pk).values()];
    const kept = latest.filter((r) => !pastCutoff(r, cmd));
    const superseded = files.reduce((n, f) => n + f.rowCount, 0) - latest.length;
    let removed = latest.length - kept.length;
    const rewrite = files.length > 0 && (cmd.reason === 'compaction' || removed > 0 || superseded > 0);
    if (rewrite) {
      if (names.includes(cmd.outputFile)) throw new ApplyError('ALREADY_EXISTS', `file ${cmd.outputFile} exists`);
      kept.sort((a, b) => a.seq - b.seq || compareKeys(a.values[pk] ?? null, b.values[pk] ?? null));
      const output: ColdFileWithRows | null =
        kept.length === 0
          ? null
          : {
              fileName: cmd.outputFile,
              rowCount: kept.length,
              minSeq: kept[0]!.seq,
              maxSeq: kept[kept.length - 1]!.seq,
              columns: t.schema.columns.map((c) => ({ name: c.name, type: c.type })),
              createdAt: cmd.at,
              rows: kept.map((r) => ({ values: fill(t.schema, r.values), seq: r.seq, deleted: r.deleted })),
            };
      this.cold.replaceAll(groupId, t, key, output);
    } else {
      removed = 0;
    }
    const coldLeft = this.cold.versions(t, key, pk);
    const del = this.store.prepare(`DELETE FROM "${physicalName(t)}" WHERE ${this.where(scope).sql} AND "${pk}" = ?`);
    for (const r of this.hotPastCutoffs(t, scope, cmd)) {
      const row: ColdRow = { values: r.values, seq: r.seq, deleted: r.deleted };
      if (!pastCutoff(row, cmd)) continue;
      const k = r.values[pk] ?? null;
      if (r.deleted && coldLeft.has(pkKey(k))) continue;
      del.run(...this.where(scope).args, toSqlite(k));
      removed++;
    }
    return removed;
  }

  /**
   * The scope's hot rows that may be past the cutoffs, read by `_seq` through the job indexes (tables.ts
   * `jobIndexSql`) instead of the whole scope: rows older than the expiry cutoff, tombstones older than the deleted
   * one. A superset of what `pastCutoff` drops (the caller still asks it of each), in primary-key order.
   */
  private hotPastCutoffs(t: TableInfo, scope: Scope, cut: Cutoffs): StoredRow[] {
    if (!this.store.physical.exists(t)) return [];
    const w = this.where(scope);
    const from = `SELECT * FROM "${physicalName(t)}" WHERE ${w.sql}`;
    const found = new Map<string, Record<string, unknown>>();
    const pk = t.schema.primaryKey;
    const take = (sql: string, floor: number): void => {
      const rows = this.store.prepare(sql).all(...w.args, floor) as Record<string, unknown>[];
      for (const r of rows) found.set(pkKey(fromSqlite(undefined, r[pk])), r);
    };
    if (cut.expiredBeforeMs !== null) take(`${from} AND "_seq" < ?`, seqFloor(cut.expiredBeforeMs));
    if (cut.deletedBeforeMs !== null) take(`${from} AND "_deleted" = 1 AND "_seq" < ?`, seqFloor(cut.deletedBeforeMs));
    const rows = [...found.values()].map((r) => toStored(t.schema, r));
    return rows.sort((a, b) => compareKeys(a.values[pk] ?? null, b.values[pk] ?? null));
  }
}

function userOf(scope: Scope): string | null {
  return scope.kind === 'user' ? scope.userId : null;
}

/**
 * The live rows of a scan as reads see them (`_seq` added), in one pass: a row's values object is reused, not
 * copied — the scan built it for this read alone — so a read holds the table once, not three times.
 */
function liveRows(scanned: readonly StoredRow[]): Record<string, Value>[] {
  const out: Record<string, Value>[] = [];
  for (const r of scanned) if (!r.deleted) out.push(withSeq(r));
  return out;
}

/** A row's values with its `_seq`, as reads see it (the values object itself: see liveRows). */
function withSeq(r: StoredRow): Record<string, Value> {
  r.values['_seq'] = r.seq;
  return r.values;
}

/** A flushed version as a stored row: columns added since the flush read as NULL. */
function fromCold(schema: TableSchema, r: ColdRow): StoredRow {
  return { values: fill(schema, r.values), seq: r.seq, deleted: r.deleted };
}

function fill(schema: TableSchema, values: Readonly<Record<string, Value>>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const c of schema.columns) out[c.name] = values[c.name] ?? null;
  return out;
}

/** Primary-key order, as SQLite orders the hot table (numbers before text). */
function compareKeys(a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function toStored(schema: TableSchema, r: Record<string, unknown>): StoredRow {
  const values: Record<string, Value> = {};
  for (const c of schema.columns) values[c.name] = fromSqlite(c, r[c.name]);
  return { values, seq: Number(r._seq), deleted: r._deleted === 1 };
}

/**
 * Writes the rows of a shard's flushed files as `{kind: 'cold', scope, file, rows}` records closed by pageFull (format
 * 4; by bytes too since 6), file by file in the state record's order, a budget of time at a time: one file's rows
 * are held at once, never every file's, and the state record holds only the manifest.
 */
class ColdPager {
  private next = 0;
  private rows: readonly ColdRow[] | undefined;
  private at = 0;

  constructor(
    private readonly cold: ColdStore,
    private readonly out: SnapshotWriter,
    private readonly files: readonly ColdSnapshotFile[],
  ) {}

  /** Pages until every file is written (true) or `budgetMs` has passed (false: call again). */
  step(budgetMs: number): boolean {
    const end = performance.now() + budgetMs;
    while (this.next < this.files.length) {
      const f = this.files[this.next]!;
      const rows = (this.rows ??= this.cold.snapshotRows(f));
      let upTo = this.at;
      let bytes = 0;
      while (upTo < rows.length && !pageFull(upTo - this.at, bytes)) bytes += rowBytes(rows[upTo++]);
      const page = rows.slice(this.at, upTo);
      this.out.record({ file: f.file, kind: 'cold', rows: page, scope: f.scope });
      this.at += page.length;
      if (this.at >= rows.length) {
        this.next++;
        this.rows = undefined;
        this.at = 0;
      }
      if (performance.now() >= end && this.next < this.files.length) return false;
    }
    return true;
  }
}

/**
 * The flushed files of a snapshot being installed whose rows come in pages (format 4): each file is written once its
 * last page is in — one file's rows held at a time — in the state record's order, which is each scope's file order.
 */
class ColdImport {
  private readonly files: { scope: number; file: number; dump: ColdScopeDump; manifest: ColdFile }[] = [];
  private next = 0;
  private rows: ColdRow[] = [];

  constructor(
    private readonly cold: ColdStore,
    private readonly groupId: number,
    dumps: readonly ColdScopeDump[],
  ) {
    dumps.forEach((dump, scope) =>
      dump.files.forEach((manifest, file) => {
        if (!('rows' in manifest)) this.files.push({ scope, file, dump, manifest });
      }),
    );
  }

  page(record: Record<string, unknown>): void {
    const want = this.files[this.next];
    const rows = record['rows'];
    if (want === undefined || record['scope'] !== want.scope || record['file'] !== want.file || !Array.isArray(rows)) {
      throw new SnapshotFormatError(`snapshot of group ${this.groupId}: a page of flushed rows out of order`);
    }
    for (const r of rows as ColdRow[]) this.rows.push(r);
    if (this.rows.length > want.manifest.rowCount) {
      throw new SnapshotFormatError(
        `snapshot of group ${this.groupId}: file ${want.manifest.fileName} has more rows than its manifest's ${want.manifest.rowCount}`,
      );
    }
    if (this.rows.length < want.manifest.rowCount) return;
    this.cold.add(this.groupId, want.dump, want.dump.scope, { ...want.manifest, rows: this.rows });
    this.rows = [];
    this.next++;
  }

  finish(): void {
    if (this.next < this.files.length) {
      throw new SnapshotFormatError(
        `snapshot of group ${this.groupId}: ${this.files.length - this.next} flushed files came without their rows`,
      );
    }
  }
}

/** A scope's hot rows as a flush plans against them: how many, and their `_seq` range. */
export interface HotStats {
  readonly rows: number;
  readonly minSeq: number;
  readonly maxSeq: number;
}

/** How old a scope's hot rows are, what retention judges it by: the least `_seq` of its rows and of its tombstones. */
export interface HotAge {
  readonly minSeq: number;
  readonly minDeletedSeq: number | null;
}

/**
 * A table incarnation of the view that has rows in the shard: listed in the state record, its rows follow in
 * `{kind: 'rows', table: <position in the list>, rows}` records of at most SNAPSHOT_ROWS_PER_PAGE rows.
 */
interface TableDump {
  tableId: string;
  incarnation: number;
}

/** A data group's snapshot. */
interface DataState {
  view: ViewDump;
  tables: TableDump[];
  changeLog: ChangeLogDump;
  cold: ColdScopeDump[];
  /** The client sessions' clock (their sessions, answers and users' horizons follow in `client-sessions` pages). Absent
   * before snapshot version 5: no sessions. */
  clientSessions?: SessionClock;
}

/** The client session of a row write, with its `at` (the session clock), or undefined for any other command. */
function clientOf(cmd: { readonly type: string }): { stamp: ClientStamp; atMs: number } | undefined {
  if (cmd.type !== 'Insert' && cmd.type !== 'Update' && cmd.type !== 'Delete') return undefined;
  const w = cmd as unknown as { readonly client?: ClientStamp; readonly at: number };
  return w.client === undefined ? undefined : { stamp: w.client, atMs: w.at };
}

abstract class DataStateMachine<
  C extends { readonly type: string; readonly metaIndex: number },
> extends KalamStateMachine<C, DataResponse> {
  protected readonly catalog: Catalog;
  protected readonly rows: Rows;
  protected readonly changeLog: ChangeLog;
  protected readonly view: GroupView;
  protected readonly sessions: ClientSessions;

  constructor(
    store: DataStore,
    groupId: number,
    /** Where applied changes are reported (after commit); null: nobody listens (tests, the simulator). */
    protected readonly feed: ChangeFeed | null,
    cold: ColdStore,
    options: StateMachineOptions,
  ) {
    super(store, groupId, options);
    this.catalog = new Catalog(store);
    this.rows = new Rows(store, this.catalog, cold, () => this.checkReadable());
    this.changeLog = new ChangeLog(store.db);
    this.view = new GroupView(store, groupId, this.catalog);
    this.sessions = new ClientSessions(store, groupId);
  }

  /** A row write with a client session applies at most once per seq (state/sessions.ts). */
  protected override applyInSession(cmd: C, run: () => DataResponse): DataResponse {
    const client = clientOf(cmd);
    if (client === undefined || this.options.ignoreClientSessions === true) return run();
    return this.sessions.apply(client.stamp, client.atMs, run);
  }

  /** How many client sessions and remembered answers the group holds. */
  clientSessionCounts(): { sessions: number; answers: number } {
    return this.sessions.counts();
  }

  override apply(entries: readonly AppliedEntry[]): unknown[] {
    let responses: unknown[];
    try {
      responses = super.apply(entries);
    } catch (err) {
      // The batch's transaction rolled back: what was reported or cached of it never happened.
      this.feed?.discard();
      this.forgetCaches();
      throw err;
    }
    // Flushed files dropped by this batch are deleted once its transaction has committed.
    this.rows.cold.afterCommit();
    this.feed?.flush();
    return responses;
  }

  protected override afterInstallPiece(committed: boolean): void {
    this.forgetCaches(); // committed or rolled back, the view and live_seq are whatever data.db now says
    if (committed) this.rows.cold.afterCommit(); // the old state's flushed files, once no longer named
  }

  protected override afterInstall(): void {
    this.feed?.push({ kind: 'restored', groupId: this.groupId });
    this.feed?.flush();
  }

  private forgetCaches(): void {
    this.changeLog.forget();
    this.view.forget();
  }

  protected override afterRefusal(): void {
    this.changeLog.forget();
  }

  /** The meta horizon moves up to the command's metaIndex first; what that drops from the view is purged. */
  protected override prepare(cmd: C): void {
    this.view.advance(cmd.metaIndex, (t) => this.purge(t));
  }

  /** Holds the entry until this node's meta:system has applied the index it was planned against. */
  override canApply(entry: AppliedEntry): boolean {
    if (entry.kind !== 'command') return true;
    const d = this.decoded(entry);
    if ('refusal' in d) return true; // apply answers it with its refusal at once
    const metaIndex = d.cmd.metaIndex;
    return metaIndex <= this.view.horizon() || this.store.appliedIndex(0) >= metaIndex;
  }

  /**
   * Everything this group holds of an incarnation that left its view: its rows, flushed files, change-log entries and
   * (a user shard) live-query registrations; the physical table goes too once no group of this node holds rows in it.
   */
  protected purge(t: TableInfo): void {
    if (this.inScope(t) && this.store.physical.exists(t)) {
      const w = this.scopeWhere();
      this.store.prepare(`DELETE FROM "${physicalName(t)}" WHERE ${w.sql}`).run(...w.args);
    }
    this.rows.cold.purge(this.groupId, t);
    this.changeLog.purge(this.groupId, t);
    if (this.catalog.isDropped(t)) this.store.physical.dropIfEmpty(t);
  }

  /**
   * The incarnation a command writes: the one of its view, of the right kind, and the one it was planned against
   * (a table dropped and created again since is another table). Its physical table exists when this returns.
   */
  protected target(cmd: { readonly tableId: string; readonly incarnation?: number }, perUser: boolean): TableInfo {
    const t = this.view.table(cmd.tableId);
    if (t === undefined || isPerUser(t.tableType) !== perUser) {
      const kind = t === undefined ? '' : ` as a ${perUser ? 'USER' : 'SHARED'} table`;
      throw new ApplyError('TABLE_NOT_FOUND', `table ${cmd.tableId} does not exist${kind}`);
    }
    if (cmd.incarnation !== undefined && cmd.incarnation !== t.incarnation) {
      throw new ApplyError(
        'TABLE_NOT_FOUND',
        `table ${cmd.tableId} was dropped and created again since the statement was planned`,
      );
    }
    this.store.physical.ensure(t);
    return t;
  }

  /** Inserts, updates or soft-deletes (`updates` null) rows: `_seq` assigned, changes logged and reported. */
  protected write(
    t: TableInfo,
    scope: Scope,
    cmd: { readonly seqBase: number },
    op:
      | { readonly rows: readonly Row[] }
      | {
          readonly updates: Row | null;
          readonly computed?: readonly ComputedAssignment[];
          readonly filter: Filter | null;
        },
  ): number {
    const changes: RowChange[] = [];
    const seqBase = this.changeLog.seqBase(this.groupId, cmd.seqBase);
    if ('rows' in op) this.rows.insert(t, scope, op.rows, seqBase, changes);
    else this.rows.modify(t, scope, op.updates, op.computed ?? [], op.filter, seqBase, changes);
    this.changeLog.record(this.groupId, changes);
    if (changes.length > 0) this.feed?.push({ kind: 'changes', groupId: this.groupId, changes });
    return changes.length;
  }

  /** Every change of the incarnation (and `userId`) after `afterSeq` still in the change log, or 'trimmed'. */
  changesAfter(t: TableRef, userId: string | null, afterSeq: number): RowChange[] | 'trimmed' {
    this.checkReadable();
    return this.changeLog.changesAfter(this.groupId, t, userId, afterSeq);
  }

  /** The highest `_seq` this group has assigned (its state is exactly "every change up to here"). */
  lastSeq(): number {
    return this.changeLog.state(this.groupId).lastSeq;
  }

  /** The group's meta horizon (state/view.ts). */
  metaHorizon(): number {
    return this.view.horizon();
  }

  protected applyJob(t: TableInfo, scope: Scope, cmd: DataJobCommand): DataResponse {
    // Flushes and rewrites move rows between hot and flushed storage (or drop expired ones); they are not row
    // changes a live query reports.
    const count =
      cmd.type === 'FlushRows'
        ? this.rows.flush(t, scope, this.groupId, cmd)
        : this.rows.rewrite(t, scope, this.groupId, cmd);
    return { type: 'RowsAffected', count };
  }

  /*
   * What jobs plan against (jobs/scopes.ts), for one table of this shard (the current catalog's incarnation); read it
   * after a read barrier on the group. Every read is index seeks on the table's job indexes (tables.ts
   * `jobIndexSql`), never a scan of its rows: these run on the meta:jobs leader's event loop, once a minute for every
   * table (the retention schedule), and a scan of a 1 GB table there stalled its Raft ticks for seconds (README,
   * "Data size"). Only `hotStats`'s count reads a scope's index entries, for a flush that moves those rows anyway.
   */

  /** The incarnation of `tableId` in the current catalog, when it is of the kind whose rows this group holds. */
  private jobTable(tableId: string): TableInfo | undefined {
    const t = this.catalog.table(tableId);
    return t === undefined || !this.inScope(t) ? undefined : t;
  }

  /** One scope's rows in its physical table: a user's rows, or every row of a shared table. */
  private scopeRows(t: TableInfo, scope: string): { sql: string; args: string[] } {
    return isPerUser(t.tableType) ? { sql: '"_user_id" = ?', args: [scope] } : { sql: '1 = 1', args: [] };
  }

  /** The first `_seq` of the scope's hot rows (and only tombstones when `deleted`) in `order`, or null for none. */
  private seqEdge(t: TableInfo, scope: string, order: 'ASC' | 'DESC', deleted: boolean): number | null {
    const w = this.scopeRows(t, scope);
    const only = deleted ? ' AND "_deleted" = 1' : '';
    const r = this.store
      .prepare<string[], { s: number }>(
        `SELECT "_seq" AS s FROM "${physicalName(t)}" WHERE ${w.sql}${only} ORDER BY "_seq" ${order} LIMIT 1`,
      )
      .get(...w.args);
    return r === undefined ? null : r.s;
  }

  /**
   * The scopes of the table this shard holds hot rows or flushed files of, in order. Users are found one index seek
   * each (the next user id after the last one; the physical table holds every user shard's users, so the others'
   * are skipped), not by grouping the rows.
   */
  jobScopes(tableId: string): string[] {
    const t = this.jobTable(tableId);
    if (t === undefined) return [];
    const scopes = new Set(this.rows.cold.scopesOf(t).filter((s) => this.ownsScope(s)));
    if (this.store.physical.exists(t)) {
      if (!isPerUser(t.tableType)) {
        if (this.seqEdge(t, '', 'ASC', false) !== null) scopes.add('');
      } else {
        const next = this.store.prepare<[string], { u: string }>(
          `SELECT "_user_id" AS u FROM "${physicalName(t)}" WHERE "_user_id" > ? ORDER BY "_user_id" LIMIT 1`,
        );
        for (let r = next.get(''); r !== undefined; r = next.get(r.u)) if (this.ownsScope(r.u)) scopes.add(r.u);
      }
    }
    return [...scopes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** How old the scope's hot rows are (two index seeks), or null when it has none. */
  hotAge(tableId: string, scope: string): HotAge | null {
    const t = this.jobTable(tableId);
    if (t === undefined || !this.ownsScope(scope) || !this.store.physical.exists(t)) return null;
    const minSeq = this.seqEdge(t, scope, 'ASC', false);
    return minSeq === null ? null : { minSeq, minDeletedSeq: this.seqEdge(t, scope, 'ASC', true) };
  }

  /** The scope's hot rows a flush would move: their `_seq` range (index seeks) and count (its index entries). */
  hotStats(tableId: string, scope: string): HotStats | null {
    const t = this.jobTable(tableId);
    if (t === undefined || !this.ownsScope(scope) || !this.store.physical.exists(t)) return null;
    const minSeq = this.seqEdge(t, scope, 'ASC', false);
    const maxSeq = this.seqEdge(t, scope, 'DESC', false);
    if (minSeq === null || maxSeq === null) return null;
    const w = this.scopeRows(t, scope);
    const counted = this.store
      .prepare<string[], { n: number }>(`SELECT COUNT(*) AS n FROM "${physicalName(t)}" WHERE ${w.sql}`)
      .get(...w.args);
    return { rows: counted?.n ?? 0, minSeq, maxSeq };
  }

  /**
   * How many hot rows the table holds on this node — in every shard of this group's kind, which share its physical
   * table — counted up to `max` and no further: what a FLUSH_POLICY of `max` rows asks every poll, at the cost of at
   * most `max` rows whatever the table's size (a count per shard would walk the other shards' rows to find its own).
   */
  tableHotRowsUpTo(tableId: string, max: number): number {
    const t = this.jobTable(tableId);
    if (t === undefined || max <= 0 || !this.store.physical.exists(t)) return 0;
    const r = this.store
      .prepare<[number], { n: number }>(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM "${physicalName(t)}" LIMIT ?)`)
      .get(max);
    return r?.n ?? 0;
  }

  protected abstract ownsScope(scope: string): boolean;
  protected abstract inScope(t: TableInfo): boolean;
  protected abstract scopeWhere(): { sql: string; args: (string | number)[] };

  /** The group's rows of every incarnation of its view it holds rows of, in key order, with the view's columns. */
  /** The tables of the view with rows in this shard, and the query that reads those rows in snapshot order. */
  private snapshotTables(): { dump: TableDump; sql: string }[] {
    const w = this.scopeWhere();
    const out: { dump: TableDump; sql: string }[] = [];
    for (const t of this.view.tables()) {
      if (!this.inScope(t) || !this.store.physical.exists(t)) continue;
      const from = `FROM "${physicalName(t)}" WHERE ${w.sql}`;
      if (this.store.prepare(`SELECT 1 ${from} LIMIT 1`).get(...w.args) === undefined) continue;
      const cols = [...t.schema.columns.map((c) => c.name), '_seq', '_deleted'];
      if (isPerUser(t.tableType)) cols.push('_user_id', '_shard');
      const order = isPerUser(t.tableType) ? `"_user_id", "${t.schema.primaryKey}"` : `"${t.schema.primaryKey}"`;
      const sql = `SELECT ${cols.map((c) => `"${c}"`).join(', ')} ${from} ORDER BY ${order}`;
      out.push({ dump: { tableId: t.tableId, incarnation: t.incarnation }, sql });
    }
    return out;
  }

  /**
   * The rows, table by table, in pages: read by a cursor (the statement's iterator), so that only one page of rows
   * is ever held as objects, whatever the shard's size; then the flushed files' rows, a file at a time (ColdPager).
   */
  protected override exportMoreRecords(out: SnapshotWriter): void {
    const w = this.scopeWhere();
    const queries = this.snapshotTables().map((t) => t.sql);
    new RowPager(this.store.db, out, queries, w.args).step(Infinity);
    new ColdPager(this.rows.cold, out, this.rows.cold.snapshotFiles(this.groupId)).step(Infinity);
    new RowPager(this.store.db, out, SESSION_SNAPSHOT_QUERIES, [this.groupId], 'client-sessions').step(Infinity);
    new RowPager(this.store.db, out, [CHANGELOG_SNAPSHOT_QUERY], [this.groupId], 'changes', true).step(Infinity);
  }

  /**
   * The snapshot in slices, beside the applies (issue [M8] §3: taking a snapshot never holds the driver's turn): a
   * read-only connection on data.db opens a read transaction now, at the applied index of this moment (no write
   * transaction is open between applies, so it sees what the main connection committed); the small state record
   * is written at once, and the rows are paged from the read view a budget of time at a time, while the group
   * applies on. Undefined for a store in memory (no second connection can see it): snapshot() then builds at once.
   */
  snapshotBuilder(output?: SnapshotOutput): SnapshotBuilder | undefined {
    const reader = this.store.openReader();
    if (reader === undefined) return undefined;
    let pager: RowPager | undefined;
    let sessionPager: RowPager | undefined;
    let changePager: RowPager | undefined;
    let out: SnapshotWriter | undefined;
    let finished = false;
    let pinned: string[] = [];
    const release = (): void => {
      pager?.close();
      sessionPager?.close();
      changePager?.close();
      this.rows.cold.unpin(pinned);
      pinned = [];
      if (!finished) out?.abort(); // given up: the output's partial bytes (a file) go
      out = undefined;
      if (reader.open) {
        if (reader.inTransaction) reader.exec('ROLLBACK');
        reader.close();
      }
    };
    try {
      reader.exec('BEGIN');
      const row = reader.prepare('SELECT applied_index FROM group_applied WHERE group_id = ?').get(this.groupId) as
        { applied_index: number } | undefined;
      const index = row?.applied_index ?? 0;
      if (index !== this.appliedIndex()) {
        release(); // the read view is not at the applied index (cannot happen between applies): build at once
        return undefined;
      }
      const writer = new SnapshotWriter(this.groupId, output);
      out = writer;
      writer.record({ kind: 'state', state: this.exportState() });
      // The flushed files as of this moment: kept on disk until the build ends, whatever a compaction drops meanwhile.
      const files = this.rows.cold.snapshotFiles(this.groupId);
      pinned = files.map((f) => f.path);
      this.rows.cold.pin(pinned);
      const w = this.scopeWhere();
      pager = new RowPager(
        reader,
        writer,
        this.snapshotTables().map((t) => t.sql),
        w.args,
      );
      const rows = pager;
      const cold = new ColdPager(this.rows.cold, writer, files);
      sessionPager = new RowPager(reader, writer, SESSION_SNAPSHOT_QUERIES, [this.groupId], 'client-sessions');
      const sessions = sessionPager;
      changePager = new RowPager(reader, writer, [CHANGELOG_SNAPSHOT_QUERY], [this.groupId], 'changes', true);
      const changes = changePager;
      return {
        index,
        step: (budgetMs) => {
          const end = performance.now() + budgetMs;
          if (!rows.step(budgetMs)) return undefined;
          if (!cold.step(Math.max(0, end - performance.now()))) return undefined;
          if (!sessions.step(Math.max(0, end - performance.now()))) return undefined;
          if (!changes.step(Math.max(0, end - performance.now()))) return undefined;
          finished = true;
          release();
          return writer.finish();
        },
        close: release,
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  protected exportData(): DataState {
    return {
      view: this.view.dump(),
      tables: this.snapshotTables().map((t) => t.dump),
      changeLog: this.changeLog.dump(this.groupId),
      cold: this.rows.cold.dump(this.groupId),
      clientSessions: this.sessions.clock(),
    };
  }

  /** A data group's state comes with records after it (beginImport); alone, it is a group with no rows. */
  protected importState(state: unknown): void {
    this.clearForInstall(Infinity, new Map());
    this.beginImport(state).finish();
  }

  /**
   * The group's rows in the incarnations of its old view go, `rowsMax` at a time: each table walked once in rowid
   * order from where the last piece stopped (no index leads with the scope's column, and a scan from the start each
   * time would pass the other shards' rows again and again). Only this group's rows are touched.
   */
  protected override clearForInstall(rowsMax: number, cursor: Map<string, bigint | 'done'>): boolean {
    const w = this.scopeWhere();
    let left = rowsMax;
    for (const t of this.view.tables()) {
      if (!this.inScope(t) || !this.store.physical.exists(t)) continue;
      const name = physicalName(t);
      if (this.options.restoreDropsOtherTables === true) {
        // The planted bug: the table is dropped whole, with the rows every other shard keeps in it.
        this.store.db.exec(`DROP TABLE "${name}"`);
        this.store.physical.forget();
        continue;
      }
      if (left === Infinity) {
        this.store.prepare(`DELETE FROM "${name}" WHERE ${w.sql}`).run(...w.args);
        continue;
      }
      const from = cursor.get(name);
      if (from === 'done') continue;
      // Rowids as BigInt: a SHARED table keyed by an INTEGER column has it as its rowid, any int64, negative too.
      const ids = (
        from === undefined
          ? this.store.prepare(`SELECT rowid FROM "${name}" WHERE ${w.sql} ORDER BY rowid LIMIT ?`)
          : this.store.prepare(`SELECT rowid FROM "${name}" WHERE rowid > ? AND ${w.sql} ORDER BY rowid LIMIT ?`)
      )
        .safeIntegers(true)
        .pluck()
        .all(...(from === undefined ? [] : [from]), ...w.args, left) as bigint[];
      const del = this.store.prepare(`DELETE FROM "${name}" WHERE rowid = ?`);
      for (const id of ids) del.run(id);
      left -= ids.length;
      if (left > 0) {
        cursor.set(name, 'done');
        continue;
      }
      cursor.set(name, ids[ids.length - 1]!);
      return false;
    }
    return true;
  }

  /** What a shard keeps beside its rows (a user shard's live queries), from the state record. */
  protected importOwn(_state: unknown): void {}

  /**
   * Replaces the group's state by a snapshot's, once clearForInstall has deleted its rows in the incarnations of its
   * old view: the new view is loaded (the physical tables made when this node's meta:system does not know them yet),
   * then the change log, the flushed files and what the shard keeps beside them. The row pages follow, each inserted in
   * the piece that reads it. Only this group's rows are touched.
   */
  protected override beginImport(state: unknown): SnapshotImport {
    const s = state as DataState;
    const old = this.view.tables();
    this.view.load(s.view);
    const tables = s.tables.map((d) => {
      const t = this.view.table(d.tableId);
      if (t === undefined || t.incarnation !== d.incarnation) {
        throw new Error(`snapshot of group ${this.groupId}: rows of ${d.tableId} outside its view`);
      }
      this.store.physical.ensure(t);
      return t;
    });
    this.changeLog.load(this.groupId, s.changeLog);
    this.rows.cold.restore(this.groupId, s.cold);
    const cold = new ColdImport(this.rows.cold, this.groupId, s.cold);
    for (const t of old) {
      if (this.view.table(t.tableId)?.incarnation !== t.incarnation && this.catalog.isDropped(t)) {
        this.store.physical.dropIfEmpty(t);
      }
    }
    this.importOwn(state);
    this.sessions.reset(s.clientSessions ?? { clockMs: 0 });
    return {
      record: (page) => {
        if (page['kind'] === 'cold') return cold.page(page);
        if (page['kind'] === 'changes') {
          if (!Array.isArray(page['rows']) || !this.changeLog.importPage(this.groupId, page['rows'] as unknown[])) {
            throw new SnapshotFormatError(`snapshot of group ${this.groupId}: a malformed changes record`);
          }
          return;
        }
        if (page['kind'] === 'client-sessions') {
          const table = page['table'];
          if ((table !== 0 && table !== 1 && table !== 2) || !Array.isArray(page['rows'])) {
            throw new SnapshotFormatError(`snapshot of group ${this.groupId}: a malformed client-sessions record`);
          }
          return this.sessions.importPage(table, page['rows'] as Record<string, unknown>[]);
        }
        const t = tables[page['table'] as number];
        if (page['kind'] !== 'rows' || t === undefined || !Array.isArray(page['rows'])) {
          throw new SnapshotFormatError(`snapshot of group ${this.groupId}: a record that is not a page of its rows`);
        }
        // Another group of this node may have dropped the (then empty) physical table between two pieces.
        this.store.physical.ensure(t);
        for (const row of page['rows'] as Record<string, unknown>[]) {
          const names = Object.keys(row);
          this.store
            .prepare(
              `INSERT INTO "${physicalName(t)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
            )
            .run(...names.map((n) => row[n] as string | number | null));
        }
      },
      finish: () => cold.finish(),
    };
  }
}

export class UserDataStateMachine extends DataStateMachine<UserDataCommand> {
  constructor(
    store: DataStore,
    readonly shard: number,
    private readonly router: ShardRouter,
    feed: ChangeFeed | null = null,
    cold: ColdStore = new ColdStore(store, null),
    options: StateMachineOptions = {},
  ) {
    super(store, 100 + shard, feed, cold, options);
  }

  protected check(value: unknown): UserDataCommand {
    return checkUserDataCommand(value);
  }

  protected ownsScope(scope: string): boolean {
    return scope !== '' && this.router.userShard(scope) === this.shard;
  }

  private scope(userId: string): Scope {
    if (this.router.userShard(userId) !== this.shard) {
      throw new ApplyError('INVALID', `user ${userId} does not belong to shard ${this.shard}`);
    }
    return { kind: 'user', userId, shard: this.shard };
  }

  protected applyCommand(cmd: UserDataCommand): DataResponse {
    switch (cmd.type) {
      case 'Insert': {
        const scope = this.scope(cmd.userId);
        return { type: 'RowsAffected', count: this.write(this.target(cmd, true), scope, cmd, { rows: cmd.rows }) };
      }
      case 'Update': {
        const scope = this.scope(cmd.userId);
        const op = { updates: cmd.updates, computed: cmd.computed ?? [], filter: cmd.filter };
        return { type: 'RowsAffected', count: this.write(this.target(cmd, true), scope, cmd, op) };
      }
      case 'Delete': {
        const scope = this.scope(cmd.userId);
        const op = { updates: null, filter: cmd.filter };
        return { type: 'RowsAffected', count: this.write(this.target(cmd, true), scope, cmd, op) };
      }
      case 'RegisterLiveQuery':
        return this.register(cmd);
      case 'UnregisterLiveQuery': {
        const r = this.store
          .prepare('DELETE FROM sys_live_queries WHERE subscription_id = ? AND user_id = ?')
          .run(cmd.subscriptionId, cmd.userId);
        if (r.changes > 0) {
          const ids = [cmd.subscriptionId];
          this.feed?.push({ kind: 'unregistered', groupId: this.groupId, subscriptionIds: ids, cause: 'unregister' });
        }
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'CleanupNodeSubscriptions': {
        const ids = this.store
          .prepare<[string, number, number], { subscription_id: string }>(
            'SELECT subscription_id FROM sys_live_queries WHERE user_id = ? AND node_id = ? AND shard = ?',
          )
          .all(cmd.userId, cmd.failedNodeId, this.shard)
          .map((r) => r.subscription_id);
        const r = this.store
          .prepare('DELETE FROM sys_live_queries WHERE user_id = ? AND node_id = ? AND shard = ?')
          .run(cmd.userId, cmd.failedNodeId, this.shard);
        if (ids.length > 0) {
          this.feed?.push({ kind: 'unregistered', groupId: this.groupId, subscriptionIds: ids, cause: 'cleanup' });
        }
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'PingLiveQuery': {
        const r = this.store
          .prepare('UPDATE sys_live_queries SET last_ping_at = ? WHERE subscription_id = ? AND user_id = ?')
          .run(cmd.pingedAt, cmd.subscriptionId, cmd.userId);
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'PingLiveQueries': {
        if (cmd.subscriptionIds.length > LIVE_LIMITS.subscriptionsPerUserMax) {
          throw new ApplyError('LIMIT_EXCEEDED', `more than ${LIVE_LIMITS.subscriptionsPerUserMax} ids in one ping`);
        }
        const stmt = this.store.prepare(
          'UPDATE sys_live_queries SET last_ping_at = ? WHERE subscription_id = ? AND user_id = ?',
        );
        const found = cmd.subscriptionIds.filter((id) => stmt.run(cmd.pingedAt, id, cmd.userId).changes > 0);
        return { type: 'LiveQueriesPinged', subscriptionIds: found };
      }
      case 'FlushRows':
      case 'RewriteFiles': {
        const scope = this.scope(cmd.userId);
        return this.applyJob(this.target(cmd, true), scope, cmd);
      }
    }
  }

  /** RegisterLiveQuery: the table (of either kind) must be in the view, as the incarnation it was planned against. */
  private register(cmd: Extract<UserDataCommand, { type: 'RegisterLiveQuery' }>): DataResponse {
    this.scope(cmd.userId);
    const t = this.view.table(cmd.tableId);
    if (t === undefined || (cmd.incarnation !== undefined && cmd.incarnation !== t.incarnation)) {
      throw new ApplyError('TABLE_NOT_FOUND', `table ${cmd.tableId} does not exist`);
    }
    const held = this.store
      .prepare<[string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM sys_live_queries WHERE user_id = ? AND subscription_id != ?',
      )
      .get(cmd.userId, cmd.subscriptionId);
    if ((held?.n ?? 0) >= LIVE_LIMITS.subscriptionsPerUserMax) {
      throw new ApplyError(
        'LIMIT_EXCEEDED',
        `user ${cmd.userId} already holds ${LIVE_LIMITS.subscriptionsPerUserMax} live queries (the limit per user)`,
      );
    }
    this.store
      .prepare(
        'INSERT OR REPLACE INTO sys_live_queries (subscription_id, user_id, shard, query_hash, table_id, filter_json, node_id, created_at, last_ping_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        cmd.subscriptionId,
        cmd.userId,
        this.shard,
        cmd.queryHash,
        cmd.tableId,
        cmd.filter === null ? null : JSON.stringify(cmd.filter),
        cmd.nodeId,
        cmd.createdAt,
        cmd.createdAt,
      );
    return { type: 'Subscribed', subscriptionId: cmd.subscriptionId };
  }

  /** A purged incarnation's live queries end too: every registration of its table here belongs to it. */
  protected override purge(t: TableInfo): void {
    super.purge(t);
    const ids = this.store
      .prepare<[number, string], { subscription_id: string }>(
        'SELECT subscription_id FROM sys_live_queries WHERE shard = ? AND table_id = ? ORDER BY subscription_id',
      )
      .all(this.shard, t.tableId)
      .map((r) => r.subscription_id);
    if (ids.length === 0) return;
    this.store.prepare('DELETE FROM sys_live_queries WHERE shard = ? AND table_id = ?').run(this.shard, t.tableId);
    this.feed?.push({ kind: 'unregistered', groupId: this.groupId, subscriptionIds: ids, cause: 'dropped' });
  }

  protected inScope(t: TableInfo): boolean {
    return isPerUser(t.tableType);
  }

  protected scopeWhere(): { sql: string; args: (string | number)[] } {
    return { sql: '"_shard" = ?', args: [this.shard] };
  }

  protected exportState(): unknown {
    const liveQueries = this.store
      .prepare('SELECT * FROM sys_live_queries WHERE shard = ? ORDER BY subscription_id')
      .all(this.shard);
    return { ...this.exportData(), liveQueries };
  }

  protected override importOwn(state: unknown): void {
    const s = state as { liveQueries: Record<string, unknown>[] };
    this.store.prepare('DELETE FROM sys_live_queries WHERE shard = ?').run(this.shard);
    for (const r of s.liveQueries) {
      const names = Object.keys(r);
      this.store
        .prepare(`INSERT INTO sys_live_queries (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`)
        .run(...names.map((n) => r[n] as string | number | null));
    }
  }

  /** The live queries registered in this shard (for system.live_queries), by subscription id. */
  liveQueries(): Record<string, Value>[] {
    this.checkReadable();
    return this.store
      .prepare<[number], Record<string, Value>>(
        'SELECT subscription_id, user_id, shard, query_hash, table_id, filter_json, node_id, created_at, last_ping_at FROM sys_live_queries WHERE shard = ? ORDER BY subscription_id',
      )
      .all(this.shard);
  }

  /** A user's live row with this primary key, for point reads. */
  userRowByKey(tableId: string, userId: string, key: Value): Record<string, Value> | undefined {
    const t = this.rows.current(tableId, true);
    const r = this.rows.byKey(t, this.scope(userId), key);
    return r === undefined ? undefined : { ...r.values, _seq: r.seq };
  }

  /** A user's live rows of a table, for reads (the executor adds the read point). */
  userRows(tableId: string, userId: string): Record<string, Value>[] {
    return liveRows(this.rows.scan(this.rows.current(tableId, true), this.scope(userId)));
  }

  /** A user's first `n` live rows of a table in primary-key order (Rows.livePrefix), for reads that need no more. */
  userRowsPrefix(tableId: string, userId: string, n: number): Record<string, Value>[] {
    return liveRows(this.rows.livePrefix(this.rows.current(tableId, true), this.scope(userId), n));
  }

  /** A user's live rows of a table that `keep` accepts, at most `max` (Rows.liveHot); undefined: use userRows. */
  userRowsWhere(
    tableId: string,
    userId: string,
    keep: (row: Record<string, Value>) => boolean,
    max: number,
  ): Record<string, Value>[] | undefined {
    const rows = this.rows.liveHot(this.rows.current(tableId, true), this.scope(userId), (r) => keep(withSeq(r)), max);
    return rows === undefined ? undefined : liveRows(rows);
  }

  /** How many live rows a user has in a table, without reading them (Rows.liveCount). */
  userRowCount(tableId: string, userId: string): number {
    return this.rows.liveCount(this.rows.current(tableId, true), this.scope(userId));
  }
}

export class SharedDataStateMachine extends DataStateMachine<SharedDataCommand> {
  constructor(
    store: DataStore,
    readonly shard: number,
    feed: ChangeFeed | null = null,
    cold: ColdStore = new ColdStore(store, null),
    options: StateMachineOptions = {},
  ) {
    super(store, 200 + shard, feed, cold, options);
  }

  protected check(value: unknown): SharedDataCommand {
    return checkSharedDataCommand(value);
  }

  protected ownsScope(scope: string): boolean {
    return scope === '';
  }

  protected applyCommand(cmd: SharedDataCommand): DataResponse {
    const scope: Scope = { kind: 'shared' };
    const t = this.target(cmd, false);
    switch (cmd.type) {
      case 'FlushRows':
      case 'RewriteFiles':
        return this.applyJob(t, scope, cmd);
      case 'Insert':
        return { type: 'RowsAffected', count: this.write(t, scope, cmd, { rows: cmd.rows }) };
      case 'Update':
        return { type: 'RowsAffected', count: this.write(t, scope, cmd, cmd) };
      case 'Delete':
        return { type: 'RowsAffected', count: this.write(t, scope, cmd, { updates: null, filter: cmd.filter }) };
    }
  }

  protected inScope(t: TableInfo): boolean {
    return !isPerUser(t.tableType);
  }

  protected scopeWhere(): { sql: string; args: (string | number)[] } {
    return { sql: '1 = 1', args: [] };
  }

  protected exportState(): unknown {
    return this.exportData();
  }

  rowByKey(tableId: string, key: Value): Record<string, Value> | undefined {
    const t = this.rows.current(tableId, false);
    const r = this.rows.byKey(t, { kind: 'shared' }, key);
    return r === undefined ? undefined : { ...r.values, _seq: r.seq };
  }

  rowsOf(tableId: string): Record<string, Value>[] {
    return liveRows(this.rows.scan(this.rows.current(tableId, false), { kind: 'shared' }));
  }

  /** A shared table's first `n` live rows in primary-key order (Rows.livePrefix), for reads that need no more. */
  rowsPrefix(tableId: string, n: number): Record<string, Value>[] {
    return liveRows(this.rows.livePrefix(this.rows.current(tableId, false), { kind: 'shared' }, n));
  }

  /** A shared table's live rows that `keep` accepts, at most `max` (Rows.liveHot); undefined: use rowsOf. */
  rowsWhere(
    tableId: string,
    keep: (row: Record<string, Value>) => boolean,
    max: number,
  ): Record<string, Value>[] | undefined {
    const rows = this.rows.liveHot(this.rows.current(tableId, false), { kind: 'shared' }, (r) => keep(withSeq(r)), max);
    return rows === undefined ? undefined : liveRows(rows);
  }

  /** How many live rows a shared table has, without reading them (Rows.liveCount). */
  rowCount(tableId: string): number {
    return this.rows.liveCount(this.rows.current(tableId, false), { kind: 'shared' });
  }
}
