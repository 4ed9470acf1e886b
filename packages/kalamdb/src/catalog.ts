/** Reads of the table catalog (`sys_tables`, owned by meta:system) that the data state machines need. */
import type { TableSchema, TableType } from './commands.js';
import type { DataStore } from './store.js';

export interface TableInfo {
  readonly tableId: string;
  readonly tableType: TableType;
  readonly schema: TableSchema;
  readonly version: number;
}

interface TableRow {
  table_id: string;
  table_type: string;
  schema_json: string;
  version: number;
}

export class Catalog {
  private readonly byId;
  private readonly all;

  constructor(private readonly store: DataStore) {
    this.byId = store.prepare<[string], TableRow>(
      'SELECT table_id, table_type, schema_json, version FROM sys_tables WHERE table_id = ?',
    );
    this.all = store.prepare<[], TableRow>(
      'SELECT table_id, table_type, schema_json, version FROM sys_tables ORDER BY table_id',
    );
  }

  table(tableId: string): TableInfo | undefined {
    const r = this.byId.get(tableId);
    return r === undefined ? undefined : toInfo(r);
  }

  tables(): TableInfo[] {
    return this.all.all().map(toInfo);
  }
}

function toInfo(r: TableRow): TableInfo {
  return {
    tableId: r.table_id,
    tableType: r.table_type as TableType,
    schema: JSON.parse(r.schema_json) as TableSchema,
    version: r.version,
  };
}
