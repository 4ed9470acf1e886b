/**
 * CREATE [USER|SHARED|STREAM] TABLE and ALTER TABLE … ADD COLUMN: KalamDB's own table syntax, parsed by hand
 * because the table types and the WITH (…) options are not in any SQL grammar a library ships.
 */
import {
  COLUMN_TYPES,
  TABLE_TYPES,
  type AlterTableAddColumn,
  type CallExpr,
  type ColumnDef,
  type ColumnType,
  type CreateTable,
  type LiteralExpr,
  type TableOptions,
  type TableType,
} from './ast.js';
import type { Cursor } from './cursor.js';
import type { Token } from './lexer.js';
import { isCarriedNumber } from './numbers.js';

/** Type names as written (upper-case) → the normalised type. */
const TYPE_ALIASES: Readonly<Record<string, ColumnType>> = {
  BIGINT: COLUMN_TYPES.BIGINT,
  INT8: COLUMN_TYPES.BIGINT,
  INT: COLUMN_TYPES.INT,
  INTEGER: COLUMN_TYPES.INT,
  INT4: COLUMN_TYPES.INT,
  SMALLINT: COLUMN_TYPES.SMALLINT,
  INT2: COLUMN_TYPES.SMALLINT,
  TINYINT: COLUMN_TYPES.SMALLINT,
  DOUBLE: COLUMN_TYPES.DOUBLE,
  FLOAT8: COLUMN_TYPES.DOUBLE,
  FLOAT: COLUMN_TYPES.FLOAT,
  FLOAT4: COLUMN_TYPES.FLOAT,
  REAL: COLUMN_TYPES.FLOAT,
  BOOLEAN: COLUMN_TYPES.BOOLEAN,
  BOOL: COLUMN_TYPES.BOOLEAN,
  TEXT: COLUMN_TYPES.TEXT,
  VARCHAR: COLUMN_TYPES.TEXT,
  CHAR: COLUMN_TYPES.TEXT,
  STRING: COLUMN_TYPES.TEXT,
  TIMESTAMP: COLUMN_TYPES.TIMESTAMP,
  DATETIME: COLUMN_TYPES.TIMESTAMP,
  DATE: COLUMN_TYPES.DATE,
  JSON: COLUMN_TYPES.JSON,
  JSONB: COLUMN_TYPES.JSON,
  BYTES: COLUMN_TYPES.BYTES,
  BYTEA: COLUMN_TYPES.BYTES,
  BLOB: COLUMN_TYPES.BYTES,
  BINARY: COLUMN_TYPES.BYTES,
  UUID: COLUMN_TYPES.UUID,
};

/** `CREATE` has been consumed; the cursor is on the table type or on TABLE. */
export function parseCreateTable(c: Cursor): CreateTable {
  const tableType = parseTableType(c);
  c.expectKeywords('TABLE');
  const ifNotExists = c.acceptKeywords('IF', 'NOT', 'EXISTS');
  const table = c.tableRef();
  c.expectOp('(');
  const columns: ColumnDef[] = [];
  const keys: Array<{ name: string; token: Token }> = [];
  do {
    if (c.isKeyword('PRIMARY')) {
      const token = c.next();
      c.expectKeywords('KEY');
      c.expectOp('(');
      keys.push({ name: c.identifier('a column name'), token });
      if (c.isOp(',')) throw c.error(c.peek(), 'composite primary keys are not supported');
      c.expectOp(')');
    } else {
      const start = c.peek();
      const column = parseColumnDef(c);
      if (columns.some((other) => other.name === column.name)) {
        throw c.error(start, `column ${column.name} is defined twice`);
      }
      if (column.primaryKey) keys.push({ name: column.name, token: start });
      columns.push(column);
    }
  } while (c.acceptOp(','));
  const close = c.peek();
  c.expectOp(')');
  const primaryKey = checkPrimaryKey(c, columns, keys, close);
  const options = c.acceptKeywords('WITH') ? parseTableOptions(c, tableType) : {};
  c.expectEnd();
  const withKey = columns.map((col) => (col.name === primaryKey ? { ...col, notNull: true, primaryKey: true } : col));
  return { kind: 'CreateTable', table, tableType, ifNotExists, columns: withKey, primaryKey, options };
}

function parseTableType(c: Cursor): TableType {
  if (c.isKeyword('TABLE')) return TABLE_TYPES.USER;
  const token = c.peek();
  const type = token.kind === 'word' ? token.value.toUpperCase() : '';
  if (type === 'USER' || type === 'SHARED' || type === 'STREAM') {
    c.next();
    return type;
  }
  throw c.error(token, `unknown table type ${JSON.stringify(token.value)} (expected USER, SHARED or STREAM)`);
}

function checkPrimaryKey(
  c: Cursor,
  columns: readonly ColumnDef[],
  keys: ReadonlyArray<{ name: string; token: Token }>,
  close: Token,
): string {
  const [key, second] = keys;
  if (key === undefined) throw c.error(close, 'a primary key is required (col TYPE PRIMARY KEY)');
  if (second !== undefined) throw c.error(second.token, 'a table has exactly one primary key column');
  if (!columns.some((column) => column.name === key.name)) {
    throw c.error(key.token, `primary key column ${key.name} is not defined`);
  }
  return key.name;
}

export function parseColumnDef(c: Cursor): ColumnDef {
  const name = c.identifier('a column name');
  const type = parseColumnType(c);
  let notNull = false;
  let primaryKey = false;
  let defaultValue: LiteralExpr | CallExpr | null = null;
  for (;;) {
    if (c.acceptKeywords('NOT')) {
      c.expectKeywords('NULL');
      notNull = true;
    } else if (c.acceptKeywords('NULL')) notNull = false;
    else if (c.acceptKeywords('PRIMARY', 'KEY')) primaryKey = true;
    else if (c.acceptKeywords('DEFAULT')) defaultValue = parseDefault(c);
    else break;
  }
  return { name, type, notNull: notNull || primaryKey, default: defaultValue, primaryKey };
}

function parseColumnType(c: Cursor): ColumnType {
  const token = c.peek();
  const written = token.kind === 'word' ? token.value.toUpperCase() : '';
  const type = TYPE_ALIASES[written];
  if (type === undefined) {
    throw token.kind === 'word' ? c.error(token, `unknown column type ${token.value}`) : c.expected('a column type');
  }
  c.next();
  if (written === 'DOUBLE') c.acceptKeywords('PRECISION');
  if (c.acceptOp('(')) {
    // VARCHAR(255), CHAR(3), DECIMAL-like sizes: the size is accepted and not enforced.
    c.integer('a size');
    c.expectOp(')');
  }
  return type;
}

/** DEFAULT takes a literal or a call such as NOW(), SNOWFLAKE_ID(), CURRENT_TIMESTAMP. */
function parseDefault(c: Cursor): LiteralExpr | CallExpr {
  const literal = parseLiteral(c);
  if (literal !== null) return literal;
  const token = c.peek();
  if (token.kind !== 'word') throw c.expected('a default value');
  c.next();
  const name = token.value.toUpperCase();
  if (!c.acceptOp('(')) {
    if (name === 'CURRENT_TIMESTAMP') return { kind: 'call', name, args: [], star: false };
    throw c.error(token, `unknown default value ${token.value}`);
  }
  const args: LiteralExpr[] = [];
  if (!c.acceptOp(')')) {
    do {
      const arg = parseLiteral(c);
      if (arg === null) throw c.expected('a literal argument');
      args.push(arg);
    } while (c.acceptOp(','));
    c.expectOp(')');
  }
  return { kind: 'call', name, args, star: false };
}

function parseLiteral(c: Cursor): LiteralExpr | null {
  const token = c.peek();
  if (token.kind === 'string') {
    c.next();
    return { kind: 'literal', value: token.value };
  }
  const negative = c.isOp('-') && c.peek(1).kind === 'number';
  const numberToken = negative ? c.peek(1) : token;
  if (numberToken.kind === 'number') {
    c.pos += negative ? 2 : 1;
    const value = Number(numberToken.value);
    if (!isCarriedNumber(value)) {
      throw c.error(numberToken, `number ${numberToken.value} is out of range (Kalam keeps numbers within ±2^53)`);
    }
    return { kind: 'literal', value: negative ? -value : value };
  }
  const word = token.kind === 'word' ? token.value.toUpperCase() : '';
  const constants: Record<string, boolean | null> = { TRUE: true, FALSE: false, NULL: null };
  if (!(word in constants)) return null;
  c.next();
  return { kind: 'literal', value: constants[word] ?? null };
}

/** WITH ( KEY = value, … ); the cursor is after WITH. */
function parseTableOptions(c: Cursor, tableType: TableType): TableOptions {
  c.expectOp('(');
  const options: {
    ttlSeconds?: number;
    flushPolicy?: { rows: number };
    accessLevel?: 'PUBLIC' | 'PRIVATE';
    storageId?: string;
  } = {};
  const seen = new Set<string>();
  do {
    const keyToken = c.peek();
    const key = keyToken.kind === 'word' ? keyToken.value.toUpperCase() : '';
    if (key === '') throw c.expected('a table option');
    c.next();
    if (seen.has(key)) throw c.error(keyToken, `option ${key} is given twice`);
    seen.add(key);
    c.expectOp('=');
    const valueToken = c.peek();
    switch (key) {
      case 'TTL_SECONDS':
        options.ttlSeconds = c.integer('a number of seconds');
        break;
      case 'FLUSH_POLICY':
        options.flushPolicy = parseFlushPolicy(c, c.stringLiteral("a flush policy such as 'rows:1000'"), valueToken);
        break;
      case 'ACCESS_LEVEL': {
        const level = c.nameOrString('PUBLIC or PRIVATE').toUpperCase();
        if (level !== 'PUBLIC' && level !== 'PRIVATE') throw c.error(valueToken, 'ACCESS_LEVEL is PUBLIC or PRIVATE');
        if (tableType !== 'SHARED') throw c.error(keyToken, 'ACCESS_LEVEL applies to SHARED tables only');
        options.accessLevel = level;
        break;
      }
      case 'STORAGE_ID':
        options.storageId = c.nameOrString('a storage id');
        break;
      default:
        throw c.error(keyToken, `unknown table option ${keyToken.value}`);
    }
  } while (c.acceptOp(','));
  c.expectOp(')');
  return options;
}

function parseFlushPolicy(c: Cursor, value: string, token: Token): { rows: number } {
  const match = /^rows:(\d+)$/i.exec(value.trim());
  const rows = match?.[1] === undefined ? NaN : Number(match[1]);
  if (!Number.isSafeInteger(rows) || rows < 1) throw c.error(token, "FLUSH_POLICY is 'rows:N' with N ≥ 1");
  return { rows };
}

/** ALTER TABLE t ADD [COLUMN] def; `ALTER TABLE` has been consumed. */
export function parseAlterTable(c: Cursor): AlterTableAddColumn {
  const table = c.tableRef();
  c.expectKeywords('ADD');
  c.acceptKeywords('COLUMN');
  const start = c.peek();
  const column = parseColumnDef(c);
  if (column.primaryKey) throw c.error(start, 'a primary key cannot be added to an existing table');
  c.expectEnd();
  return { kind: 'AlterTableAddColumn', table, column };
}
