/**
 * PhysicalTables: which SQLite tables of table incarnations exist in this node's data.db, and their columns. This is
 * node-local bookkeeping, not replicated state: a physical table is made whenever something needs it — meta:system
 * applying CreateTable or ALTER TABLE, a data group writing or restoring rows of an incarnation its node's meta:system
 * does not know yet — and dropped only when it is both dead (meta:system dropped the incarnation) and empty (every
 * data group of this node has purged its rows). No group's restore ever drops another group's rows.
 *
 * Each table has the indexes jobs plan with (tables.ts `jobIndexSql`): made with the table, and made on the first
 * `ensure` of this process when missing (a data.db written before they existed gets them at its table's next write).
 *
 * What exists is remembered in memory; SQLite DDL is transactional, so whoever rolls a transaction back calls
 * `forget()` and the next look asks SQLite again.
 */
import type { Database as Db } from 'better-sqlite3';

import { addColumnSql, createTableSql, jobIndexSql, physicalName } from './tables.js';
import type { PhysicalSpec, TableRef } from './tables.js';

export class PhysicalTables {
  /** physical name → its columns, for tables known to exist. */
  private readonly known = new Map<string, Set<string>>();
  /** Physical names whose job indexes are known to exist. */
  private readonly indexed = new Set<string>();

  constructor(private readonly db: Db) {}

  /** The physical table of `t` exists and has every column of `t.schema` (adds what is missing). */
  ensure(t: PhysicalSpec): void {
    const name = physicalName(t);
    let cols = this.columns(name);
    if (cols === undefined) {
      this.db.exec(createTableSql(t));
      cols = this.columns(name)!;
    }
    if (!this.indexed.has(name)) {
      for (const sql of jobIndexSql(t)) this.db.exec(sql);
      this.indexed.add(name);
    }
    if (t.schema.columns.every((c) => cols.has(c.name))) return;
    for (const sql of addColumnSql(t, cols)) this.db.exec(sql);
    this.known.delete(name);
  }

  exists(t: TableRef): boolean {
    return this.columns(physicalName(t)) !== undefined;
  }

  /** Drops the physical table of `t` when it holds no row (the caller knows meta:system dropped the incarnation). */
  dropIfEmpty(t: TableRef): void {
    const name = physicalName(t);
    if (this.columns(name) === undefined) return;
    if (this.db.prepare(`SELECT 1 FROM "${name}" LIMIT 1`).get() !== undefined) return;
    this.db.exec(`DROP TABLE "${name}"`);
    this.known.delete(name);
    this.indexed.delete(name);
  }

  /** Every physical table of an incarnation in data.db. */
  names(): string[] {
    return this.db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'kt\\_%' ESCAPE '\\' ORDER BY name",
      )
      .all()
      .map((r) => r.name);
  }

  /** A transaction that may have made or dropped tables rolled back: ask SQLite again next time. */
  forget(): void {
    this.known.clear();
    this.indexed.clear();
  }

  private columns(name: string): Set<string> | undefined {
    const known = this.known.get(name);
    if (known !== undefined) return known;
    const rows = this.db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name}')`).all();
    if (rows.length === 0) return undefined;
    const cols = new Set(rows.map((r) => r.name));
    this.known.set(name, cols);
    return cols;
  }
}
