/**
 * GroupView: a data group's meta horizon and its view of the catalog — part of the group's replicated state.
 *
 * The horizon is the highest `metaIndex` among the commands the group has applied. Before a command applies, the
 * horizon moves up to its `metaIndex` (never down) and the view becomes the catalog as of the new horizon
 * (catalog.ts `asOf`); every incarnation that left the view — dropped at an index the horizon has now passed — is
 * purged from the group right there (its rows, flushed files, change-log entries and live-query registrations).
 * Everything the group does is then judged against its view alone: which tables exist, their incarnation and schema.
 *
 * So a data group's state is a function of its own log — the horizon moves only with the group's own entries, and the
 * catalog as of an index is the same on every replica — never of how far this node's meta:system happens to be when
 * the entry applies. That is what lets snapshots and entries of different groups arrive in any order on a node that
 * rebuilds itself (test/compose.test.ts). The driver holds an entry (canApply) until the local meta:system has
 * applied its `metaIndex`, so the catalog as of the new horizon is known when it is read.
 */
import type { Catalog, TableInfo } from '../catalog.js';
import { toInfo } from '../catalog.js';
import type { DataStore } from '../store.js';
import { sameTable } from '../tables.js';

/** A view as a snapshot carries it. */
export interface ViewDump {
  readonly horizon: number;
  readonly tables: readonly {
    readonly tableId: string;
    readonly incarnation: number;
    readonly tableType: string;
    readonly version: number;
    readonly schema: unknown;
  }[];
}

export class GroupView {
  /** Cached: the horizon, and the view by table id (dropped by `forget` when a transaction rolls back). */
  private horizonCache: number | undefined;
  private tablesCache: Map<string, TableInfo> | undefined;

  constructor(
    private readonly store: DataStore,
    private readonly groupId: number,
    private readonly catalog: Catalog,
  ) {}

  horizon(): number {
    if (this.horizonCache === undefined) {
      const r = this.store
        .prepare<[number], { meta_horizon: number }>('SELECT meta_horizon FROM group_horizon WHERE group_id = ?')
        .get(this.groupId);
      this.horizonCache = r?.meta_horizon ?? 0;
    }
    return this.horizonCache;
  }

  /** The incarnation of `tableId` in the view, if any. */
  table(tableId: string): TableInfo | undefined {
    return this.byId().get(tableId);
  }

  /** The view, by table id. */
  tables(): TableInfo[] {
    return [...this.byId().values()];
  }

  /**
   * Moves the horizon up to `metaIndex` (the local meta:system must have applied it); calls `purge` for each
   * incarnation that leaves the view, before the view changes.
   */
  advance(metaIndex: number, purge: (t: TableInfo) => void): void {
    const from = this.horizon();
    if (metaIndex <= from) return;
    if (this.catalog.changedIn(from, metaIndex)) {
      const next = this.catalog.asOf(metaIndex);
      for (const t of this.tables()) if (!next.some((n) => sameTable(n, t))) purge(t);
      this.replace(next);
    }
    this.setHorizon(metaIndex);
  }

  dump(): ViewDump {
    return {
      horizon: this.horizon(),
      tables: this.tables().map((t) => ({
        tableId: t.tableId,
        incarnation: t.incarnation,
        tableType: t.tableType,
        version: t.version,
        schema: t.schema,
      })),
    };
  }

  /** Replaces the view by a snapshot's (inside the restore transaction). */
  load(dump: ViewDump): void {
    this.replace(
      dump.tables.map((t) =>
        toInfo({
          table_id: t.tableId,
          incarnation: t.incarnation,
          table_type: t.tableType,
          version: t.version,
          schema_json: JSON.stringify(t.schema),
        }),
      ),
    );
    this.setHorizon(dump.horizon);
  }

  forget(): void {
    this.horizonCache = undefined;
    this.tablesCache = undefined;
  }

  private byId(): Map<string, TableInfo> {
    if (this.tablesCache === undefined) {
      const rows = this.store
        .prepare<
          [number],
          { table_id: string; incarnation: number; table_type: string; version: number; schema_json: string }
        >(
          'SELECT table_id, incarnation, table_type, version, schema_json FROM group_tables WHERE group_id = ? ORDER BY table_id',
        )
        .all(this.groupId);
      this.tablesCache = new Map(rows.map((r) => [r.table_id, toInfo(r)]));
    }
    return this.tablesCache;
  }

  private replace(tables: readonly TableInfo[]): void {
    this.store.prepare('DELETE FROM group_tables WHERE group_id = ?').run(this.groupId);
    const put = this.store.prepare(
      'INSERT INTO group_tables (group_id, table_id, incarnation, table_type, version, schema_json) VALUES (?, ?, ?, ?, ?, ?)',
    );
    for (const t of tables) {
      put.run(this.groupId, t.tableId, t.incarnation, t.tableType, t.version, JSON.stringify(t.schema));
    }
    this.tablesCache = new Map(tables.map((t) => [t.tableId, t]));
  }

  private setHorizon(horizon: number): void {
    this.store
      .prepare(
        'INSERT INTO group_horizon (group_id, meta_horizon) VALUES (?, ?) ON CONFLICT (group_id) DO UPDATE SET meta_horizon = excluded.meta_horizon',
      )
      .run(this.groupId, horizon);
    this.horizonCache = horizon;
  }
}
