/**
 * The one definition of a well-formed command. Every command is checked twice with these functions: by the executor
 * before it is proposed (so a statement that could not apply is refused when it is planned, with a 4xx) and by the
 * state machine after it decodes an entry (so an entry that reached the log anyway — written by an older version, or
 * by a planner bug — becomes the same deterministic refusal on every replica instead of stopping the node).
 *
 * What is checked here is everything that does not depend on replicated state: shapes and types, identifiers, table
 * schemas, row values, row expressions (sql's checkRowExpr), file names, cron expressions and sizes. What depends on
 * state (a table exists, a key is free) is the state machine's to judge at apply, where it is deterministic too.
 * Each checker takes what JSON decoding gave and returns it typed, or throws ApplyError('INVALID').
 */
import { COLUMN_TYPES, SqlError, USER_ROLES, checkRowExpr, isCarriedNumber } from '@kalam/sql';
import type { Expr } from '@kalam/sql';

import { CLUSTER_NODE_STATES } from './commands.js';
import type {
  ClientStamp,
  ColumnSchema,
  ComputedAssignment,
  JobsCommand,
  Row,
  SharedDataCommand,
  StorageConfig,
  SystemCommand,
  TableSchema,
  TableType,
  UserDataCommand,
  UserRecord,
  UsersCommand,
  Value,
} from './commands.js';
import { storagePathProblem } from './cold/paths.js';
import { CLIENT_SESSION_LIMITS, COMMAND_LIMITS } from './limits.js';
import { ScheduleError, checkCron } from './schedule.js';
import { ApplyError } from './state/base.js';
import { TableNameError, checkIdentifier, splitTableId, valueFits } from './tables.js';

// ---------------------------------------------------------------- shared rules

/** Column names Kalam keeps for itself in every physical table. */
export const RESERVED_COLUMNS: ReadonlySet<string> = new Set(['_seq', '_deleted', '_user_id', '_shard']);

/** Namespaces Kalam keeps for itself (`system.*` names the system tables). */
export const RESERVED_NAMESPACES: ReadonlySet<string> = new Set(['system']);

/** Functions a column DEFAULT may name: the planner evaluates them before proposing (apply never sees a clock). */
export const DEFAULT_FUNCTIONS: ReadonlySet<string> = new Set(['NOW', 'CURRENT_TIMESTAMP', 'SNOWFLAKE_ID', 'UUID']);

/** Storage types a table's flushed files can be written to. */
export const STORAGE_TYPES: ReadonlySet<string> = new Set(['filesystem']);

/** Names a flushed file may have: no path separators, a .parquet suffix. */
export const FLUSHED_FILE_NAME = /^[a-z0-9][a-z0-9._-]{0,120}\.parquet$/;

const TABLE_TYPES: ReadonlySet<string> = new Set(['USER', 'SHARED', 'STREAM']);
const COLUMN_TYPE_NAMES: ReadonlySet<string> = new Set(Object.values(COLUMN_TYPES));
const ROLES: ReadonlySet<string> = new Set(Object.values(USER_ROLES));
const JOB_STATUSES: ReadonlySet<string> = new Set(['new', 'queued', 'running', 'completed', 'failed', 'cancelled']);

const NODE_STATES: ReadonlySet<string> = new Set(CLUSTER_NODE_STATES);

/** A member's two addresses: printable text, bounded (what is reachable is the joiner's and the operator's to know). */
function clusterAddress(c: Record<string, unknown>): void {
  text(c['rpcAddr'], 'rpcAddr', COMMAND_LIMITS.nameCharsMax);
  text(c['apiAddr'], 'apiAddr', COMMAND_LIMITS.nameCharsMax);
}

function invalid(message: string): ApplyError {
  return new ApplyError('INVALID', message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) throw invalid(`${what} must be an object`);
  return v;
}

function int(v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${what} must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function intOrNull(v: unknown, what: string, min = 0): number | null {
  return v === null ? null : int(v, what, min);
}

/** A string of 1 … max characters without control characters. */
function text(v: unknown, what: string, max: number, min = 1): string {
  // eslint-disable-next-line no-control-regex
  if (typeof v !== 'string' || v.length < min || v.length > max || /[\u0000-\u001f\u007f]/.test(v)) {
    throw invalid(`${what} must be ${min}…${max} printable characters`);
  }
  return v;
}

function textOrNull(v: unknown, what: string, max: number): string | null {
  return v === null ? null : text(v, what, max, 0);
}

/** Free text (a job's result, an error message, a reason): any characters, at most `max` of them. */
function message(v: unknown, what: string, max: number): string {
  if (typeof v !== 'string' || v.length > max) throw invalid(`${what} must be text of at most ${max} characters`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw invalid(`${what} must be true or false`);
  return v;
}

function oneOf<T extends string>(v: unknown, what: string, allowed: ReadonlySet<string>): T {
  if (typeof v !== 'string' || !allowed.has(v)) throw invalid(`${what} must be one of ${[...allowed].join(', ')}`);
  return v as T;
}

function array(v: unknown, what: string, max: number, min = 0): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max) {
    throw invalid(`${what} must be a list of ${min} to ${max} items`);
  }
  return v;
}

/** Identifier rules (tables.ts) as an ApplyError. */
function ident(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(`${what} must be a name`);
  try {
    checkIdentifier(what, v);
  } catch (err) {
    if (err instanceof TableNameError) throw invalid(err.message);
    throw err;
  }
  return v;
}

/** `namespace.table`, each part an identifier. */
export function checkTableId(v: unknown): string {
  if (typeof v !== 'string') throw invalid('a table id must be a string');
  try {
    splitTableId(v);
  } catch (err) {
    if (err instanceof TableNameError) throw invalid(err.message);
    throw err;
  }
  return v;
}

/** A stored SQL value: a string, a finite number (integers within ±2^53), a boolean or NULL. */
export function checkValue(v: unknown, what: string): Value {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    if (v.length > COMMAND_LIMITS.valueCharsMax) throw invalid(`${what}: a value longer than the limit`);
    return v;
  }
  if (typeof v === 'number' && isCarriedNumber(v)) return v;
  throw invalid(`${what} must be a string, a finite number within ±2^53, a boolean or NULL`);
}

function rowOf(v: unknown, what: string): Row {
  const r = record(v, what);
  const keys = Object.keys(r);
  if (keys.length > COMMAND_LIMITS.columnsPerTableMax) throw invalid(`${what} has too many columns`);
  for (const k of keys) checkValue(r[k], `${what}, column ${ident(k, 'column')}`);
  return r as Row;
}

function expr(v: unknown, what: string): Expr {
  try {
    return checkRowExpr(v, what);
  } catch (err) {
    if (err instanceof SqlError) throw invalid(err.message);
    throw err;
  }
}

function exprOrNull(v: unknown, what: string): Expr | null {
  return v === null ? null : expr(v, what);
}

/** A column type and a literal default it can hold. */
function checkDefault(c: { name: string; type: string }, d: unknown): ColumnSchema['default'] {
  if (d === null) return null;
  const o = record(d, `the DEFAULT of ${c.name}`);
  if ('fn' in o) {
    const fn = oneOf<string>(o['fn'], `the DEFAULT of ${c.name}`, DEFAULT_FUNCTIONS);
    return { fn };
  }
  const literal = checkValue(o['literal'], `the DEFAULT of ${c.name}`);
  if (literal !== null && !valueFits(c.type, literal)) {
    throw invalid(`the DEFAULT of ${c.name} (${c.type}) cannot be ${JSON.stringify(literal)}`);
  }
  return { literal };
}

function checkColumn(v: unknown, i: number): ColumnSchema {
  const c = record(v, `column ${i + 1}`);
  const name = ident(c['name'], 'column');
  if (RESERVED_COLUMNS.has(name)) throw invalid(`column name ${name} is reserved for Kalam's own columns`);
  const type = oneOf<string>(c['type'], `the type of ${name}`, COLUMN_TYPE_NAMES);
  return {
    name,
    type,
    notNull: bool(c['notNull'], `NOT NULL of ${name}`),
    default: checkDefault({ name, type }, c['default']),
  };
}

/**
 * A table schema: columns, key and options; with a table type, KalamDB's option rules for it too (an ALTER TABLE
 * keeps the options of a schema that passed them, and the state machine checks that it does).
 */
export function checkSchema(v: unknown, tableType: TableType | null): TableSchema {
  const s = record(v, 'a table schema');
  const columns = array(s['columns'], 'the columns', COMMAND_LIMITS.columnsPerTableMax, 1).map(checkColumn);
  if (new Set(columns.map((c) => c.name)).size !== columns.length) throw invalid('duplicate column names');
  const primaryKey = ident(s['primaryKey'], 'primary key');
  if (!columns.some((c) => c.name === primaryKey)) throw invalid(`primary key ${primaryKey} is not a column`);
  const o = record(s['options'], 'the table options');
  for (const k of Object.keys(o)) {
    if (!['ttlSeconds', 'flushPolicy', 'accessLevel', 'storageId'].includes(k)) throw invalid(`unknown option ${k}`);
  }
  const options: { -readonly [K in keyof TableSchema['options']]: TableSchema['options'][K] } = {};
  if (o['ttlSeconds'] !== undefined)
    options.ttlSeconds = int(o['ttlSeconds'], 'TTL_SECONDS', 1, COMMAND_LIMITS.ttlSecondsMax);
  if (o['flushPolicy'] !== undefined) {
    const rows = record(o['flushPolicy'], 'FLUSH_POLICY')['rows'];
    options.flushPolicy = { rows: int(rows, 'FLUSH_POLICY rows', 1, COMMAND_LIMITS.flushPolicyRowsMax) };
  }
  if (o['accessLevel'] !== undefined) {
    options.accessLevel = oneOf<'PUBLIC' | 'PRIVATE'>(o['accessLevel'], 'ACCESS_LEVEL', new Set(['PUBLIC', 'PRIVATE']));
  }
  if (o['storageId'] !== undefined) options.storageId = ident(o['storageId'], 'storage');
  if (tableType !== null) checkOptionsFor(tableType, options);
  return { columns, primaryKey, options };
}

function checkOptionsFor(tableType: TableType, options: TableSchema['options']): void {
  if (tableType === 'STREAM' && options.ttlSeconds === undefined) {
    throw invalid('a STREAM table needs WITH (TTL_SECONDS = …)');
  }
  if (tableType !== 'STREAM' && options.ttlSeconds !== undefined)
    throw invalid('TTL_SECONDS applies to STREAM tables only');
  if (tableType !== 'SHARED' && options.accessLevel !== undefined) {
    throw invalid('ACCESS_LEVEL applies to SHARED tables only');
  }
}

/**
 * ALTER TABLE may only add columns that existing rows can do without: nullable, not the key, every old column kept
 * as it was, the options unchanged.
 */
export function checkAlter(old: TableSchema, next: TableSchema, tableId: string): void {
  const sameOld = old.columns.every((c, i) => JSON.stringify(next.columns[i]) === JSON.stringify(c));
  const added = next.columns.slice(old.columns.length);
  if (
    !sameOld ||
    next.primaryKey !== old.primaryKey ||
    JSON.stringify(next.options) !== JSON.stringify(old.options) ||
    added.length === 0
  ) {
    throw invalid(`ALTER TABLE ${tableId} may only add columns`);
  }
  for (const c of added) {
    if (c.notNull) throw invalid(`ADD COLUMN ${c.name}: an added column must be nullable and not the primary key`);
  }
}

function storageConfig(v: unknown): StorageConfig {
  const c = record(v, 'a storage config');
  const type = c['type'];
  if (typeof type !== 'string' || !STORAGE_TYPES.has(type)) {
    throw invalid(`storage type ${String(type)} is not supported yet (use ${[...STORAGE_TYPES].join(', ')})`);
  }
  const path = text(c['path'], 'the storage PATH', COMMAND_LIMITS.pathCharsMax);
  if (path.trim() === '') throw invalid('a storage needs a non-empty PATH');
  const problem = storagePathProblem(path);
  if (problem !== undefined) throw invalid(problem);
  return { type, path };
}

function fileName(v: unknown, what: string): string {
  if (typeof v !== 'string' || !FLUSHED_FILE_NAME.test(v)) throw invalid(`bad ${what} name ${String(v)}`);
  return v;
}

/** A user name: 1 … userNameCharsMax printable characters. */
export function checkUserName(v: unknown): string {
  return text(v, 'a user name', COMMAND_LIMITS.userNameCharsMax);
}

function userId(v: unknown): string {
  return text(v, 'a user id', COMMAND_LIMITS.userIdCharsMax);
}

function config(v: unknown, what: string): Readonly<Record<string, Value>> | null {
  if (v === null) return null;
  const c = record(v, what);
  const keys = Object.keys(c);
  if (keys.length > COMMAND_LIMITS.configKeysMax) throw invalid(`${what} has too many keys`);
  for (const k of keys) {
    text(k, `a key of ${what}`, COMMAND_LIMITS.nameCharsMax);
    checkValue(c[k], `${what}.${k}`);
  }
  return c as Readonly<Record<string, Value>>;
}

/** Fields a command may not carry besides the ones listed (a stray field would be stored or ignored unevenly). */
function only(c: Record<string, unknown>, fields: readonly string[]): void {
  for (const k of Object.keys(c)) {
    if (k !== 'type' && !fields.includes(k)) throw invalid(`${String(c['type'])} has an unknown field ${k}`);
  }
}

/** A namespace that may be created (or hold a new table): an identifier Kalam does not keep for itself. */
function newNamespace(v: unknown): string {
  const ns = ident(v, 'namespace');
  if (RESERVED_NAMESPACES.has(ns)) throw invalid(`namespace ${ns} is reserved`);
  return ns;
}

// ---------------------------------------------------------------- per group kind

export function checkSystemCommand(v: unknown): SystemCommand {
  const c = record(v, 'a command');
  switch (c['type']) {
    case 'CreateNamespace':
      only(c, ['namespaceId', 'createdBy', 'createdAt']);
      newNamespace(c['namespaceId']);
      textOrNull(c['createdBy'], 'createdBy', COMMAND_LIMITS.userIdCharsMax);
      int(c['createdAt'], 'createdAt');
      break;
    case 'DeleteNamespace':
      only(c, ['namespaceId']);
      ident(c['namespaceId'], 'namespace');
      break;
    case 'CreateTable': {
      only(c, ['tableId', 'tableType', 'schema', 'createdAt']);
      newNamespace(splitTableId(checkTableId(c['tableId']))[0]);
      const type = oneOf<TableType>(c['tableType'], 'the table type', TABLE_TYPES);
      checkSchema(c['schema'], type);
      int(c['createdAt'], 'createdAt');
      break;
    }
    case 'AlterTable':
      only(c, ['tableId', 'schema']);
      checkTableId(c['tableId']);
      // The table type is the state machine's to know; the option rules are checked against it at apply.
      checkSchema(c['schema'], null);
      break;
    case 'DropTable':
      only(c, ['tableId']);
      checkTableId(c['tableId']);
      break;
    case 'RegisterStorage':
      only(c, ['storageId', 'config']);
      ident(c['storageId'], 'storage');
      storageConfig(c['config']);
      break;
    case 'UnregisterStorage':
      only(c, ['storageId']);
      ident(c['storageId'], 'storage');
      break;
    case 'SeedClusterNodes': {
      only(c, ['nodes', 'createdAt']);
      const nodes = array(c['nodes'], 'nodes', COMMAND_LIMITS.clusterNodesMax, 1).map((n) => {
        const r = record(n, 'a node');
        only({ ...r, type: 'a node' }, ['nodeId', 'rpcAddr', 'apiAddr']);
        clusterAddress(r);
        return int(r['nodeId'], 'nodeId', 1);
      });
      if (new Set(nodes).size !== nodes.length) throw invalid('SeedClusterNodes lists a node id twice');
      int(c['createdAt'], 'createdAt');
      break;
    }
    case 'AddClusterNode':
      only(c, ['rpcAddr', 'apiAddr', 'createdAt']);
      clusterAddress(c);
      int(c['createdAt'], 'createdAt');
      break;
    case 'SetClusterNodeState':
      only(c, ['nodeId', 'from', 'to']);
      int(c['nodeId'], 'nodeId', 1);
      oneOf(c['from'], 'from', NODE_STATES);
      oneOf(c['to'], 'to', NODE_STATES);
      break;
    default:
      throw invalid(`unknown meta:system command ${String(c['type'])}`);
  }
  return c as unknown as SystemCommand;
}

/** The user Kalam bootstraps (role system): it keeps that role and is never dropped, or system statements lock out. */
export const ROOT_USER_ID = 'root';

/** Why a change to a user may not be made whatever the state: root demoted or dropped; null when it may. */
export function rootProblem(userId: string, change: { readonly role: string } | 'drop'): string | null {
  if (userId !== ROOT_USER_ID) return null;
  if (change === 'drop') return 'the root user cannot be dropped';
  return change.role === 'system' ? null : 'the root user keeps the system role';
}

function userRecord(v: unknown): UserRecord {
  const u = record(v, 'a user');
  for (const k of Object.keys(u)) {
    if (!['userId', 'username', 'passwordHash', 'role', 'createdAt', 'updatedAt'].includes(k)) {
      throw invalid(`a user record has an unknown field ${k}`);
    }
  }
  userId(u['userId']);
  checkUserName(u['username']);
  text(u['passwordHash'], 'a password hash', COMMAND_LIMITS.passwordHashCharsMax);
  oneOf(u['role'], 'the role', ROLES);
  int(u['createdAt'], 'createdAt');
  int(u['updatedAt'], 'updatedAt');
  return u as unknown as UserRecord;
}

export function checkUsersCommand(v: unknown): UsersCommand {
  const c = record(v, 'a command');
  switch (c['type']) {
    case 'CreateUser':
    case 'UpdateUser': {
      only(c, ['user']);
      const u = userRecord(c['user']);
      const problem = rootProblem(u.userId, u);
      if (problem !== null) throw invalid(problem);
      break;
    }
    case 'DeleteUser': {
      only(c, ['userId', 'deletedAt']);
      const problem = rootProblem(userId(c['userId']), 'drop');
      if (problem !== null) throw invalid(problem);
      int(c['deletedAt'], 'deletedAt');
      break;
    }
    case 'RecordLogin':
      only(c, ['userId', 'loggedInAt']);
      userId(c['userId']);
      int(c['loggedInAt'], 'loggedInAt');
      break;
    case 'SetLocked':
      only(c, ['userId', 'lockedUntil', 'updatedAt']);
      userId(c['userId']);
      intOrNull(c['lockedUntil'], 'lockedUntil');
      int(c['updatedAt'], 'updatedAt');
      break;
    default:
      throw invalid(`unknown meta:users command ${String(c['type'])}`);
  }
  return c as unknown as UsersCommand;
}

function jobId(v: unknown): string {
  return text(v, 'a job id', COMMAND_LIMITS.nameCharsMax);
}

export function checkJobsCommand(v: unknown): JobsCommand {
  const c = record(v, 'a command');
  switch (c['type']) {
    case 'CreateJob':
      only(c, ['jobId', 'jobType', 'namespaceId', 'tableName', 'config', 'createdAt']);
      jobId(c['jobId']);
      text(c['jobType'], 'a job type', COMMAND_LIMITS.nameCharsMax);
      if (c['namespaceId'] !== null) ident(c['namespaceId'], 'namespace');
      if (c['tableName'] !== null) ident(c['tableName'], 'table');
      config(c['config'], 'the job config');
      int(c['createdAt'], 'createdAt');
      break;
    case 'ClaimJob':
      only(c, ['jobId', 'nodeId', 'claimedAt']);
      jobId(c['jobId']);
      int(c['nodeId'], 'nodeId', 1);
      int(c['claimedAt'], 'claimedAt');
      break;
    case 'UpdateJobStatus':
      only(c, ['jobId', 'status', 'updatedAt']);
      jobId(c['jobId']);
      oneOf(c['status'], 'the job status', JOB_STATUSES);
      int(c['updatedAt'], 'updatedAt');
      break;
    case 'CompleteJob':
      only(c, ['jobId', 'result', 'completedAt', 'nodeId']);
      jobId(c['jobId']);
      if (c['result'] !== null) message(c['result'], 'the job result', COMMAND_LIMITS.messageCharsMax);
      int(c['completedAt'], 'completedAt');
      if (c['nodeId'] !== undefined) int(c['nodeId'], 'nodeId', 1);
      break;
    case 'FailJob':
      only(c, ['jobId', 'errorMessage', 'failedAt', 'nodeId']);
      jobId(c['jobId']);
      message(c['errorMessage'], 'the error message', COMMAND_LIMITS.messageCharsMax);
      int(c['failedAt'], 'failedAt');
      if (c['nodeId'] !== undefined) int(c['nodeId'], 'nodeId', 1);
      break;
    case 'ReleaseJob':
    case 'CancelJob':
      only(c, ['jobId', 'reason', c['type'] === 'ReleaseJob' ? 'releasedAt' : 'cancelledAt']);
      jobId(c['jobId']);
      message(c['reason'], 'the reason', COMMAND_LIMITS.messageCharsMax);
      int(c[c['type'] === 'ReleaseJob' ? 'releasedAt' : 'cancelledAt'], 'the time');
      break;
    case 'CreateSchedule': {
      only(c, ['scheduleId', 'jobType', 'cronExpression', 'config', 'createdAt']);
      text(c['scheduleId'], 'a schedule id', COMMAND_LIMITS.nameCharsMax);
      text(c['jobType'], 'a job type', COMMAND_LIMITS.nameCharsMax);
      const cron = text(c['cronExpression'], 'a cron expression', COMMAND_LIMITS.nameCharsMax);
      try {
        checkCron(cron);
      } catch (err) {
        if (err instanceof ScheduleError) throw invalid(err.message);
        throw err;
      }
      config(c['config'], 'the schedule config');
      int(c['createdAt'], 'createdAt');
      break;
    }
    case 'DeleteSchedule':
      only(c, ['scheduleId']);
      text(c['scheduleId'], 'a schedule id', COMMAND_LIMITS.nameCharsMax);
      break;
    case 'PurgeJobs':
      only(c, ['finishedBefore']);
      int(c['finishedBefore'], 'finishedBefore', Number.MIN_SAFE_INTEGER);
      break;
    default:
      throw invalid(`unknown meta:jobs command ${String(c['type'])}`);
  }
  return c as unknown as JobsCommand;
}

function computed(v: unknown): readonly ComputedAssignment[] {
  return array(v, 'the SET expressions', COMMAND_LIMITS.columnsPerTableMax, 1).map((a, i) => {
    const o = record(a, `SET expression ${i + 1}`);
    const column = ident(o['column'], 'column');
    return { column, expr: expr(o['expr'], `SET ${column}`) };
  });
}

/**
 * A row write's client session: every field bounded, `acked` below `seq` (the write in flight is not yet delivered).
 * The same rule the HTTP API applies to the request's `client_session` (checkClientSession).
 */
export function checkClientStamp(v: unknown): ClientStamp {
  const o = record(v, 'the client session');
  only(o, ['userId', 'clientId', 'createdMs', 'seq', 'acked']);
  userId(o['userId']);
  checkClientSessionFields(o['clientId'], o['createdMs'], o['seq'], o['acked']);
  return o as unknown as ClientStamp;
}

/** The client-chosen fields of a client session (client id, its creation time, seq, acked), or ApplyError INVALID. */
export function checkClientSessionFields(clientId: unknown, createdMs: unknown, seq: unknown, acked: unknown): void {
  const max = CLIENT_SESSION_LIMITS.clientIdCharsMax;
  if (typeof clientId !== 'string' || !/^[A-Za-z0-9_-]+$/.test(clientId) || clientId.length > max) {
    throw invalid(`client_id must be 1…${max} characters of [A-Za-z0-9_-]`);
  }
  int(createdMs, 'created_ms');
  const s = int(seq, 'seq', 1);
  int(acked, 'acked', 0, s - 1);
}

/** The fields of a data command that writes rows or moves them, the same in both shard kinds. */
function dataWrite(c: Record<string, unknown>, perUser: boolean): void {
  const scope = perUser ? ['userId'] : [];
  const common = ['tableId', 'metaIndex', 'incarnation', ...scope];
  checkTableId(c['tableId']);
  if (c['incarnation'] !== undefined) int(c['incarnation'], 'incarnation', 1);
  switch (c['type']) {
    case 'Insert':
      only(c, [...common, 'rows', 'seqBase', 'at', 'client']);
      if (c['client'] !== undefined) checkClientStamp(c['client']);
      array(c['rows'], 'the rows', COMMAND_LIMITS.rowsPerCommandMax, 1).forEach((r, i) => rowOf(r, `row ${i + 1}`));
      int(c['seqBase'], 'seqBase');
      int(c['at'], 'at');
      break;
    case 'Update':
      only(c, [...common, 'updates', 'computed', 'filter', 'seqBase', 'at', 'client']);
      if (c['client'] !== undefined) checkClientStamp(c['client']);
      rowOf(c['updates'], 'the SET values');
      if (c['computed'] !== undefined) computed(c['computed']);
      exprOrNull(c['filter'], 'WHERE');
      int(c['seqBase'], 'seqBase');
      int(c['at'], 'at');
      break;
    case 'Delete':
      only(c, [...common, 'filter', 'seqBase', 'at', 'client']);
      if (c['client'] !== undefined) checkClientStamp(c['client']);
      exprOrNull(c['filter'], 'WHERE');
      int(c['seqBase'], 'seqBase');
      int(c['at'], 'at');
      break;
    case 'FlushRows': {
      only(c, [...common, 'fileName', 'rowCount', 'minSeq', 'maxSeq', 'at']);
      fileName(c['fileName'], 'flushed file');
      int(c['rowCount'], 'rowCount', 1);
      const min = int(c['minSeq'], 'minSeq');
      if (int(c['maxSeq'], 'maxSeq') < min) throw invalid('a flush needs minSeq ≤ maxSeq');
      int(c['at'], 'at');
      break;
    }
    case 'RewriteFiles':
      only(c, [...common, 'reason', 'inputFiles', 'outputFile', 'expiredBeforeMs', 'deletedBeforeMs', 'at']);
      oneOf(c['reason'], 'the rewrite reason', new Set(['compaction', 'retention']));
      array(c['inputFiles'], 'the input files', COMMAND_LIMITS.filesPerRewriteMax).forEach((f) =>
        fileName(f, 'input file'),
      );
      fileName(c['outputFile'], 'output file');
      intOrNull(c['expiredBeforeMs'], 'expiredBeforeMs', Number.MIN_SAFE_INTEGER);
      intOrNull(c['deletedBeforeMs'], 'deletedBeforeMs', Number.MIN_SAFE_INTEGER);
      int(c['at'], 'at');
      break;
    default:
      throw invalid(`unknown data command ${String(c['type'])}`);
  }
}

const WRITES: ReadonlySet<unknown> = new Set(['Insert', 'Update', 'Delete', 'FlushRows', 'RewriteFiles']);

function subscriptionId(v: unknown): string {
  return text(v, 'a subscription id', COMMAND_LIMITS.nameCharsMax);
}

export function checkUserDataCommand(v: unknown): UserDataCommand {
  const c = record(v, 'a command');
  int(c['metaIndex'], 'metaIndex');
  userId(c['userId']);
  if (WRITES.has(c['type'])) {
    dataWrite(c, true);
    return c as unknown as UserDataCommand;
  }
  switch (c['type']) {
    case 'RegisterLiveQuery':
      only(c, [
        'metaIndex',
        'incarnation',
        'subscriptionId',
        'userId',
        'queryHash',
        'tableId',
        'filter',
        'nodeId',
        'createdAt',
      ]);
      subscriptionId(c['subscriptionId']);
      text(c['queryHash'], 'a query hash', COMMAND_LIMITS.nameCharsMax);
      checkTableId(c['tableId']);
      if (c['incarnation'] !== undefined) int(c['incarnation'], 'incarnation', 1);
      exprOrNull(c['filter'], 'the live query filter');
      int(c['nodeId'], 'nodeId', 1);
      int(c['createdAt'], 'createdAt');
      break;
    case 'UnregisterLiveQuery':
      only(c, ['metaIndex', 'subscriptionId', 'userId']);
      subscriptionId(c['subscriptionId']);
      break;
    case 'CleanupNodeSubscriptions':
      only(c, ['metaIndex', 'userId', 'failedNodeId']);
      int(c['failedNodeId'], 'failedNodeId', 1);
      break;
    case 'PingLiveQuery':
      only(c, ['metaIndex', 'subscriptionId', 'userId', 'pingedAt']);
      subscriptionId(c['subscriptionId']);
      int(c['pingedAt'], 'pingedAt');
      break;
    case 'PingLiveQueries':
      only(c, ['metaIndex', 'userId', 'subscriptionIds', 'pingedAt']);
      array(c['subscriptionIds'], 'the subscription ids', COMMAND_LIMITS.subscriptionIdsPerPingMax).forEach(
        subscriptionId,
      );
      int(c['pingedAt'], 'pingedAt');
      break;
    default:
      throw invalid(`unknown user-shard command ${String(c['type'])}`);
  }
  return c as unknown as UserDataCommand;
}

export function checkSharedDataCommand(v: unknown): SharedDataCommand {
  const c = record(v, 'a command');
  int(c['metaIndex'], 'metaIndex');
  if (!WRITES.has(c['type'])) throw invalid(`unknown shared-shard command ${String(c['type'])}`);
  dataWrite(c, false);
  return c as unknown as SharedDataCommand;
}
