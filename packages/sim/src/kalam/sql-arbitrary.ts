/**
 * fast-check arbitraries for Kalam's SQL dialect, written from its grammar (packages/sql: parse.ts, table-ddl.ts,
 * dml.ts, lexer.ts), for the SQL fuzz test against real clusters (packages/server/test/fuzz-sql.test.ts) and the
 * Kalam simulation's hostile client (simulation.ts). A generated request is one SQL text (a statement or a
 * `;` batch), sometimes with `params` and a `namespace_id`, and the actor that sends it — one of several users of
 * every role. Every statement kind the parser knows is generated, each from parts that are mostly valid and now and
 * then not:
 *
 * - names: a small pool (so later statements hit what earlier ones created), fresh valid names, and invalid ones —
 *   too long, upper case or spaces or quotes or unicode inside quotes, reserved words, `system`, `_seq`, empty;
 * - expressions: columns of the tables' schemas and unknown ones, every operator, ROW functions with their arity and
 *   without, unknown functions, aggregates and planner functions (NOW(), UUID()) in odd places, unsupported syntax
 *   (CASE, CAST, sub-queries), parameters, and deep nesting, long OR chains and long IN lists;
 * - literals: huge and tiny numbers (-9223372036854775809, 1e300, 1e309), NaN-ish strings, unicode, lone
 *   surrogates, control characters, empty and long strings;
 * - every column type and alias, sizes (VARCHAR(n)), many columns, many rows.
 *
 * Statements that build state (CREATE … IF NOT EXISTS of the pool's namespaces and tables with their canonical
 * schemas, INSERTs of well-typed rows) are mixed in so that the rest meets existing objects. Every request stays
 * well under the server's 1 MiB body limit (SIZES). Generation is a pure function of fast-check's seed: the same seed
 * gives the same requests, and a failing request shrinks.
 */
import fc from 'fast-check';

/** The users that send the statements, with their roles (created by the test's setup; root exists already). */
export const FUZZ_ACTORS = {
  root: 'system',
  fz_system: 'system',
  fz_dba: 'dba',
  fz_service: 'service',
  fz_user: 'user',
  fz_user2: 'user',
} as const;
export type FuzzActor = keyof typeof FUZZ_ACTORS;

/** The password of every fuzz actor but root. */
export const FUZZ_PASSWORD = 'fz-password';

export interface FuzzRequest {
  readonly actor: FuzzActor;
  readonly sql: string;
  readonly params?: readonly unknown[];
  readonly namespace?: string;
}

/** Bounds on what one request may hold, far below the 1 MiB body limit even at 4 UTF-8 bytes per character. */
export const SIZES = {
  longStringCharsMax: 40_000,
  manyRowsMax: 1_500,
  manyColumnsMax: 520,
  inListItemsMax: 12_000,
  orChainTermsMax: 2_500,
  nestingDepthMax: 3_000,
  coalesceArgsMax: 80,
} as const;

/**
 * For the alternatives of a choice whose first is the plain one (a pool name, a small number, the first role): a
 * failing value shrinks across to it when that still fails, so the shrunk request says what matters.
 */
const CROSS_SHRINK = { withCrossShrink: true } as const;

// ---------------------------------------------------------------- the pool and its canonical schemas

/** Namespaces of the pool; `app` is created by the setup. */
export const POOL_NAMESPACES = ['app', 'fz_a', 'fz_b'] as const;

type ColumnType =
  | 'BIGINT'
  | 'INT'
  | 'SMALLINT'
  | 'DOUBLE'
  | 'FLOAT'
  | 'BOOLEAN'
  | 'TEXT'
  | 'TIMESTAMP'
  | 'DATE'
  | 'JSON'
  | 'BYTES'
  | 'UUID';

interface PoolTable {
  readonly type: 'USER' | 'SHARED' | 'STREAM';
  readonly columns: readonly (readonly [string, ColumnType])[];
  readonly primaryKey: string;
  readonly with: string;
}

/** Tables of the pool with the schema each is created with (`notes`, `shared_notes`, `events` by the setup in app). */
export const POOL_TABLES: Readonly<Record<string, PoolTable>> = {
  notes: {
    type: 'USER',
    columns: [
      ['id', 'BIGINT'],
      ['body', 'TEXT'],
      ['n', 'INT'],
      ['flag', 'BOOLEAN'],
      ['ts', 'TIMESTAMP'],
    ],
    primaryKey: 'id',
    with: '',
  },
  shared_notes: {
    type: 'SHARED',
    columns: [
      ['id', 'BIGINT'],
      ['body', 'TEXT'],
      ['score', 'DOUBLE'],
      ['doc', 'JSON'],
    ],
    primaryKey: 'id',
    with: ' WITH (ACCESS_LEVEL = PUBLIC)',
  },
  events: {
    type: 'STREAM',
    columns: [
      ['id', 'BIGINT'],
      ['body', 'TEXT'],
      ['ts', 'TIMESTAMP'],
    ],
    primaryKey: 'id',
    with: ' WITH (TTL_SECONDS = 3600)',
  },
  wide: {
    type: 'USER',
    columns: [
      ['uid', 'UUID'],
      ['id', 'BIGINT'],
      ['n', 'INT'],
      ['small', 'SMALLINT'],
      ['score', 'DOUBLE'],
      ['ratio', 'FLOAT'],
      ['flag', 'BOOLEAN'],
      ['body', 'TEXT'],
      ['ts', 'TIMESTAMP'],
      ['day', 'DATE'],
      ['doc', 'JSON'],
      ['blob', 'BYTES'],
    ],
    primaryKey: 'uid',
    with: '',
  },
  stored: {
    type: 'SHARED',
    columns: [
      ['id', 'BIGINT'],
      ['body', 'TEXT'],
    ],
    primaryKey: 'id',
    with: " WITH (STORAGE_ID = fz_store, FLUSH_POLICY = 'rows:5')",
  },
};
const POOL_TABLE_NAMES = Object.keys(POOL_TABLES);

/** The canonical CREATE TABLE of a pool table in `ns`. */
export function createPoolTable(ns: string, name: string, ifNotExists = true): string {
  const t = POOL_TABLES[name];
  if (t === undefined) throw new Error(`no pool table ${name}`);
  const cols = t.columns.map(([c, type]) => `${c} ${type}${c === t.primaryKey ? ' PRIMARY KEY' : ''}`).join(', ');
  return `CREATE ${t.type} TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${ns}.${name} (${cols})${t.with}`;
}

/** Every column name of the pool's schemas, and a few more that ALTER TABLE adds. */
const POOL_COLUMNS = [
  ...new Set(Object.values(POOL_TABLES).flatMap((t) => t.columns.map(([c]) => c))),
  'extra',
  'extra2',
];
const COLUMN_TYPES_OF = new Map<string, ColumnType>(
  Object.values(POOL_TABLES).flatMap((t) => t.columns.map(([c, type]) => [c, type] as const)),
);

/** Storages and schedules of the pool; `fz_store` is created by the setup. */
const POOL_STORAGES = ['fz_store', 'fz_store2'];
const POOL_SCHEDULES = ['fz_sched', 'fz-sched-2'];
/** Users that the generated user management creates, alters and drops (never an actor: their sessions must last). */
const VICTIMS = ['fz_victim', 'fz_victim2'];

// ---------------------------------------------------------------- names

const RESERVED_WORDS = [
  'at',
  'select',
  'from',
  'where',
  'table',
  'user',
  'order',
  'group',
  'null',
  'true',
  'namespace',
];
const KALAM_OWN = ['system', '_seq', '_deleted', '_user_id', '_shard'];

/** Identifiers that break a rule somewhere (as SQL text: quoted or not). */
const badIdentifier: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 64, max: 400 }).map((n) => 'n'.repeat(n)),
  fc.constantFrom(
    '"Upper"',
    '"Weird Col"',
    '"a""b"',
    '"ünï"',
    '"表"',
    '"a.b"',
    '"-x"',
    '"1abc"',
    '"SELECT"',
    '"😀"',
    '" "',
    '"tab\there"',
    '""',
    'ünï',
    '1abc',
    '`bt`',
    '`Bt Q`',
    '"' + 'x'.repeat(300) + '"',
  ),
  fc.constantFrom(...RESERVED_WORDS),
  fc.constantFrom(...KALAM_OWN),
  fc.constantFrom(...KALAM_OWN.map((w) => `"${w}"`)),
);

const freshIdentifier: fc.Arbitrary<string> = fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/);

/** A name from `pool` most of the time, else a fresh valid one, else one that breaks a rule. */
function identifier(pool: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    CROSS_SHRINK,
    { arbitrary: fc.constantFrom(...pool), weight: 40 },
    { arbitrary: fc.constantFrom(...pool.map((p) => p.toUpperCase())), weight: 1 },
    { arbitrary: freshIdentifier, weight: 3 },
    { arbitrary: badIdentifier, weight: 2 },
  );
}

const namespaceName = identifier(POOL_NAMESPACES);
const tableName = identifier(POOL_TABLE_NAMES);
const columnName = identifier(POOL_COLUMNS);

/** `ns.t` mostly; `t` alone (resolved by USE or namespace_id), `system.x`, or three parts now and then. */
const tableRef: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.tuple(namespaceName, tableName).map(([ns, t]) => `${ns}.${t}`), weight: 20 },
  { arbitrary: tableName, weight: 3 },
  {
    arbitrary: fc
      .constantFrom('users', 'namespaces', 'tables', 'storages', 'jobs', 'schedules', 'live_queries', 'nope')
      .map((t) => `system.${t}`),
    weight: 1,
  },
  { arbitrary: fc.constant('app.notes.extra'), weight: 1 },
);

/** `arb` in `percent` % of the values, null in the rest (and null is what it shrinks to). */
function sometimes<T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> {
  return fc.oneof({ arbitrary: fc.constant(null), weight: 100 - percent }, { arbitrary: arb, weight: percent });
}

/** A string literal with its quotes doubled. */
function quote(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

// ---------------------------------------------------------------- literals

const EDGE_NUMBERS = [
  '0',
  '-0',
  '1',
  '-1',
  '32767',
  '32768',
  '-32769',
  '2147483647',
  '2147483648',
  '-2147483649',
  '9007199254740991',
  '9007199254740993',
  '-9007199254740993',
  '9223372036854775807',
  '-9223372036854775808',
  '-9223372036854775809',
  '18446744073709551616',
  '1e300',
  '-1e300',
  '1e309',
  '1e-400',
  '0.1',
  '.5',
  '5.',
  '1.7976931348623157e308',
  '4.9e-324',
  '123456789012345678901234567890',
];

const numberLiteral: fc.Arbitrary<string> = fc.oneof(
  CROSS_SHRINK,
  { arbitrary: fc.integer({ min: -1000, max: 100_000 }).map(String), weight: 6 },
  { arbitrary: fc.constantFrom(...EDGE_NUMBERS), weight: 3 },
  { arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String), weight: 1 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), weight: 2 },
);

const STRING_EDGES = [
  '',
  ' ',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  'null',
  'true',
  '2024-01-01',
  '2024-01-01T12:34:56.789Z',
  '2024-13-45',
  'not a date',
  '{"a":1}',
  '[1,2,3]',
  '{bad json',
  'AAEC',
  '00000000-0000-0000-0000-000000000000',
  'not-a-uuid',
  "it's",
  '%',
  '_',
  '\\',
  '\u0000',
  '\n\r\t',
  '\u202e',
  '\ud800',
  '😀',
  'ünï',
  '表',
  '9223372036854775808',
  '-9223372036854775809',
];

/** Short strings (big statements have their own, `longString`). */
const stringValue: fc.Arbitrary<string> = fc.oneof(
  CROSS_SHRINK,
  { arbitrary: fc.string({ maxLength: 12 }), weight: 6 },
  { arbitrary: fc.constantFrom(...STRING_EDGES), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 8 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }), weight: 1 },
  { arbitrary: fc.integer({ min: 100, max: 300 }).map((n) => 'a'.repeat(n)), weight: 1 },
);

const longString: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1_000, max: SIZES.longStringCharsMax }), fc.constantFrom('a', 'é', '😀', "'"))
  .map(([n, ch]) => ch.repeat(Math.floor(n / ch.length)));

const stringLiteral: fc.Arbitrary<string> = stringValue.map(quote);

/** A value as SQL text for a column of `type`: mostly one the column takes, sometimes not. */
function valueFor(type: ColumnType | undefined): fc.Arbitrary<string> {
  let fitting: fc.Arbitrary<string>;
  switch (type) {
    case 'BIGINT':
    case 'INT':
    case 'SMALLINT':
      fitting = fc.integer({ min: -100_000, max: 1_000_000 }).map(String);
      break;
    case 'DOUBLE':
    case 'FLOAT':
      fitting = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }).map(String);
      break;
    case 'BOOLEAN':
      fitting = fc.constantFrom('TRUE', 'FALSE', "'true'", '0', '1');
      break;
    case 'TIMESTAMP':
      fitting = fc.oneof(
        fc.integer({ min: 0, max: 4_102_444_800_000 }).map(String),
        fc.constantFrom("'2024-05-06T07:08:09Z'", 'NOW()', 'CURRENT_TIMESTAMP'),
      );
      break;
    case 'DATE':
      fitting = fc.constantFrom("'2024-01-01'", "'1970-01-01'");
      break;
    case 'JSON':
      fitting = fc.json({ maxDepth: 2 }).map(quote);
      break;
    case 'UUID':
      fitting = fc.oneof(fc.uuid().map(quote), fc.constant('UUID()'));
      break;
    case 'BYTES':
    case 'TEXT':
    case undefined:
      fitting = stringLiteral;
      break;
  }
  return fc.oneof(
    CROSS_SHRINK,
    { arbitrary: fitting, weight: 8 },
    { arbitrary: literal, weight: 1 },
    { arbitrary: fc.constant('NULL'), weight: 1 },
  );
}

const param: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('$1', '$2', '?'), weight: 8 },
  { arbitrary: fc.constantFrom('$3', '$0', '$10001'), weight: 1 },
);

/** Any literal, or a parameter now and then. */
const literal: fc.Arbitrary<string> = fc.oneof(
  CROSS_SHRINK,
  { arbitrary: numberLiteral, weight: 12 },
  { arbitrary: stringLiteral, weight: 12 },
  { arbitrary: fc.constantFrom('TRUE', 'FALSE', 'NULL'), weight: 5 },
  { arbitrary: param, weight: 1 },
);

/** Values for `params`: what JSON can carry, well-typed or not. */
const paramValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 20 }),
  fc.constantFrom(null, true, false, '9223372036854775808', '-9223372036854775809', '', 'NaN'),
  fc.constantFrom({ a: 1 }, [1, 2], [], {}),
);

// ---------------------------------------------------------------- expressions

const ROW_FUNCTIONS_1 = ['LOWER', 'UPPER', 'LENGTH', 'ABS'];
const UNKNOWN_FUNCTIONS = ['FOO', 'BAR', 'foo', 'SQRT', 'CONCAT', 'RANDOM', 'pg_sleep'];
const AGGREGATES = ['COUNT', 'SUM', 'MIN', 'MAX', 'AVG'];
const PLANNER_FUNCTIONS = ['NOW()', 'UUID()', 'SNOWFLAKE_ID()', 'CURRENT_TIMESTAMP', 'NOW(1)', 'UUID(id)'];

function args(items: readonly string[]): string {
  return `(${items.join(', ')})`;
}

/** Column references: the pool's columns, qualified ones, unknown ones and Kalam's own. */
const columnRef: fc.Arbitrary<string> = fc.oneof(
  CROSS_SHRINK,
  { arbitrary: fc.constantFrom(...POOL_COLUMNS), weight: 12 },
  { arbitrary: columnName, weight: 2 },
  { arbitrary: fc.constantFrom('notes.id', 'x.body', 'app.notes.id'), weight: 1 },
);

/** Expression trees of bounded depth, rendered with parentheses around every operator. */
const { expr } = fc.letrec<{ expr: string }>((tie) => {
  const e = tie('expr');
  const call = fc.oneof(
    fc.tuple(fc.constantFrom(...ROW_FUNCTIONS_1), e).map(([f, a]) => `${f}(${a})`),
    fc.tuple(fc.constantFrom(...ROW_FUNCTIONS_1), fc.array(e, { maxLength: 3 })).map(([f, a]) => `${f}${args(a)}`),
    fc.array(e, { minLength: 0, maxLength: 4 }).map((a) => `COALESCE${args(a)}`),
    fc.tuple(fc.constantFrom(...UNKNOWN_FUNCTIONS), fc.array(e, { maxLength: 2 })).map(([f, a]) => `${f}${args(a)}`),
    fc.tuple(fc.constantFrom(...AGGREGATES), e).map(([f, a]) => `${f}(${a})`),
    fc.constant('COUNT(*)'),
    fc.constantFrom(...PLANNER_FUNCTIONS),
    fc.constant('pg_catalog.lower(body)'),
  );
  return {
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { arbitrary: columnRef, weight: 6 },
      { arbitrary: literal, weight: 6 },
      {
        arbitrary: fc
          .tuple(e, fc.constantFrom('=', '!=', '<>', '<', '<=', '>', '>=', 'AND', 'OR', '+', '-', '*', '/'), e)
          .map(([l, op, r]) => `(${l} ${op} ${r})`),
        weight: 6,
      },
      { arbitrary: e.map((x) => `(NOT ${x})`), weight: 1 },
      { arbitrary: e.map((x) => `(-${x})`), weight: 1 },
      { arbitrary: fc.tuple(e, fc.boolean()).map(([x, not]) => `(${x} IS ${not ? 'NOT ' : ''}NULL)`), weight: 1 },
      {
        arbitrary: fc
          .tuple(e, fc.boolean(), fc.array(e, { minLength: 0, maxLength: 4 }))
          .map(([x, not, list]) => `(${x} ${not ? 'NOT ' : ''}IN ${args(list)})`),
        weight: 1,
      },
      {
        arbitrary: fc.tuple(e, fc.boolean(), e).map(([x, not, p]) => `(${x} ${not ? 'NOT ' : ''}LIKE ${p})`),
        weight: 1,
      },
      { arbitrary: call, weight: 3 },
      {
        // Outside the dialect: the parser must refuse each with a 400.
        arbitrary: fc
          .constantFrom(
            'CASE WHEN id = 1 THEN 1 ELSE 0 END',
            'CAST(id AS TEXT)',
            'id::text',
            '(SELECT 1)',
            'id BETWEEN 1 AND 2',
            'EXISTS (SELECT 1)',
            "body ILIKE 'a%'",
            'id IS TRUE',
            'ROW(1, 2)',
            'ARRAY[1, 2]',
            "INTERVAL '1 day'",
            'COUNT(DISTINCT id)',
            'SUM(id) OVER ()',
            'id % 2',
            "body || 'x'",
          )
          .map((x) => `(${x})`),
        weight: 1,
      },
    ),
  };
});

/** Expressions big in one direction: deep nesting, long OR chains, long IN lists, many COALESCE arguments. */
const hugeExpr: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 50, max: SIZES.nestingDepthMax }).map((n) => `${'('.repeat(n)}id = 1${')'.repeat(n)}`),
  fc.integer({ min: 50, max: SIZES.nestingDepthMax }).map((n) => `${'NOT '.repeat(n)}(id = 1)`),
  fc.integer({ min: 50, max: 1_000 }).map((n) => `id = ${'-('.repeat(n)}1${')'.repeat(n)}`),
  fc.integer({ min: 50, max: 1_000 }).map((n) => `${'LOWER('.repeat(n)}body${')'.repeat(n)} = 'a'`),
  fc
    .integer({ min: 10, max: SIZES.orChainTermsMax })
    .map((n) => Array.from({ length: n }, (_, i) => `id = ${i}`).join(' OR ')),
  fc
    .tuple(fc.integer({ min: 10, max: SIZES.inListItemsMax }), fc.boolean())
    .map(
      ([n, strings]) => `id IN (${Array.from({ length: n }, (_, i) => (strings ? `'${i}'` : String(i))).join(',')})`,
    ),
  fc
    .integer({ min: 10, max: SIZES.coalesceArgsMax })
    .map((n) => `COALESCE(${Array.from({ length: n }, (_, i) => String(i)).join(', ')}) = 1`),
);

/** A WHERE condition: an expression tree, or a simple comparison on a pool column. */
const condition: fc.Arbitrary<string> = fc.oneof(
  CROSS_SHRINK,
  { arbitrary: expr, weight: 10 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...POOL_COLUMNS), fc.constantFrom('=', '<', '>=', '!='))
      .chain(([c, op]) => valueFor(COLUMN_TYPES_OF.get(c)).map((v) => `${c} ${op} ${v}`)),
    weight: 6,
  },
);

const whereClause: fc.Arbitrary<string> = sometimes(condition, 75).map((c) => (c === null ? '' : ` WHERE ${c}`));

// ---------------------------------------------------------------- column definitions and tables

const TYPE_WORDS = [
  'BIGINT',
  'INT8',
  'INT',
  'INTEGER',
  'INT4',
  'SMALLINT',
  'INT2',
  'TINYINT',
  'DOUBLE',
  'DOUBLE PRECISION',
  'FLOAT8',
  'FLOAT',
  'FLOAT4',
  'REAL',
  'BOOLEAN',
  'BOOL',
  'TEXT',
  'VARCHAR',
  'CHAR',
  'STRING',
  'TIMESTAMP',
  'DATETIME',
  'DATE',
  'JSON',
  'JSONB',
  'BYTES',
  'BYTEA',
  'BLOB',
  'BINARY',
  'UUID',
];
const BAD_TYPE_WORDS = ['DECIMAL', 'MONEY', 'TEXT[]', 'SERIAL', 'Weird', '"TEXT"', ''];

const columnType: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...TYPE_WORDS), weight: 12 },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('VARCHAR', 'CHAR', 'TEXT', 'INT'),
        fc.constantFrom('1', '255', '0', '99999999999999999999', '-1', 'x'),
      )
      .map(([t, n]) => `${t}(${n})`),
    weight: 2,
  },
  { arbitrary: fc.constantFrom(...BAD_TYPE_WORDS), weight: 1 },
);

const columnDefault: fc.Arbitrary<string> = fc.oneof(
  literal,
  fc.constantFrom('NOW()', 'CURRENT_TIMESTAMP', 'SNOWFLAKE_ID()', 'UUID()', 'FOO()', 'NOW(1)', 'LOWER(x)', 'nope'),
);

/** `name TYPE [NOT NULL | NULL] [PRIMARY KEY] [DEFAULT v]`. */
function columnDef(name: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(
      name,
      columnType,
      fc.constantFrom('', '', '', ' NOT NULL', ' NULL', ' NOT NULL NULL'),
      fc.constantFrom('', '', '', '', ' PRIMARY KEY'),
      sometimes(columnDefault, 20),
    )
    .map(([n, t, nn, pk, d]) => `${n} ${t}${nn}${pk}${d === null ? '' : ` DEFAULT ${d}`}`);
}

const tableOption: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('3600', '1', '0', '3153600001', '99999999999999999999', "'x'").map((v) => `TTL_SECONDS = ${v}`),
  fc
    .constantFrom("'rows:1000'", "'rows:0'", "'rows:5'", "'bytes:10'", "'rows:99999999999'", '5')
    .map((v) => `FLUSH_POLICY = ${v}`),
  fc.constantFrom('PUBLIC', 'PRIVATE', "'public'", 'OPEN').map((v) => `ACCESS_LEVEL = ${v}`),
  identifier(POOL_STORAGES).map((v) => `STORAGE_ID = ${v}`),
  fc.constantFrom('COMPRESSION = zstd', 'TTL_SECONDS', 'TTL_SECONDS = 1, TTL_SECONDS = 2'),
);

/** A pool table with its canonical schema in a pool namespace (valid), or in any namespace. */
const createPoolTableStmt: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...POOL_NAMESPACES), fc.constantFrom(...POOL_TABLE_NAMES), fc.boolean())
  .map(([ns, t, ine]) => createPoolTable(ns, t, ine));

/** Any CREATE TABLE the grammar allows, and some it does not. */
const createAnyTableStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('', 'USER ', 'SHARED ', 'STREAM ', 'BOGUS '),
    fc.boolean(),
    tableRef,
    fc.array(columnDef(columnName), { minLength: 0, maxLength: 6 }),
    sometimes(columnName, 30),
    sometimes(fc.array(tableOption, { minLength: 1, maxLength: 3 }), 30),
  )
  .map(([type, ine, ref, cols, pk, opts]) => {
    const parts = [...cols, ...(pk === null ? [] : [`PRIMARY KEY (${pk})`])];
    const withPart = opts === null ? '' : ` WITH (${opts.join(', ')})`;
    return `CREATE ${type}TABLE ${ine ? 'IF NOT EXISTS ' : ''}${ref} (${parts.join(', ')})${withPart}`;
  });

// ---------------------------------------------------------------- statements

/** A pool table in a pool namespace, the statement's usual target. */
const poolTarget: fc.Arbitrary<{ ref: string; table: string }> = fc
  .tuple(fc.constantFrom(...POOL_NAMESPACES), fc.constantFrom(...POOL_TABLE_NAMES))
  .map(([ns, t]) => ({ ref: `${ns}.${t}`, table: t }));

/** Well-typed rows (`rowsMin` … `rowsMax` of them) for a pool table's columns or a part of them. */
function insertPool(rowsMin: number, rowsMax: number): fc.Arbitrary<string> {
  return poolTarget.chain(({ ref, table }) => {
    const columns = POOL_TABLES[table]?.columns ?? [];
    return (
      fc
        .tuple(fc.subarray([...columns], { minLength: 1 }), fc.integer({ min: rowsMin, max: rowsMax }), fc.boolean())
        // Without a column list a row holds every column.
        .map(([some, rows, named]) => [named ? some : columns, rows, named] as const)
        .chain(([cols, rows, named]) =>
          fc
            .array(fc.tuple(...cols.map(([, type]) => valueFor(type))), { minLength: rows, maxLength: rows })
            .map((values) => {
              const names = named ? ` (${cols.map(([c]) => c).join(', ')})` : '';
              return `INSERT INTO ${ref}${names} VALUES ${values.map((v) => `(${v.join(', ')})`).join(', ')}`;
            }),
        )
    );
  });
}

const insertPoolStmt = insertPool(1, 4);

/** INSERT with any names and values. */
/** INSERT with any names and values: as many values as columns mostly, not always. */
const insertAnyStmt: fc.Arbitrary<string> = fc
  .tuple(
    tableRef,
    sometimes(fc.array(columnName, { minLength: 0, maxLength: 4 }), 75),
    fc.array(fc.array(fc.oneof(literal, expr), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
    fc.integer({ min: 0, max: 9 }),
  )
  .map(([ref, cols, rows, dice]) => {
    const names = cols === null ? '' : ` (${cols.join(', ')})`;
    const width = cols === null || cols.length === 0 || dice === 0 ? 1 + dice : cols.length;
    return `INSERT INTO ${ref}${names} VALUES ${rows.map((r) => `(${r.slice(0, width).join(', ')})`).join(', ')}`;
  });

const updateStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof({ arbitrary: poolTarget.map((p) => p.ref), weight: 4 }, { arbitrary: tableRef, weight: 1 }),
    fc.array(
      fc.tuple(columnRef, fc.oneof(valueFor(undefined), expr)).map(([c, v]) => `${c} = ${v}`),
      { minLength: 1, maxLength: 3 },
    ),
    whereClause,
  )
  .map(([ref, sets, where]) => `UPDATE ${ref} SET ${sets.join(', ')}${where}`);

const deleteStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof({ arbitrary: poolTarget.map((p) => p.ref), weight: 4 }, { arbitrary: tableRef, weight: 1 }),
    whereClause,
  )
  .map(([ref, where]) => `DELETE FROM ${ref}${where}`);

const selectItem: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant('*'), weight: 4 },
  { arbitrary: columnRef, weight: 4 },
  { arbitrary: expr, weight: 3 },
  { arbitrary: fc.constantFrom(...AGGREGATES).chain((f) => columnRef.map((c) => `${f}(${c})`)), weight: 2 },
  { arbitrary: fc.constantFrom('COUNT(*)', '_seq', 'notes.*', 'COUNT(*) + 1', 'MAX(id) - MIN(id)'), weight: 1 },
  {
    arbitrary: fc.tuple(expr, fc.constantFrom('a', '"Weird Alias"', '"😀"', 'select')).map(([e, a]) => `${e} AS ${a}`),
    weight: 1,
  },
);

const selectStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(selectItem, { minLength: 1, maxLength: 4 }),
    fc.oneof({ arbitrary: poolTarget.map((p) => p.ref), weight: 4 }, { arbitrary: tableRef, weight: 2 }),
    whereClause,
    sometimes(fc.array(fc.oneof(columnRef, expr), { minLength: 1, maxLength: 2 }), 20),
    sometimes(condition, 15),
    sometimes(
      fc.array(fc.tuple(fc.oneof(columnRef, expr, fc.constantFrom('1', '99')), fc.constantFrom('', ' ASC', ' DESC')), {
        minLength: 1,
        maxLength: 2,
      }),
      30,
    ),
    sometimes(
      fc.oneof(
        { arbitrary: fc.constantFrom('0', '1', '10', '1000'), weight: 6 },
        { arbitrary: fc.constantFrom('-1', '1.5', '9007199254740993', "'x'", '$1'), weight: 1 },
      ),
      40,
    ),
    sometimes(fc.constantFrom('0', '5', '-1', '99999999'), 15),
  )
  .map(([items, ref, where, groupBy, having, orderBy, limit, offset]) => {
    let sql = `SELECT ${items.join(', ')} FROM ${ref}${where}`;
    if (groupBy !== null) sql += ` GROUP BY ${groupBy.join(', ')}`;
    // HAVING without GROUP BY is refused by the parser: now and then only.
    if (having !== null && (groupBy !== null || having.length % 7 === 0)) sql += ` HAVING ${having}`;
    if (orderBy !== null) sql += ` ORDER BY ${orderBy.map(([e, d]) => `${e}${d}`).join(', ')}`;
    if (limit !== null) sql += ` LIMIT ${limit}`;
    if (offset !== null) sql += ` OFFSET ${offset}`;
    return sql;
  });

const systemSelectStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(
      'users',
      'namespaces',
      'tables',
      'storages',
      'jobs',
      'schedules',
      'live_queries',
      'cluster_nodes',
      'cluster_groups',
      'nope',
    ),
    whereClause,
  )
  .map(([t, where]) => `SELECT * FROM system.${t}${where} LIMIT 50`);

const alterStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof({ arbitrary: poolTarget.map((p) => p.ref), weight: 4 }, { arbitrary: tableRef, weight: 1 }),
    fc.constantFrom(' COLUMN', ''),
    columnDef(columnName),
  )
  .map(([ref, kw, def]) => `ALTER TABLE ${ref} ADD${kw} ${def}`);

const namespaceStmt: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.boolean(), namespaceName)
      .map(([ine, ns]) => `CREATE NAMESPACE ${ine ? 'IF NOT EXISTS ' : ''}${ns}`),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(fc.boolean(), namespaceName, fc.boolean())
      .map(([ie, ns, cascade]) => `DROP NAMESPACE ${ie ? 'IF EXISTS ' : ''}${ns}${cascade ? ' CASCADE' : ''}`),
    weight: 1,
  },
);

const showStmt: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('SHOW NAMESPACES', 'SHOW TABLES', 'SHOW STORAGES', 'SHOW SCHEDULES', 'SHOW USERS', 'SHOW'),
  fc.tuple(fc.constantFrom('IN', 'FROM'), namespaceName).map(([kw, ns]) => `SHOW TABLES ${kw} ${ns}`),
  fc.tuple(fc.constantFrom('DESCRIBE ', 'DESCRIBE TABLE ', 'DESC '), tableRef).map(([kw, t]) => `${kw}${t}`),
  fc.tuple(fc.constantFrom('USE ', 'USE NAMESPACE '), namespaceName).map(([kw, ns]) => `${kw}${ns}`),
);

const dropTableStmt: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('', 'USER ', 'SHARED ', 'STREAM '), fc.boolean(), tableRef)
  .map(([type, ie, ref]) => `DROP ${type}TABLE ${ie ? 'IF EXISTS ' : ''}${ref}`);

/** Storage paths: relative ones inside the node's data folder (or its parent, the test's temp folder), bad ones. */
const storagePath: fc.Arbitrary<string> = fc.oneof(
  CROSS_SHRINK,
  fc.constantFrom('fz-storage', 'fz storage/sub', '../fz-escape', '', '   ', 'ünï/表'),
  // Absolute paths no process can write to: a flush into them fails on every node alike.
  fc.constantFrom('/proc/kalam-fuzz', '/dev/null/kalam-fuzz'),
  fc.integer({ min: 4_000, max: 5_000 }).map((n) => 'p'.repeat(n)),
);

const storageStmt: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.oneof(identifier(POOL_STORAGES), stringValue.map(quote)),
      fc.constantFrom('filesystem', "'filesystem'", 'FILESYSTEM', 's3', "'gcs'", "''"),
      storagePath,
    )
    .map(([id, type, path]) => `CREATE STORAGE ${id} TYPE ${type} PATH ${quote(path)}`),
  identifier(POOL_STORAGES).map((id) => `DROP STORAGE ${id}`),
);

const jobStmt: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: tableRef.map((t) => `FLUSH TABLE ${t}`), weight: 3 },
  { arbitrary: poolTarget.map((p) => `FLUSH TABLE ${p.ref}`), weight: 3 },
  {
    arbitrary: sometimes(namespaceName, 50).map((ns) => `FLUSH ALL TABLES${ns === null ? '' : ` IN ${ns}`}`),
    weight: 2,
  },
  {
    arbitrary: fc.oneof(stringValue, fc.constantFrom('flush-1', 'retention@0')).map((id) => `KILL JOB ${quote(id)}`),
    weight: 1,
  },
  { arbitrary: fc.constantFrom('FLUSH', 'FLUSH TABLES', 'KILL', 'KILL JOB'), weight: 1 },
);

const CRONS = [
  '0 3 * * *',
  '@daily',
  '@hourly',
  '*/10 * * * * *',
  '* * * * * *',
  '* * * * *',
  '0 0 30 2 *',
  'x',
  '',
  '61 * * * *',
  '0 0 1 1 * 1999',
  '@reboot',
];

const scheduleStmt: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.boolean(),
      fc.oneof(identifier(POOL_SCHEDULES), fc.constantFrom("'retention'", "'fz sched'", `'${'s'.repeat(65)}'`)),
      fc.oneof(fc.constantFrom(...CRONS), stringValue),
      fc.oneof(
        tableRef.map((t) => `FLUSH TABLE ${t}`),
        fc.option(namespaceName).map((ns) => `FLUSH ALL TABLES${ns === null ? '' : ` IN ${ns}`}`),
        tableRef.map((t) => `COMPACT TABLE ${t}`),
        fc.option(tableRef).map((t) => `RETENTION${t === null ? '' : ` TABLE ${t}`}`),
        fc.constant('VACUUM'),
      ),
    )
    .map(
      ([ine, name, cron, job]) => `CREATE SCHEDULE ${ine ? 'IF NOT EXISTS ' : ''}${name} CRON ${quote(cron)} ${job}`,
    ),
  fc
    .tuple(fc.boolean(), fc.oneof(identifier(POOL_SCHEDULES), fc.constant("'retention'")))
    .map(([ie, name]) => `DROP SCHEDULE ${ie ? 'IF EXISTS ' : ''}${name}`),
);

const liveStmt: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.oneof(
        poolTarget.map((p) => p.ref),
        tableRef,
      ),
      sometimes(condition, 50),
      fc.option(fc.constantFrom('last_rows = 10', 'last_rows = 0', 'last_rows = 99999999999999999999', 'nope = 1'), {
        freq: 2,
      }),
    )
    .map(
      ([ref, where, opts]) =>
        `SUBSCRIBE TO ${ref}${where === null ? '' : ` WHERE ${where}`}${opts === null ? '' : ` OPTIONS (${opts})`}`,
    ),
  fc.oneof(stringValue, fc.constantFrom('sub-0123456789abcdef')).map((id) => `KILL LIVE QUERY ${quote(id)}`),
);

/**
 * User names for user management: the victims, root (which every statement but a password change to its own leaves
 * as it is: refused), and names that break the rules.
 */
const userName: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...VICTIMS).map(quote), weight: 8 },
  { arbitrary: fc.constantFrom(...VICTIMS), weight: 2 },
  { arbitrary: fc.constant("'root'"), weight: 1 },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom('', ' ', 'a\u0000b', 'tab\t', 'ünï', '😀', "o'brien", 'x'.repeat(129), 'x'.repeat(128)),
        stringValue,
      )
      .map(quote),
    weight: 2,
  },
);

const role: fc.Arbitrary<string> = fc.constantFrom('user', 'service', 'dba', 'system', "'dba'", 'admin', 'SYSTEM');

const password: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant("'fz-victim-pass'"), weight: 6 },
  { arbitrary: fc.constantFrom("''", quote('p'.repeat(1_025)), quote('😀')), weight: 1 },
);

/**
 * An actor's own record changed to what it already is — its password, or its role — by itself or by another: the
 * actor keeps its rights, but every token issued before is dead (the client logs in again after the 401).
 */
const actorAlter: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...(Object.keys(FUZZ_ACTORS) as FuzzActor[])), fc.boolean())
  .map(([who, byPassword]) => {
    // root's password belongs to the cluster under test (not known here): root's record is altered by role only.
    if (byPassword && who !== 'root') return `ALTER USER '${who}' SET PASSWORD ${quote(FUZZ_PASSWORD)}`;
    return `ALTER USER '${who}' SET ROLE ${FUZZ_ACTORS[who]}`;
  });

const userStmt: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.boolean(), userName, password, sometimes(role, 70))
    .map(
      ([ine, name, pass, r]) =>
        `CREATE USER ${ine ? 'IF NOT EXISTS ' : ''}${name} WITH PASSWORD ${pass}${r === null ? '' : ` ROLE ${r}`}`,
    ),
  fc.tuple(userName, role).map(([name, r]) => `ALTER USER ${name} SET ROLE ${r}`),
  fc
    .tuple(userName, password)
    .filter(([name]) => name !== "'root'")
    .map(([name, pass]) => `ALTER USER ${name} SET PASSWORD ${pass}`),
  actorAlter,
  fc.tuple(fc.boolean(), userName).map(([ie, name]) => `DROP USER ${ie ? 'IF EXISTS ' : ''}${name}`),
);

/** The statements EXECUTE AS USER wraps: its four, others it refuses, and a nested one. */
const innerStmt: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.oneof(selectStmt, insertPoolStmt, updateStmt, deleteStmt), weight: 8 },
  { arbitrary: fc.oneof(namespaceStmt, showStmt, dropTableStmt), weight: 1 },
  { arbitrary: fc.constant("EXECUTE AS USER 'fz_user' (SELECT * FROM app.notes)"), weight: 1 },
  { arbitrary: fc.constant(''), weight: 1 },
);

const executeAsStmt: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.constantFrom(...Object.keys(FUZZ_ACTORS), ...VICTIMS).map(quote), weight: 8 },
      { arbitrary: userName, weight: 1 },
      { arbitrary: fc.constant('fz_user'), weight: 1 },
    ),
    innerStmt,
    fc.constantFrom(')', ')', ')', '', '))', ') extra'),
  )
  .map(([user, inner, close]) => `EXECUTE AS USER ${user} (${inner}${close}`);

/** Text that is not a statement: garbage, token soup, keywords alone. */
const garbageStmt: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc
    .array(
      fc.constantFrom(
        'SELECT',
        'FROM',
        'WHERE',
        '(',
        ')',
        ',',
        ';',
        '*',
        "'",
        '"',
        '--',
        '/*',
        '$1',
        '?',
        'app.notes',
        'id',
        '=',
      ),
      {
        maxLength: 12,
      },
    )
    .map((parts) => parts.join(' ')),
  fc.constantFrom('', ';', ';;;', '   ', '-- only a comment', '/* unterminated', "'unterminated", '"unterminated'),
);

/** The statements that keep the pool populated: namespaces, canonical tables, the storage, well-typed rows. */
const builderStmt: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...POOL_NAMESPACES).map((ns) => `CREATE NAMESPACE IF NOT EXISTS ${ns}`), weight: 2 },
  { arbitrary: createPoolTableStmt, weight: 3 },
  { arbitrary: fc.constant("CREATE STORAGE fz_store TYPE filesystem PATH 'fz-storage'"), weight: 1 },
  { arbitrary: insertPoolStmt, weight: 10 },
);

/**
 * Statements big in one direction — many rows, many columns, a long string, deep nesting, long OR chains and IN
 * lists — each alone in its request (they would overflow the body limit together).
 */
const bigStatement: fc.Arbitrary<string> = fc.oneof(
  insertPool(5, SIZES.manyRowsMax),
  fc
    .tuple(poolTarget, longString)
    .map(([{ ref }, text]) => `INSERT INTO ${ref} (id, body) VALUES (${text.length}, ${quote(text)})`),
  fc.tuple(poolTarget, longString).map(([{ ref }, text]) => `UPDATE ${ref} SET body = ${quote(text)}`),
  fc
    .tuple(fc.constantFrom('SELECT * FROM', 'DELETE FROM', 'UPDATE'), poolTarget, hugeExpr)
    .map(([verb, { ref }, cond]) => `${verb} ${ref}${verb === 'UPDATE' ? ' SET n = 1' : ''} WHERE ${cond}`),
  fc
    .tuple(fc.constantFrom(...POOL_NAMESPACES), freshIdentifier, fc.integer({ min: 480, max: SIZES.manyColumnsMax }))
    .map(([ns, t, n]) => {
      const cols = Array.from({ length: n }, (_, i) => (i === 0 ? 'id BIGINT PRIMARY KEY' : `c${i} TEXT`));
      return `CREATE TABLE ${ns}.${t} (${cols.join(', ')})`;
    }),
  fc.integer({ min: 100, max: 1_001 }).map((n) => Array.from({ length: n }, () => 'SHOW NAMESPACES').join('; ')),
);

/** Every statement kind, weighted so that data statements (the ones that reach state machines) dominate. */
export const statement: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: builderStmt, weight: 14 },
  { arbitrary: insertAnyStmt, weight: 4 },
  { arbitrary: updateStmt, weight: 10 },
  { arbitrary: deleteStmt, weight: 8 },
  { arbitrary: selectStmt, weight: 10 },
  { arbitrary: systemSelectStmt, weight: 2 },
  { arbitrary: createAnyTableStmt, weight: 5 },
  { arbitrary: alterStmt, weight: 4 },
  { arbitrary: dropTableStmt, weight: 1 },
  { arbitrary: namespaceStmt, weight: 2 },
  { arbitrary: showStmt, weight: 3 },
  { arbitrary: storageStmt, weight: 2 },
  { arbitrary: jobStmt, weight: 2 },
  { arbitrary: scheduleStmt, weight: 1 },
  { arbitrary: liveStmt, weight: 2 },
  { arbitrary: userStmt, weight: 1 },
  { arbitrary: executeAsStmt, weight: 3 },
  { arbitrary: garbageStmt, weight: 2 },
);

/** A batch of statements separated by `;`: USE first now and then, empty statements, a trailing `;`. */
const batch: fc.Arbitrary<string> = fc
  .tuple(
    sometimes(
      fc.constantFrom(...POOL_NAMESPACES, 'nope').map((ns) => `USE ${ns}`),
      40,
    ),
    fc.array(statement, { minLength: 2, maxLength: 4 }),
    fc.constantFrom('; ', ';', ';\n', ' ; ; '),
    fc.constantFrom('', ';'),
  )
  .map(([use, stmts, sep, end]) => [...(use === null ? [] : [use]), ...stmts].join(sep) + end);

/** A statement cut at a random point (what a careless client sends). */
const truncated: fc.Arbitrary<string> = fc
  .tuple(statement, fc.double({ min: 0, max: 1, noNaN: true }))
  .map(([s, at]) => s.slice(0, Math.floor(s.length * at)));

export const sqlText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: statement, weight: 160 },
  { arbitrary: batch, weight: 24 },
  { arbitrary: truncated, weight: 8 },
  { arbitrary: bigStatement, weight: 1 },
);

/**
 * Who sends a request: every role, the privileged ones a little more often so that DDL succeeds too. Listed from the
 * least privileged, which is what a failing request shrinks toward: the shrunk request names the weakest role that
 * still reproduces it.
 */
const actor: fc.Arbitrary<FuzzActor> = fc.oneof(
  CROSS_SHRINK,
  { arbitrary: fc.constantFrom<FuzzActor>('fz_user', 'fz_user2'), weight: 4 },
  { arbitrary: fc.constant<FuzzActor>('fz_service'), weight: 2 },
  { arbitrary: fc.constant<FuzzActor>('fz_dba'), weight: 3 },
  { arbitrary: fc.constantFrom<FuzzActor>('fz_system', 'root'), weight: 3 },
);

/** One request: its actor, SQL text, and now and then `params` and a `namespace_id`. */
/** How many parameters the placeholders of `sql` want (the highest `$n`, or the number of `?`), roughly. */
function placeholdersIn(sql: string): number {
  const outsideStrings = sql.replace(/'(?:[^']|'')*'/g, "''");
  const dollars = [...outsideStrings.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
  const questions = (outsideStrings.match(/\?/g) ?? []).length;
  return Math.max(questions, ...dollars, 0);
}

/**
 * `params` for a request: when its text has placeholders, usually as many values as they want (cycling through
 * `values`), sometimes none or a wrong count; without placeholders, now and then a few anyway.
 */
function paramsFor(sql: string, values: readonly unknown[], dice: number): unknown[] | undefined {
  const wanted = placeholdersIn(sql);
  if (wanted > 0 && wanted <= 16 && dice < 80)
    return Array.from({ length: wanted }, (_, i) => values[i % values.length]);
  if (wanted > 0 && dice < 90) return undefined;
  if (wanted > 0 || dice < 4) return values.slice(0, dice % 5);
  return undefined;
}

export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    actor,
    sqlText,
    fc.array(paramValue, { minLength: 4, maxLength: 4 }),
    fc.integer({ min: 0, max: 99 }),
    sometimes(
      namespaceName.map((ns) => ns.replace(/^"(.*)"$/s, '$1')),
      15,
    ),
  )
  .map(([who, sql, values, dice, namespace]) => {
    const params = paramsFor(sql, values, dice);
    return {
      actor: who,
      sql,
      ...(params === undefined ? {} : { params }),
      ...(namespace === null ? {} : { namespace }),
    };
  });

/**
 * A row of each pool table in each pool namespace for every actor (USER and STREAM rows are per user), so that a
 * filter tried alone has rows to read. Some rows are refused (the SHARED ones need service or higher): that is fine.
 */
export function setupRows(): { actor: FuzzActor; sql: string }[] {
  return POOL_NAMESPACES.flatMap((ns) =>
    (Object.keys(FUZZ_ACTORS) as FuzzActor[]).flatMap((actor, i) => [
      {
        actor,
        sql: `INSERT INTO ${ns}.notes (id, body, n, flag, ts) VALUES (${i + 1}, 'note ${actor}', ${i}, TRUE, 0)`,
      },
      { actor, sql: `INSERT INTO ${ns}.events (id, body, ts) VALUES (${i + 1}, 'event ${actor}', 0)` },
      {
        actor,
        sql: `INSERT INTO ${ns}.wide (uid, id, body) VALUES ('00000000-0000-4000-8000-00000000000${i}', ${i}, 'w')`,
      },
      { actor, sql: `INSERT INTO ${ns}.shared_notes (id, body, score) VALUES (${i + 1}, 'shared ${actor}', 0.5)` },
      { actor, sql: `INSERT INTO ${ns}.stored (id, body) VALUES (${i + 1}, 'stored ${actor}')` },
    ]),
  );
}

/** What the test runs before the fuzz, as root: the actors, the storage, the pool's namespaces and tables. */
export function setupStatements(): string[] {
  const users = Object.entries(FUZZ_ACTORS)
    .filter(([name]) => name !== 'root')
    .map(([name, r]) => `CREATE USER IF NOT EXISTS '${name}' WITH PASSWORD '${FUZZ_PASSWORD}' ROLE ${r}`);
  return [
    ...users,
    "CREATE STORAGE fz_store TYPE filesystem PATH 'fz-storage'",
    ...POOL_NAMESPACES.flatMap((ns) => [
      `CREATE NAMESPACE IF NOT EXISTS ${ns}`,
      ...POOL_TABLE_NAMES.map((t) => createPoolTable(ns, t)),
    ]),
  ];
}
