/**
 * parseSql: a batch of `;`-separated statements → typed statements. The first keyword(s) of each statement choose
 * its parser: SELECT / INSERT / UPDATE / DELETE go to node-sql-parser (dml.ts), KalamDB's own statements to the
 * recursive-descent parsers here and in table-ddl.ts. An unknown first word is an error at that word.
 */
import {
  USER_ROLES,
  type AlterClusterRemoveNode,
  type AlterUser,
  type CreateSchedule,
  type CreateUser,
  type ExecuteAsUser,
  type FlushAllTables,
  type FlushTable,
  type ScheduledJob,
  type Statement,
  type SubscribeTo,
  type UserRole,
} from './ast.js';
import { Cursor } from './cursor.js';
import { parseDelete, parseInsert, parseSelect, parseSubscribeQuery, parseUpdate, type LibInput } from './dml.js';
import { SqlError, limitExceeded } from './errors.js';
import { splitStatements, tokenize, type Token } from './lexer.js';
import { SQL_LIMITS } from './limits.js';
import { parseAlterTable, parseCreateTable } from './table-ddl.js';

/**
 * Successful parses by SQL text, deep-frozen: statements are readonly data, and an application sends the same
 * parameterized text again and again. Bounded; the oldest entry goes first.
 */
const parsed = new Map<string, readonly Statement[]>();

/**
 * Parses a batch; throws SqlError (EMPTY_SQL for a blank batch, INVALID_SQL with the position otherwise). The
 * result is frozen and may be shared with other callers of the same text.
 */
export function parseSql(sql: string): readonly Statement[] {
  const known = parsed.get(sql);
  if (known !== undefined) return known;
  const statements = deepFreeze(parseFresh(sql));
  if (sql.length <= SQL_LIMITS.parseCacheSqlCharsMax) {
    if (parsed.size >= SQL_LIMITS.parseCacheEntriesMax) {
      const oldest = parsed.keys().next().value;
      if (oldest !== undefined) parsed.delete(oldest);
    }
    parsed.set(sql, statements);
  }
  return statements;
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function parseFresh(sql: string): Statement[] {
  if (sql.length > SQL_LIMITS.sqlCharsMax) {
    throw limitExceeded(sql, null, 'sqlCharsMax', `SQL text of ${sql.length} characters`);
  }
  const tokens = tokenize(sql);
  const ranges = splitStatements(tokens);
  if (ranges.length === 0) throw new SqlError('EMPTY_SQL', 'no SQL statement given');
  const beyond = ranges[SQL_LIMITS.batchStatementsMax];
  if (beyond !== undefined) {
    const offset = tokens[beyond.from]?.start ?? null;
    throw limitExceeded(sql, offset, 'batchStatementsMax', `a batch of ${ranges.length} statements`);
  }
  return ranges.map(({ from, to }, index) => {
    try {
      return parseStatement(new Cursor(sql, tokens, from, to), 0);
    } catch (err) {
      if (ranges.length === 1 || !(err instanceof SqlError)) throw err;
      // In a batch, say which statement failed; the code stays BATCH_PARSE_ERROR as KalamDB reports it, except
      // LIMIT_EXCEEDED, which keeps its code and names its bound.
      const message = `statement ${index + 1} of ${ranges.length}: ${err.message}`;
      const code = err.code === 'LIMIT_EXCEEDED' ? err.code : 'BATCH_PARSE_ERROR';
      throw new SqlError(code, message, err.position, {
        cause: err,
        ...(err.limit === null ? {} : { limit: err.limit }),
      });
    }
  });
}

function keywordOf(token: Token): string {
  return token.kind === 'word' ? token.value.toUpperCase() : '';
}

function libInput(c: Cursor): LibInput {
  return { source: c.source, tokens: c.tokens, from: c.pos, to: c.to };
}

/** Parses the statement [c.pos, c.to); `depth` counts enclosing EXECUTE AS USER. */
function parseStatement(c: Cursor, depth: number): Statement {
  const first = c.peek();
  switch (keywordOf(first)) {
    case 'SELECT':
      return parseSelect(libInput(c));
    case 'INSERT':
      return parseInsert(libInput(c));
    case 'UPDATE':
      return parseUpdate(libInput(c));
    case 'DELETE':
      return parseDelete(libInput(c));
    default:
      return parseKalamStatement(c, depth);
  }
}

function parseKalamStatement(c: Cursor, depth: number): Statement {
  const first = c.next();
  const keyword = keywordOf(first);
  let statement: Statement;
  switch (keyword) {
    case 'CREATE':
      statement = parseCreate(c);
      break;
    case 'DROP':
      statement = parseDrop(c);
      break;
    case 'ALTER':
      if (c.acceptKeywords('TABLE')) return parseAlterTable(c);
      if (c.acceptKeywords('CLUSTER')) {
        statement = parseAlterCluster(c);
        break;
      }
      if (!c.acceptKeywords('USER')) throw c.expected('TABLE, USER or CLUSTER');
      statement = parseAlterUser(c);
      break;
    case 'SHOW':
      statement = parseShow(c);
      break;
    case 'USE':
      c.acceptKeywords('NAMESPACE');
      statement = { kind: 'Use', namespace: c.identifier('a namespace') };
      break;
    case 'DESCRIBE':
    case 'DESC':
      c.acceptKeywords('TABLE');
      statement = { kind: 'DescribeTable', table: c.tableRef() };
      break;
    case 'EXECUTE':
      return parseExecuteAs(c, depth);
    case 'FLUSH':
      statement = parseFlush(c);
      break;
    case 'KILL':
      statement = parseKill(c);
      break;
    case 'SUBSCRIBE':
      return parseSubscribe(c);
    default:
      throw c.error(first, `unknown statement ${first.kind === 'eof' ? '' : JSON.stringify(first.value)}`.trim());
  }
  c.expectEnd();
  return statement;
}

function parseCreate(c: Cursor): Statement {
  if (c.acceptKeywords('NAMESPACE')) {
    const ifNotExists = c.acceptKeywords('IF', 'NOT', 'EXISTS');
    return { kind: 'CreateNamespace', name: c.identifier('a namespace name'), ifNotExists };
  }
  if (c.acceptKeywords('SCHEDULE')) return parseCreateSchedule(c);
  if (c.acceptKeywords('STORAGE')) {
    const id = c.nameOrString('a storage id');
    c.expectKeywords('TYPE');
    const type = c.nameOrString("a storage type such as 'filesystem'").toLowerCase();
    c.expectKeywords('PATH');
    return { kind: 'CreateStorage', id, type, path: c.stringLiteral('a path') };
  }
  if (c.isKeyword('USER') && !c.isKeyword('TABLE', 1)) {
    c.next();
    return parseCreateUser(c);
  }
  // CREATE [USER|SHARED|STREAM] TABLE, and an unknown word before TABLE is an unknown table type.
  if (c.isKeyword('TABLE') || c.isKeyword('TABLE', 1)) return parseCreateTable(c);
  throw c.expected('NAMESPACE, TABLE, USER, SHARED, STREAM, STORAGE or SCHEDULE after CREATE');
}

function parseRole(c: Cursor): UserRole {
  const token = c.peek();
  const role = c.nameOrString('a role').toLowerCase();
  if (!Object.hasOwn(USER_ROLES, role)) throw c.error(token, 'the role is one of user, service, dba, system');
  return role as UserRole;
}

/** CREATE USER [IF NOT EXISTS] 'name' WITH PASSWORD '…' [ROLE r]; the role defaults to user. */
function parseCreateUser(c: Cursor): CreateUser {
  const ifNotExists = c.acceptKeywords('IF', 'NOT', 'EXISTS');
  const name = c.nameOrString('a user name');
  c.expectKeywords('WITH', 'PASSWORD');
  const password = c.stringLiteral('a password string');
  const role = c.acceptKeywords('ROLE') ? parseRole(c) : USER_ROLES.user;
  return { kind: 'CreateUser', name, password, role, ifNotExists };
}

/** ALTER USER 'name' SET PASSWORD '…' | SET ROLE r; `ALTER USER` has been consumed. */
function parseAlterUser(c: Cursor): AlterUser {
  const name = c.nameOrString('a user name');
  c.expectKeywords('SET');
  if (c.acceptKeywords('PASSWORD'))
    return { kind: 'AlterUser', name, set: { password: c.stringLiteral('a password') } };
  if (c.acceptKeywords('ROLE')) return { kind: 'AlterUser', name, set: { role: parseRole(c) } };
  throw c.expected('PASSWORD or ROLE');
}

function parseDrop(c: Cursor): Statement {
  if (c.acceptKeywords('NAMESPACE')) {
    const ifExists = c.acceptKeywords('IF', 'EXISTS');
    const name = c.identifier('a namespace name');
    return { kind: 'DropNamespace', name, ifExists, cascade: c.acceptKeywords('CASCADE') };
  }
  if (c.acceptKeywords('USER')) {
    const ifExists = c.acceptKeywords('IF', 'EXISTS');
    return { kind: 'DropUser', name: c.nameOrString('a user name'), ifExists };
  }
  if (c.acceptKeywords('STORAGE')) return { kind: 'DropStorage', id: c.nameOrString('a storage id') };
  if (c.acceptKeywords('SCHEDULE')) {
    const ifExists = c.acceptKeywords('IF', 'EXISTS');
    return { kind: 'DropSchedule', name: c.nameOrString('a schedule name'), ifExists };
  }
  // DROP [USER|SHARED|STREAM] TABLE: the type word is accepted and not checked against the table.
  if (['USER', 'SHARED', 'STREAM'].some((type) => c.isKeyword(type)) && c.isKeyword('TABLE', 1)) c.next();
  if (c.acceptKeywords('TABLE')) {
    const ifExists = c.acceptKeywords('IF', 'EXISTS');
    return { kind: 'DropTable', table: c.tableRef(), ifExists };
  }
  throw c.expected('NAMESPACE, TABLE, USER, STORAGE or SCHEDULE after DROP');
}

function parseShow(c: Cursor): Statement {
  if (c.acceptKeywords('NAMESPACES')) return { kind: 'ShowNamespaces' };
  if (c.acceptKeywords('STORAGES')) return { kind: 'ShowStorages' };
  if (c.acceptKeywords('SCHEDULES')) return { kind: 'ShowSchedules' };
  if (c.acceptKeywords('TABLES')) {
    const namespace = c.acceptKeywords('IN') || c.acceptKeywords('FROM') ? c.identifier('a namespace') : null;
    return { kind: 'ShowTables', namespace };
  }
  throw c.expected('NAMESPACES, TABLES, STORAGES or SCHEDULES after SHOW');
}

function parseFlush(c: Cursor): FlushTable | FlushAllTables {
  if (c.acceptKeywords('TABLE')) return { kind: 'FlushTable', table: c.tableRef() };
  if (c.acceptKeywords('ALL', 'TABLES')) {
    return { kind: 'FlushAllTables', namespace: c.acceptKeywords('IN') ? c.identifier('a namespace') : null };
  }
  throw c.expected('TABLE or ALL TABLES after FLUSH');
}

/**
 * CREATE SCHEDULE [IF NOT EXISTS] name CRON 'expr' (FLUSH TABLE t | FLUSH ALL TABLES [IN ns] | COMPACT TABLE t |
 * RETENTION [TABLE t]); `CREATE SCHEDULE` has been consumed.
 */
function parseCreateSchedule(c: Cursor): CreateSchedule {
  const ifNotExists = c.acceptKeywords('IF', 'NOT', 'EXISTS');
  const name = c.nameOrString('a schedule name');
  c.expectKeywords('CRON');
  const cron = c.stringLiteral("a cron expression string such as '0 3 * * *'");
  return { kind: 'CreateSchedule', name, cron, job: parseScheduledJob(c), ifNotExists };
}

function parseScheduledJob(c: Cursor): ScheduledJob {
  if (c.acceptKeywords('FLUSH')) return parseFlush(c);
  if (c.acceptKeywords('COMPACT', 'TABLE')) return { kind: 'CompactTable', table: c.tableRef() };
  if (c.acceptKeywords('RETENTION')) {
    return { kind: 'Retention', table: c.acceptKeywords('TABLE') ? c.tableRef() : null };
  }
  throw c.expected('FLUSH TABLE, FLUSH ALL TABLES, COMPACT TABLE or RETENTION after the cron expression');
}

/**
 * ALTER CLUSTER REMOVE NODE n [, m …]; `ALTER CLUSTER` has been consumed. ADD NODE is refused here with where a node
 * comes from instead: a cluster cannot admit a node that is not running, and a running node asks to join by itself.
 */
function parseAlterCluster(c: Cursor): AlterClusterRemoveNode {
  const add = c.peek();
  if (c.acceptKeywords('ADD')) {
    throw c.error(
      add,
      'ALTER CLUSTER ADD NODE does not exist: a node joins by itself — start it with an empty data_dir, the ' +
        'cluster secret and `kalam serve --join http://MEMBER:API_PORT` (or `kalam node add` for a local cluster), ' +
        'and the cluster makes it a voter of every group',
    );
  }
  c.expectKeywords('REMOVE', 'NODE');
  const nodeIds: number[] = [];
  do nodeIds.push(c.integer('a node id'));
  while (c.acceptOp(','));
  return { kind: 'AlterClusterRemoveNode', nodeIds };
}

function parseKill(c: Cursor): Statement {
  if (c.acceptKeywords('JOB')) return { kind: 'KillJob', jobId: c.nameOrString('a job id') };
  if (c.acceptKeywords('LIVE', 'QUERY')) return { kind: 'KillLiveQuery', liveId: c.nameOrString('a live query id') };
  throw c.expected('JOB or LIVE QUERY after KILL');
}

/** EXECUTE AS USER 'id' ( statement ); `EXECUTE` has been consumed. */
function parseExecuteAs(c: Cursor, depth: number): ExecuteAsUser {
  c.expectKeywords('AS', 'USER');
  const userId = c.nameOrString('a user id');
  const open = c.peek();
  c.expectOp('(');
  const close = findClosingParen(c, open);
  const inner = new Cursor(c.source, c.tokens, c.pos, close);
  if (inner.atEnd()) throw inner.expected('a statement');
  const innerFirst = inner.peek();
  if (depth + 1 > SQL_LIMITS.executeAsDepthMax || keywordOf(innerFirst) === 'EXECUTE') {
    throw c.error(innerFirst, 'EXECUTE AS USER cannot be nested');
  }
  const statement = parseStatement(inner, depth + 1);
  c.pos = close + 1;
  c.expectEnd();
  return { kind: 'ExecuteAsUser', userId, statement };
}

function findClosingParen(c: Cursor, open: Token): number {
  let depth = 1;
  for (let i = c.pos; i < c.to; i++) {
    const token = c.tokens[i];
    if (token?.kind !== 'op') continue;
    if (token.value === '(') depth++;
    if (token.value === ')') depth--;
    if (depth === 0) return i;
  }
  throw c.error(open, 'unclosed "("');
}

/** SUBSCRIBE TO t [WHERE …] [OPTIONS (last_rows = n)]; the cursor is after SUBSCRIBE. */
function parseSubscribe(c: Cursor): SubscribeTo {
  const subscribeAt = c.pos - 1;
  c.expectKeywords('TO');
  let optionsAt = c.to;
  let depth = 0;
  for (let i = c.pos; i < c.to; i++) {
    const token = c.tokens[i];
    if (token?.kind === 'op' && token.value === '(') depth++;
    if (token?.kind === 'op' && token.value === ')') depth--;
    if (depth === 0 && token?.kind === 'word' && token.value.toUpperCase() === 'OPTIONS') optionsAt = i;
  }
  if (optionsAt === c.pos) throw c.expected('a table name');
  const query = parseSubscribeQuery({
    source: c.source,
    tokens: c.tokens,
    from: subscribeAt,
    to: optionsAt,
    replacement: { from: subscribeAt, to: c.pos, text: 'select * from' },
  });
  c.pos = optionsAt;
  const options: { lastRows?: number } = {};
  if (c.acceptKeywords('OPTIONS')) {
    c.expectOp('(');
    do {
      const key = c.peek();
      if (c.identifier('an option name') !== 'last_rows')
        throw c.error(key, `unknown subscription option ${key.value}`);
      c.expectOp('=');
      options.lastRows = c.integer('a number of rows');
    } while (c.acceptOp(','));
    c.expectOp(')');
  }
  c.expectEnd();
  return { kind: 'SubscribeTo', table: query.table, where: query.where, options };
}
