/**
 * Reads of the table catalog (`sys_tables` and `sys_table_versions`, owned by meta:system). Two views of it:
 *
 * - the current catalog — every live incarnation with its latest schema — which statements are planned and reads are
 *   answered against (after a meta:system read barrier);
 * - the catalog as of a meta:system index, which a data group applies its entries against (state/view.ts): a data
 *   entry's outcome must not depend on how far this node's meta:system happens to be ahead of the data group, so a
 *   data group never looks at the current catalog while it applies.
 */
import type { TableSchema, TableType } from './commands.js';
import type { DataStore } from './store.js';
import type { TableRef } from './tables.js';

export interface TableInfo {
  readonly tableId: string;
  /** The meta:system index of the CreateTable entry that made this incarnation. */
  readonly incarnation: number;
  readonly tableType: TableType;
  readonly schema: TableSchema;
  readonly version: number;
}

interface TableRow {
  table_id: string;
  incarnation: number;
  table_type: string;
  schema_json: string;
  version: number;
}

const CURRENT =
  'SELECT table_id, incarnation, table_type, schema_json, version FROM sys_tables WHERE dropped_index IS NULL';

export class Catalog {
  constructor(private readonly store: DataStore) {}

  /** The live incarnation of `tableId`, if any. */
  table(tableId: string): TableInfo | undefined {
    const r = this.store.prepare<[string], TableRow>(`${CURRENT} AND table_id = ?`).get(tableId);
    return r === undefined ? undefined : toInfo(r);
  }

  /** The type of the live incarnation of `tableId`, if any: `table` without reading its schema. */
  tableType(tableId: string): TableType | undefined {
    const r = this.store
      .prepare<[string], { table_type: string }>(
        'SELECT table_type FROM sys_tables WHERE dropped_index IS NULL AND table_id = ?',
      )
      .get(tableId);
    return r === undefined ? undefined : (r.table_type as TableType);
  }

  /** Every live incarnation, by table id. */
  tables(): TableInfo[] {
    return this.store.prepare<[], TableRow>(`${CURRENT} ORDER BY table_id`).all().map(toInfo);
  }

  /** Every incarnation live at meta:system index `index`, with its schema as of `index`, by table id. */
  asOf(index: number): TableInfo[] {
    return this.store
      .prepare<[number, number, number], TableRow>(
        `SELECT t.table_id, t.incarnation, t.table_type, v.schema_json, v.version
           FROM sys_tables t JOIN sys_table_versions v ON v.table_id = t.table_id AND v.incarnation = t.incarnation
          WHERE t.incarnation <= ? AND (t.dropped_index IS NULL OR t.dropped_index > ?)
            AND v.version = (SELECT MAX(w.version) FROM sys_table_versions w
                              WHERE w.table_id = t.table_id AND w.incarnation = t.incarnation AND w.from_index <= ?)
          ORDER BY t.table_id`,
      )
      .all(index, index, index)
      .map(toInfo);
  }

  /** Whether the catalog changed by an entry in (after, upTo]: a table created, altered or dropped. */
  changedIn(after: number, upTo: number): boolean {
    const r = this.store
      .prepare<[number, number, number, number], { changed: number }>(
        `SELECT EXISTS (SELECT 1 FROM sys_table_versions WHERE from_index > ? AND from_index <= ?)
             OR EXISTS (SELECT 1 FROM sys_tables WHERE dropped_index > ? AND dropped_index <= ?) AS changed`,
      )
      .get(after, upTo, after, upTo);
    return r?.changed === 1;
  }

  /** Whether meta:system dropped this incarnation (false while this node's meta:system does not know it at all). */
  isDropped(t: TableRef): boolean {
    const r = this.store
      .prepare<[string, number], { dropped_index: number | null }>(
        'SELECT dropped_index FROM sys_tables WHERE table_id = ? AND incarnation = ?',
      )
      .get(t.tableId, t.incarnation);
    return r !== undefined && r.dropped_index !== null;
  }

  /** The storage a table incarnation's flushed files go to (its STORAGE_ID), if this node's catalog knows it. */
  storageOf(t: TableRef): string | undefined {
    const r = this.store
      .prepare<[string, number], { schema_json: string }>(
        'SELECT schema_json FROM sys_tables WHERE table_id = ? AND incarnation = ?',
      )
      .get(t.tableId, t.incarnation);
    return r === undefined ? undefined : (JSON.parse(r.schema_json) as TableSchema).options.storageId;
  }
}

export function toInfo(r: TableRow): TableInfo {
  return {
    tableId: r.table_id,
    incarnation: r.incarnation,
    tableType: r.table_type as TableType,
    schema: JSON.parse(r.schema_json) as TableSchema,
    version: r.version,
  };
}
