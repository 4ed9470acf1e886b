/**
 * The data groups: a user shard (USER and STREAM table rows of the users routed to it, and their live
 * queries) and a shared shard (SHARED table rows). Writes are soft: a delete sets `_deleted`; every written
 * row gets the next `_seq`: the command's `seqBase`, or past the group's high-water mark when that is lower
 * (live/changelog.ts), so `_seq` increases in commit order per group and every replica agrees on it. Each written
 * row is also a RowChange: recorded in the group's change log and reported to the node's ChangeFeed after commit.
 *
 * Cross-group order (DESIGN.md §6): a data command carries the meta:system index it was planned against;
 * `canApply` holds the group until this node's meta:system has applied that index — the group pauses, it
 * never skips.
 */
import type { AppliedEntry } from '@kalam/multiraft';
import { matches } from '@kalam/sql';
import { Catalog } from '../catalog.js';
import type { TableInfo } from '../catalog.js';
import { decodeCommand } from '../codec.js';
import type {
  DataResponse,
  Filter,
  Row,
  SharedDataCommand,
  TableSchema,
  TableType,
  UserDataCommand,
  Value,
} from '../commands.js';
import { ChangeLog } from '../live/changelog.js';
import type { ChangeLogDump } from '../live/changelog.js';
import type { ChangeFeed } from '../live/feed.js';
import { LIVE_LIMITS } from '../live/limits.js';
import type { RowChange } from '../live/types.js';
import type { ShardRouter } from '../shard-router.js';
import type { DataStore } from '../store.js';
import { addColumnSql, checkRow, createTableSql, fromSqlite, isPerUser, physicalName, toSqlite } from '../tables.js';
import { ApplyError, KalamStateMachine } from './base.js';

/** Whose rows a command touches: one user's in a user shard, or all rows of a shared table. */
type Scope = { readonly kind: 'user'; readonly userId: string; readonly shard: number } | { readonly kind: 'shared' };

interface StoredRow {
  readonly values: Record<string, Value>;
  readonly seq: number;
  readonly deleted: boolean;
}

/** Row operations over the physical tables, shared by both data state machines. */
class Rows {
  constructor(
    private readonly store: DataStore,
    private readonly catalog: Catalog,
  ) {}

  table(tableId: string, wantPerUser: boolean): TableInfo {
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

  /** Every row in scope, deleted ones included, in primary-key order. */
  scan(t: TableInfo, scope: Scope): StoredRow[] {
    const w = this.where(scope);
    const pk = t.schema.primaryKey;
    const rows = this.store.db
      .prepare(`SELECT * FROM "${physicalName(t.tableId)}" WHERE ${w.sql} ORDER BY "${pk}"`)
      .all(...w.args) as Record<string, unknown>[];
    return rows.map((r) => toStored(t.schema, r));
  }

  /** The live row with this primary key in scope, if any (an index probe). */
  byKey(t: TableInfo, scope: Scope, key: Value): StoredRow | undefined {
    const w = this.where(scope);
    const r = this.store.db
      .prepare(
        `SELECT * FROM "${physicalName(t.tableId)}" WHERE ${w.sql} AND "${t.schema.primaryKey}" = ? AND "_deleted" = 0`,
      )
      .get(...w.args, toSqlite(key)) as Record<string, unknown> | undefined;
    return r === undefined ? undefined : toStored(t.schema, r);
  }

  insert(t: TableInfo, scope: Scope, rows: readonly Row[], seqBase: number, out: RowChange[]): number {
    const cols = t.schema.columns.map((c) => c.name);
    const perUser = scope.kind === 'user';
    const names = [...cols, '_seq', '_deleted', ...(perUser ? ['_user_id', '_shard'] : [])];
    const stmt = this.store.db.prepare(
      `INSERT OR REPLACE INTO "${physicalName(t.tableId)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    );
    // One primary-key lookup per row (an index probe), not a scan of the table.
    const w = this.where(scope);
    const pk = t.schema.primaryKey;
    const live = this.store.db.prepare(
      `SELECT 1 FROM "${physicalName(t.tableId)}" WHERE ${w.sql} AND "${pk}" = ? AND "_deleted" = 0`,
    );
    const seen = new Set<string>();
    rows.forEach((row, i) => {
      const full = withDefaults(t.schema, row);
      const problem = checkRow(t.schema, full);
      if (problem !== null) throw new ApplyError('INVALID', `row ${i + 1}: ${problem}`);
      const key = JSON.stringify(full[pk]);
      if (seen.has(key) || live.get(...w.args, toSqlite(full[pk] ?? null)) !== undefined) {
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
    filter: Filter | null,
    seqBase: number,
    out: RowChange[],
  ): number {
    if (updates !== null) {
      for (const k of Object.keys(updates)) {
        if (!t.schema.columns.some((c) => c.name === k)) throw new ApplyError('INVALID', `unknown column ${k}`);
        if (k === t.schema.primaryKey) throw new ApplyError('INVALID', `the primary key ${k} cannot be updated`);
      }
    }
    const target = this.scan(t, scope).filter((r) => !r.deleted && (filter === null || matches(filter, r.values)));
    const pk = t.schema.primaryKey;
    const w = this.where(scope);
    const sets = updates === null ? ['"_deleted" = 1'] : Object.keys(updates).map((k) => `"${k}" = ?`);
    const stmt = this.store.db.prepare(
      `UPDATE "${physicalName(t.tableId)}" SET ${[...sets, '"_seq" = ?'].join(', ')} WHERE ${w.sql} AND "${pk}" = ?`,
    );
    target.forEach((r, i) => {
      if (updates !== null) {
        const problem = checkRow(t.schema, { ...r.values, ...updates });
        if (problem !== null) throw new ApplyError('INVALID', problem);
      }
      const vals = updates === null ? [] : Object.values(updates).map(toSqlite);
      stmt.run(...vals, seqBase + i, ...w.args, toSqlite(r.values[pk] ?? null));
      out.push({
        seq: seqBase + i,
        tableId: t.tableId,
        userId: userOf(scope),
        changeType: updates === null ? 'delete' : 'update',
        row: updates === null ? r.values : { ...r.values, ...updates },
        old: { ...r.values, _seq: r.seq },
      });
    });
    return target.length;
  }
}

function userOf(scope: Scope): string | null {
  return scope.kind === 'user' ? scope.userId : null;
}

function withDefaults(schema: TableSchema, row: Row): Record<string, Value> {
  const out: Record<string, Value> = { ...row };
  for (const c of schema.columns) {
    if (out[c.name] === undefined && c.default !== null && 'literal' in c.default) out[c.name] = c.default.literal;
  }
  return out;
}

function toStored(schema: TableSchema, r: Record<string, unknown>): StoredRow {
  const values: Record<string, Value> = {};
  for (const c of schema.columns) values[c.name] = fromSqlite(c, r[c.name]);
  return { values, seq: Number(r._seq), deleted: r._deleted === 1 };
}

/** What a data shard's snapshot holds for one table. */
interface TableDump {
  tableId: string;
  tableType: TableType;
  schema: TableSchema;
  rows: Record<string, unknown>[];
}

abstract class DataStateMachine<
  C extends { readonly type: string; readonly metaIndex?: number },
> extends KalamStateMachine<C, DataResponse> {
  protected readonly catalog: Catalog;
  protected readonly rows: Rows;
  protected readonly changeLog: ChangeLog;

  constructor(
    store: DataStore,
    groupId: number,
    /** Where applied changes are reported (after commit); null: nobody listens (tests, the simulator). */
    protected readonly feed: ChangeFeed | null,
  ) {
    super(store, groupId);
    this.catalog = new Catalog(store);
    this.rows = new Rows(store, this.catalog);
    this.changeLog = new ChangeLog(store.db);
  }

  override apply(entries: readonly AppliedEntry[]): unknown[] {
    let responses: unknown[];
    try {
      responses = super.apply(entries);
    } catch (err) {
      this.feed?.discard();
      throw err;
    }
    this.feed?.flush();
    return responses;
  }

  override restore(snapshot: { index: number; term: number; data: Uint8Array }): void {
    super.restore(snapshot);
    this.feed?.push({ kind: 'restored', groupId: this.groupId });
    this.feed?.flush();
  }

  /** Inserts, updates or soft-deletes (`updates` null) rows: `_seq` assigned, changes logged and reported. */
  protected write(
    t: TableInfo,
    scope: Scope,
    cmd: { readonly seqBase: number },
    op: { readonly rows: readonly Row[] } | { readonly updates: Row | null; readonly filter: Filter | null },
  ): number {
    const changes: RowChange[] = [];
    const seqBase = this.changeLog.seqBase(this.groupId, cmd.seqBase);
    if ('rows' in op) this.rows.insert(t, scope, op.rows, seqBase, changes);
    else this.rows.modify(t, scope, op.updates, op.filter, seqBase, changes);
    this.changeLog.record(this.groupId, changes);
    if (changes.length > 0) this.feed?.push({ kind: 'changes', groupId: this.groupId, changes });
    return changes.length;
  }

  /** Every change of `tableId` (and `userId`) after `afterSeq` still in the change log, or 'trimmed'. */
  changesAfter(tableId: string, userId: string | null, afterSeq: number): RowChange[] | 'trimmed' {
    return this.changeLog.changesAfter(this.groupId, tableId, userId, afterSeq);
  }

  /** The highest `_seq` this group has assigned (its state is exactly "every change up to here"). */
  lastSeq(): number {
    return this.changeLog.state(this.groupId).lastSeq;
  }

  /** Holds the entry until this node's meta:system has applied the index it was planned against. */
  canApply(entry: AppliedEntry): boolean {
    if (entry.kind !== 'command') return true;
    let metaIndex: unknown;
    try {
      metaIndex = decodeCommand<C>(entry.data).metaIndex;
    } catch {
      return true; // apply() answers undecodable commands with an Error
    }
    return typeof metaIndex !== 'number' || this.store.appliedIndex(0) >= metaIndex;
  }

  protected abstract inScope(t: TableInfo): boolean;
  protected abstract scopeWhere(): { sql: string; args: (string | number)[] };

  protected dumpTables(): TableDump[] {
    return this.catalog
      .tables()
      .filter((t) => this.inScope(t))
      .map((t) => {
        const w = this.scopeWhere();
        const rows = this.store.db
          .prepare(`SELECT * FROM "${physicalName(t.tableId)}" WHERE ${w.sql} ORDER BY rowid`)
          .all(...w.args) as Record<string, unknown>[];
        return { tableId: t.tableId, tableType: t.tableType, schema: t.schema, rows };
      });
  }

  protected dumpChangeLog(): ChangeLogDump {
    return this.changeLog.dump(this.groupId);
  }

  protected loadChangeLog(dump: ChangeLogDump | undefined, tables: readonly TableDump[]): void {
    let maxSeq = 0;
    for (const d of tables) for (const r of d.rows) maxSeq = Math.max(maxSeq, Number(r['_seq'] ?? 0));
    this.changeLog.load(this.groupId, dump, maxSeq);
  }

  protected loadTables(dumps: readonly TableDump[]): void {
    const db = this.store.db;
    const w = this.scopeWhere();
    for (const t of this.catalog.tables())
      if (this.inScope(t)) db.prepare(`DELETE FROM "${physicalName(t.tableId)}" WHERE ${w.sql}`).run(...w.args);
    for (const d of dumps) {
      // The shard may be restored before this node's meta:system created the table: create it from the schema.
      db.exec(createTableSql(d.tableId, d.tableType, d.schema));
      // … or it may know an older schema: the snapshot's rows may carry columns added since.
      const have = db
        .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${physicalName(d.tableId)}')`)
        .all()
        .map((c) => c.name);
      for (const sql of addColumnSql(d.tableId, have, d.schema)) db.exec(sql);
      db.prepare(`DELETE FROM "${physicalName(d.tableId)}" WHERE ${w.sql}`).run(...w.args);
      for (const r of d.rows) {
        const names = Object.keys(r);
        db.prepare(
          `INSERT INTO "${physicalName(d.tableId)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
        ).run(...names.map((n) => r[n] as string | number | null));
      }
    }
  }
}

export class UserDataStateMachine extends DataStateMachine<UserDataCommand> {
  constructor(
    store: DataStore,
    readonly shard: number,
    private readonly router: ShardRouter,
    feed: ChangeFeed | null = null,
  ) {
    super(store, 100 + shard, feed);
  }

  private scope(userId: string): Scope {
    if (this.router.userShard(userId) !== this.shard) {
      throw new ApplyError('INVALID', `user ${userId} does not belong to shard ${this.shard}`);
    }
    return { kind: 'user', userId, shard: this.shard };
  }

  protected applyCommand(cmd: UserDataCommand): DataResponse {
    const db = this.store.db;
    switch (cmd.type) {
      case 'Insert': {
        const t = this.rows.table(cmd.tableId, true);
        return { type: 'RowsAffected', count: this.write(t, this.scope(cmd.userId), cmd, { rows: cmd.rows }) };
      }
      case 'Update': {
        const t = this.rows.table(cmd.tableId, true);
        const op = { updates: cmd.updates, filter: cmd.filter };
        return { type: 'RowsAffected', count: this.write(t, this.scope(cmd.userId), cmd, op) };
      }
      case 'Delete': {
        const t = this.rows.table(cmd.tableId, true);
        const op = { updates: null, filter: cmd.filter };
        return { type: 'RowsAffected', count: this.write(t, this.scope(cmd.userId), cmd, op) };
      }
      case 'RegisterLiveQuery': {
        this.scope(cmd.userId);
        const held = db
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
        db.prepare(
          'INSERT OR REPLACE INTO sys_live_queries (subscription_id, user_id, shard, query_hash, table_id, filter_json, node_id, created_at, last_ping_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ).run(
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
      case 'UnregisterLiveQuery': {
        const r = db
          .prepare('DELETE FROM sys_live_queries WHERE subscription_id = ? AND user_id = ?')
          .run(cmd.subscriptionId, cmd.userId);
        if (r.changes > 0) {
          const ids = [cmd.subscriptionId];
          this.feed?.push({ kind: 'unregistered', groupId: this.groupId, subscriptionIds: ids, cause: 'unregister' });
        }
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'CleanupNodeSubscriptions': {
        const ids = db
          .prepare<[string, number, number], { subscription_id: string }>(
            'SELECT subscription_id FROM sys_live_queries WHERE user_id = ? AND node_id = ? AND shard = ?',
          )
          .all(cmd.userId, cmd.failedNodeId, this.shard)
          .map((r) => r.subscription_id);
        const r = db
          .prepare('DELETE FROM sys_live_queries WHERE user_id = ? AND node_id = ? AND shard = ?')
          .run(cmd.userId, cmd.failedNodeId, this.shard);
        if (ids.length > 0) {
          this.feed?.push({ kind: 'unregistered', groupId: this.groupId, subscriptionIds: ids, cause: 'cleanup' });
        }
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'PingLiveQuery': {
        const r = db
          .prepare('UPDATE sys_live_queries SET last_ping_at = ? WHERE subscription_id = ? AND user_id = ?')
          .run(cmd.pingedAt, cmd.subscriptionId, cmd.userId);
        return { type: 'RowsAffected', count: r.changes };
      }
    }
  }

  protected inScope(t: TableInfo): boolean {
    return isPerUser(t.tableType);
  }

  protected scopeWhere(): { sql: string; args: (string | number)[] } {
    return { sql: '"_shard" = ?', args: [this.shard] };
  }

  protected exportState(): unknown {
    const liveQueries = this.store.db
      .prepare('SELECT * FROM sys_live_queries WHERE shard = ? ORDER BY subscription_id')
      .all(this.shard);
    return { tables: this.dumpTables(), liveQueries, changeLog: this.dumpChangeLog() };
  }

  protected importState(state: unknown): void {
    const s = state as { tables: TableDump[]; liveQueries: Record<string, unknown>[]; changeLog?: ChangeLogDump };
    this.loadTables(s.tables);
    this.loadChangeLog(s.changeLog, s.tables);
    const db = this.store.db;
    db.prepare('DELETE FROM sys_live_queries WHERE shard = ?').run(this.shard);
    for (const r of s.liveQueries) {
      const names = Object.keys(r);
      db.prepare(`INSERT INTO sys_live_queries (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`).run(
        ...names.map((n) => r[n] as string | number | null),
      );
    }
  }

  /** The live queries registered in this shard (for system.live_queries), by subscription id. */
  liveQueries(): Record<string, Value>[] {
    return this.store.db
      .prepare<[number], Record<string, Value>>(
        'SELECT subscription_id, user_id, shard, query_hash, table_id, filter_json, node_id, created_at, last_ping_at FROM sys_live_queries WHERE shard = ? ORDER BY subscription_id',
      )
      .all(this.shard);
  }

  /** A user's live row with this primary key, for point reads. */
  userRowByKey(tableId: string, userId: string, key: Value): Record<string, Value> | undefined {
    const t = this.rows.table(tableId, true);
    const r = this.rows.byKey(t, this.scope(userId), key);
    return r === undefined ? undefined : { ...r.values, _seq: r.seq };
  }

  /** A user's live rows of a table, for reads (the executor adds the read point). */
  userRows(tableId: string, userId: string): Record<string, Value>[] {
    const t = this.rows.table(tableId, true);
    return this.rows
      .scan(t, this.scope(userId))
      .filter((r) => !r.deleted)
      .map((r) => ({ ...r.values, _seq: r.seq }));
  }
}

export class SharedDataStateMachine extends DataStateMachine<SharedDataCommand> {
  constructor(
    store: DataStore,
    readonly shard: number,
    feed: ChangeFeed | null = null,
  ) {
    super(store, 200 + shard, feed);
  }

  protected applyCommand(cmd: SharedDataCommand): DataResponse {
    const scope: Scope = { kind: 'shared' };
    const t = this.rows.table(cmd.tableId, false);
    switch (cmd.type) {
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
    return { tables: this.dumpTables(), changeLog: this.dumpChangeLog() };
  }

  protected importState(state: unknown): void {
    const s = state as { tables: TableDump[]; changeLog?: ChangeLogDump };
    this.loadTables(s.tables);
    this.loadChangeLog(s.changeLog, s.tables);
  }

  rowByKey(tableId: string, key: Value): Record<string, Value> | undefined {
    const t = this.rows.table(tableId, false);
    const r = this.rows.byKey(t, { kind: 'shared' }, key);
    return r === undefined ? undefined : { ...r.values, _seq: r.seq };
  }

  rowsOf(tableId: string): Record<string, Value>[] {
    const t = this.rows.table(tableId, false);
    return this.rows
      .scan(t, { kind: 'shared' })
      .filter((r) => !r.deleted)
      .map((r) => ({ ...r.values, _seq: r.seq }));
  }
}
