/**
 * Parquet encoding of flushed rows (hyparquet-writer to write, hyparquet to read). A file holds the table's columns
 * as they were when it was written, plus `_seq` (INT64) and `_deleted` (BOOLEAN): tombstones are flushed too, or a
 * deleted row's older flushed version would come back. Every column is optional (nullable).
 *
 * Contract: `encodeParquet` is a pure function of (columns, rows) — the same input gives the same bytes on every
 * node and every run (no clock, no host name in the metadata), which is what lets every replica write its own copy
 * of a flushed file from its own identical rows. `decodeParquet(encodeParquet(c, r))` returns `r`.
 *
 * `decodeParquet` is synchronous. hyparquet's `parquetRead`/`parquetReadObjects` are `async` functions (they await
 * the footer and each byte range even from an ArrayBuffer), so it uses the synchronous pieces instead:
 * `parquetMetadata` and `parquetSchema` from the package root, and `readColumn`, `getTreePath` and `DEFAULT_PARSERS`
 * through the package's `./src/*.js` export. Those are not its documented API: hyparquet's version is pinned exactly,
 * and the round-trip tests (test/cold-memory.test.ts) are what a version bump must pass.
 */
import { parquetMetadata, parquetSchema } from 'hyparquet';
import { readColumn } from 'hyparquet/src/column.js';
import { DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { getTreePath } from 'hyparquet/src/schema.js';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';

import type { Value } from '../commands.js';

/** One stored version of a row: the table's values, its `_seq` and whether it is a tombstone. */
export interface ColdRow {
  readonly values: Readonly<Record<string, Value>>;
  readonly seq: number;
  readonly deleted: boolean;
}

/** A column as a file stores it: its name and its Kalam SQL type. */
export interface ColdColumn {
  readonly name: string;
  readonly type: string;
}

/** Written into every file's created_by: fixed, so files are byte-identical across nodes. */
const CREATED_BY = 'kalam';

export class ParquetCodecError extends Error {
  override readonly name = 'ParquetCodecError';
  readonly code = 'PARQUET_CODEC';
}

type ParquetKind = 'INT64' | 'DOUBLE' | 'BOOLEAN' | 'STRING';

function kindOf(type: string): ParquetKind {
  switch (type) {
    case 'BIGINT':
    case 'INT':
    case 'SMALLINT':
    case 'TIMESTAMP':
      return 'INT64';
    case 'DOUBLE':
    case 'FLOAT':
      return 'DOUBLE';
    case 'BOOLEAN':
      return 'BOOLEAN';
    default:
      return 'STRING';
  }
}

function toParquet(kind: ParquetKind, v: Value): unknown {
  if (v === null) return null;
  switch (kind) {
    case 'INT64':
      return BigInt(v);
    case 'DOUBLE':
      return Number(v);
    case 'BOOLEAN':
      return v === true;
    case 'STRING':
      return typeof v === 'string' ? v : JSON.stringify(v);
  }
}

function fromParquet(kind: ParquetKind, v: unknown): Value {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'INT64':
      return Number(v);
    case 'DOUBLE':
      return Number(v);
    case 'BOOLEAN':
      return v === true;
    case 'STRING':
      return typeof v === 'string' ? v : JSON.stringify(v);
  }
}

/** The Parquet bytes of `rows` under `columns` (deterministic; see the module comment). */
export function encodeParquet(columns: readonly ColdColumn[], rows: readonly ColdRow[]): Uint8Array {
  const columnData: ColumnSource[] = columns.map((c) => {
    const kind = kindOf(c.type);
    return { name: c.name, type: kind, data: rows.map((r) => toParquet(kind, r.values[c.name] ?? null)) };
  });
  columnData.push(
    { name: '_seq', type: 'INT64', data: rows.map((r) => BigInt(r.seq)) },
    { name: '_deleted', type: 'BOOLEAN', data: rows.map((r) => r.deleted) },
  );
  return new Uint8Array(parquetWriteBuffer({ columnData, createdBy: CREATED_BY }));
}

/**
 * The rows of a file written by `encodeParquet`, in file order — synchronously (a state machine reads flushed files
 * while it applies). hyparquet's readers are async only because they fetch byte ranges through an AsyncBuffer; with
 * the whole file in memory its own building blocks are synchronous: the footer (`parquetMetadata`), then every column
 * chunk of every row group decoded by `readColumn` exactly as hyparquet's `readRowGroup` sets it up.
 */
export function decodeParquet(columns: readonly ColdColumn[], bytes: Uint8Array): ColdRow[] {
  let objects: Record<string, unknown>[];
  try {
    objects = readObjects(bytes);
  } catch (cause) {
    throw new ParquetCodecError(
      `cannot read a Parquet file: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
  return objects.map((o) => {
    const values: Record<string, Value> = {};
    for (const c of columns) values[c.name] = fromParquet(kindOf(c.type), o[c.name]);
    if (typeof o['_seq'] !== 'bigint') throw new ParquetCodecError('a Parquet row has no _seq');
    return { values, seq: Number(o['_seq']), deleted: o['_deleted'] === true };
  });
}

/** Every row of a flat Parquet file as an object keyed by column name (no nested columns: Kalam writes none). */
function readObjects(bytes: Uint8Array): Record<string, unknown>[] {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(buffer);
  const tree = parquetSchema(metadata);
  const rows: Record<string, unknown>[] = [];
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    const out = Array.from({ length: groupRows }, (): Record<string, unknown> => ({}));
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (meta === undefined) throw new Error('a column chunk has no metadata');
      if (meta.path_in_schema.length !== 1) throw new Error(`nested column ${meta.path_in_schema.join('.')}`);
      const schemaPath = getTreePath(tree, meta.path_in_schema);
      const element = schemaPath[schemaPath.length - 1]?.element;
      if (element === undefined) throw new Error(`column ${meta.path_in_schema[0]} is not in the schema`);
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      const length = Number(meta.total_compressed_size);
      if (start < 0 || start + length > buffer.byteLength) throw new Error('a column chunk lies outside the file');
      const { data } = readColumn(
        { view: new DataView(buffer, start, length), offset: 0 },
        { groupStart, groupRows, selectStart: 0, selectEnd: groupRows },
        {
          pathInSchema: meta.path_in_schema,
          type: meta.type,
          element,
          schemaPath,
          codec: meta.codec,
          parsers: DEFAULT_PARSERS,
        },
      );
      const name = meta.path_in_schema[0]!;
      let i = 0;
      for (const page of data) {
        for (const v of page) {
          if (i >= groupRows) throw new Error(`column ${name} holds more values than its row group`);
          out[i++]![name] = v;
        }
      }
      if (i !== groupRows) throw new Error(`column ${name} holds ${i} values, its row group ${groupRows}`);
    }
    for (const r of out) rows.push(r);
    groupStart += groupRows;
  }
  return rows;
}
