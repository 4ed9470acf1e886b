/**
 * The drill workload: per-key registers over the HTTP API of every node, recorded call by call.
 *
 * Setup (`setupWorkload`, as root, each statement retried on a refusal within a bound): namespace `drill`, a USER
 * table `drill.reg` and a SHARED table `drill.shared_reg` (both `k TEXT PRIMARY KEY, v TEXT`), `users` users
 * `drill_uNN` (so their rows spread over many of the 32 user shards), and every key inserted with the value
 * `init` by its owner, so that the workload's writes are UPDATEs. Each account logs in once and calls with its
 * Bearer token (a Basic password would cost a scrypt hash per call).
 *
 * Calls (`Workload`): a client picks a key (shared with probability shared_share), a kind by the weights and a
 * node (round robin), and records the call with the HistoryRecorder:
 *   read   SELECT v FROM t WHERE k = $1                          ok(value)
 *   write  UPDATE t SET v = $1 WHERE k = $2                      ok
 *   cas    UPDATE t SET v = $1 WHERE k = $2 AND v = $3           ok({ok: row_count === 1})
 * Written values are unique (`c<client>.<n>`). Outcomes follow transport.ts (classifyReply / classifyFailure).
 * A USER-table key is owned by one user and always called with that user's token; the SHARED table needs role
 * service or higher, so root calls it. Every call is bounded by call_timeout_ms; `stop()` ends the clients and
 * waits for their last call.
 */
import { Prng } from '@kalam/raft';
import { ShardRouter, dataSharedShard, groupName } from '@kalam/kalamdb';
import type { HistoryRecorder, OpHandle, OpKind, Value } from '@kalam/check';
import type { NodeId } from '../cluster/types.js';
import { CliError } from '../errors.js';
import { DRILL_LIMITS } from './limits.js';
import type { WorkloadSpec } from './spec.js';
import type { Classified, DrillTransport } from './transport.js';
import { classifyFailure, classifyReply, isRecord, rowCountOf, rowsOf } from './transport.js';

export const DRILL_NAMESPACE = 'drill';
export const USER_TABLE = `${DRILL_NAMESPACE}.reg`;
export const SHARED_TABLE = `${DRILL_NAMESPACE}.shared_reg`;
export const INITIAL_VALUE = 'init';
export const SQL_PATH = '/v1/api/sql';
const LOGIN_PATH = '/v1/api/auth/login';
/** Users set up at the same time. */
const SETUP_PARALLEL = 6;
/** Pause of a client after a call that did not succeed, so a down node is not hammered. */
const FAILURE_BACKOFF_MS = 50;

export interface DrillNode {
  readonly id: NodeId;
  readonly apiUrl: string;
}

export interface Account {
  readonly username: string;
  readonly password: string;
  /** Replaced after a drill's restore step: the restored cluster has a new secret, so old tokens do not verify. */
  auth: string;
}

export interface WorkloadKey {
  /** The key in the history: `user/<username>/<k>` or `shared/<k>`. */
  readonly key: string;
  readonly table: string;
  /** The primary key value in the table. */
  readonly k: string;
  readonly owner: Account;
  /** The Raft group that holds the row. */
  readonly group: string;
}

export interface WorkloadSetup {
  readonly keys: readonly WorkloadKey[];
  readonly initialValues: Readonly<Record<string, Value>>;
  /** Groups that hold the workload's rows. */
  readonly groups: readonly string[];
}

/** Where each recorded call went, by operation id (the history itself has no room for it). */
export interface CallMeta {
  readonly group: string;
  readonly node: NodeId;
}

export interface Caller {
  readonly transport: DrillTransport;
  readonly nodes: readonly DrillNode[];
  readonly timeoutMs: number;
}

/**
 * One SQL statement, retried on another node while it is refused, within setupTriesMax tries. `phase` names what
 * it is part of in the error ("drill setup", "step 4 flush").
 */
export async function setupSql(
  c: Caller,
  auth: string,
  sql: string,
  params: unknown[],
  what: string,
  first = 0,
  phase = 'drill setup',
): Promise<unknown> {
  let last = '';
  for (let attempt = 0; attempt < DRILL_LIMITS.setupTriesMax; attempt++) {
    const node = c.nodes[(first + attempt) % c.nodes.length] as DrillNode;
    let result: Classified;
    try {
      result = classifyReply(await c.transport.post(node.apiUrl, SQL_PATH, auth, { sql, params }, c.timeoutMs));
    } catch (err) {
      result = classifyFailure(err);
    }
    if (result.outcome === 'ok') return result.body;
    // A retried CREATE whose first try took effect after all.
    if (result.reason.endsWith('ALREADY_EXISTS')) return {};
    if (result.reason.startsWith('4') && !result.reason.includes('UNAUTHORIZED')) {
      throw new CliError('DRILL_SETUP', `${phase}: ${what} was refused on node ${node.id}: ${result.reason}`);
    }
    last = `node ${node.id}: ${result.reason}`;
    await sleep(DRILL_LIMITS.setupRetryMs);
  }
  throw new CliError('DRILL_SETUP', `${phase}: ${what} failed ${DRILL_LIMITS.setupTriesMax} times (last: ${last})`);
}

export async function login(
  c: Caller,
  username: string,
  password: string,
  first = 0,
): Promise<{ auth: string; userId: string }> {
  let last = '';
  for (let attempt = 0; attempt < DRILL_LIMITS.setupTriesMax; attempt++) {
    const node = c.nodes[(first + attempt) % c.nodes.length] as DrillNode;
    try {
      const reply = await c.transport.post(node.apiUrl, LOGIN_PATH, null, { username, password }, c.timeoutMs);
      const body = isRecord(reply.body) ? reply.body : {};
      const user = isRecord(body['user']) ? body['user'] : {};
      if (reply.status === 200 && typeof body['access_token'] === 'string' && typeof user['id'] === 'string') {
        return { auth: `Bearer ${body['access_token']}`, userId: user['id'] };
      }
      last = `node ${node.id}: HTTP ${reply.status}`;
    } catch (err) {
      last = `node ${node.id}: ${classifyFailure(err).outcome === 'failed' ? 'refused' : 'no answer'}`;
    }
    await sleep(DRILL_LIMITS.setupRetryMs);
  }
  throw new CliError('DRILL_SETUP', `drill setup: login as ${username} failed (last: ${last})`);
}

/** Creates the tables, users and first rows; resolves with the keys the clients will use. */
export async function setupWorkload(opts: {
  readonly transport: DrillTransport;
  readonly nodes: readonly DrillNode[];
  readonly root: { readonly user: string; readonly password: string };
  readonly spec: WorkloadSpec;
  readonly seed: number;
}): Promise<WorkloadSetup> {
  const c: Caller = { transport: opts.transport, nodes: opts.nodes, timeoutMs: DRILL_LIMITS.callTimeoutMsMax };
  const root = await login(c, opts.root.user, opts.root.password);
  const rootAccount: Account = { username: opts.root.user, password: opts.root.password, auth: root.auth };
  await setupSql(c, root.auth, `CREATE NAMESPACE ${DRILL_NAMESPACE}`, [], 'CREATE NAMESPACE');
  await setupSql(c, root.auth, `CREATE USER TABLE ${USER_TABLE} (k TEXT PRIMARY KEY, v TEXT)`, [], 'CREATE TABLE');
  await setupSql(c, root.auth, `CREATE SHARED TABLE ${SHARED_TABLE} (k TEXT PRIMARY KEY, v TEXT)`, [], 'CREATE TABLE');
  const router = new ShardRouter();
  const rnd = new Prng(opts.seed ^ 0x5eed);
  const passwords = Array.from({ length: opts.spec.users }, (_, u) => `pw-${rnd.nextU32().toString(36)}-${u}`);
  // One chain per user (create, log in, insert its rows), SETUP_PARALLEL at a time, spread over the nodes: password
  // hashing is what setup spends its time on, and each node hashes on its own core.
  const perUser: WorkloadKey[][] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.spec.users) {
      const u = next++;
      const username = `drill_u${String(u).padStart(3, '0')}`;
      const create = `CREATE USER '${username}' WITH PASSWORD '${passwords[u] ?? ''}' ROLE user`;
      await setupSql(c, root.auth, create, [], `CREATE USER ${username}`, u);
      const session = await login(c, username, passwords[u] ?? '', u);
      const account: Account = { username, password: passwords[u] ?? '', auth: session.auth };
      const group = groupName(router.groupForUser(session.userId));
      const ks = Array.from({ length: opts.spec.keysPerUser }, (_, i) => `k${i}`);
      const values = ks.map((_, i) => `($${i + 1}, '${INITIAL_VALUE}')`).join(', ');
      const insert = `INSERT INTO ${USER_TABLE} (k, v) VALUES ${values}`;
      await setupSql(c, session.auth, insert, ks, `rows of ${username}`, u);
      perUser[u] = ks.map((k) => ({ key: `user/${username}/${k}`, table: USER_TABLE, k, owner: account, group }));
    }
  };
  await Promise.all(Array.from({ length: SETUP_PARALLEL }, worker));
  const keys: WorkloadKey[] = perUser.flat();
  const shared = groupName(dataSharedShard(0));
  for (let i = 0; i < opts.spec.sharedKeys; i++) {
    const k = `s${i}`;
    await setupSql(
      c,
      root.auth,
      `INSERT INTO ${SHARED_TABLE} (k, v) VALUES ($1, '${INITIAL_VALUE}')`,
      [k],
      `shared row ${k}`,
    );
    keys.push({ key: `shared/${k}`, table: SHARED_TABLE, k, owner: rootAccount, group: shared });
  }
  const initialValues: Record<string, Value> = {};
  for (const key of keys) initialValues[key.key] = INITIAL_VALUE;
  return { keys, initialValues, groups: [...new Set(keys.map((k) => k.group))].sort() };
}

/** Runs one call and records it. */
export async function recordedCall(
  recorder: HistoryRecorder,
  meta: CallMeta[],
  transport: DrillTransport,
  client: string,
  node: DrillNode,
  key: WorkloadKey,
  call: { kind: 'read' } | { kind: 'write'; value: string } | { kind: 'cas'; expected: string; value: string },
  timeoutMs: number,
): Promise<Classified & { value?: Value; casOk?: boolean }> {
  let handle: OpHandle<OpKind>;
  let sql: string;
  let params: unknown[];
  switch (call.kind) {
    case 'read':
      handle = recorder.invoke(client, key.key, 'read', null);
      sql = `SELECT v FROM ${key.table} WHERE k = $1`;
      params = [key.k];
      break;
    case 'write':
      handle = recorder.invoke(client, key.key, 'write', call.value);
      sql = `UPDATE ${key.table} SET v = $1 WHERE k = $2`;
      params = [call.value, key.k];
      break;
    case 'cas':
      handle = recorder.invoke(client, key.key, 'cas', { expected: call.expected, value: call.value });
      sql = `UPDATE ${key.table} SET v = $1 WHERE k = $2 AND v = $3`;
      params = [call.value, key.k, call.expected];
      break;
  }
  meta[handle.id] = { group: key.group, node: node.id };
  let result: Classified;
  try {
    result = classifyReply(await transport.post(node.apiUrl, SQL_PATH, key.owner.auth, { sql, params }, timeoutMs));
  } catch (err) {
    result = classifyFailure(err);
  }
  if (result.outcome !== 'ok') {
    if (result.outcome === 'failed') recorder.fail(handle, result.reason);
    else recorder.unknown(handle, result.reason);
    return result;
  }
  switch (call.kind) {
    case 'read': {
      const rows = rowsOf(result.body);
      const cell = rows[0]?.[0];
      const value: Value = typeof cell === 'string' ? cell : null;
      recorder.ok(handle as OpHandle<'read'>, value);
      return { ...result, value };
    }
    case 'write':
      recorder.ok(handle as OpHandle<'write'>);
      return result;
    case 'cas': {
      const casOk = rowCountOf(result.body) === 1;
      recorder.ok(handle as OpHandle<'cas'>, { ok: casOk });
      return { ...result, casOk };
    }
  }
}

/** The clients of one run. */
export class Workload {
  private stopping = false;
  private loops: Promise<void>[] = [];
  /** Where each call went, by operation id. */
  readonly meta: CallMeta[] = [];

  constructor(
    private readonly opts: {
      readonly transport: DrillTransport;
      readonly nodes: readonly DrillNode[];
      readonly setup: WorkloadSetup;
      readonly spec: WorkloadSpec;
      readonly recorder: HistoryRecorder;
      readonly seed: number;
    },
  ) {}

  start(): void {
    if (this.opts.setup.keys.length === 0) return;
    for (let i = 0; i < this.opts.spec.clients; i++) this.loops.push(this.client(i));
  }

  /** Ends every client after its current call (each call is bounded by call_timeout_ms). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async client(index: number): Promise<void> {
    const { transport, nodes, setup, spec, recorder } = this.opts;
    const rnd = new Prng((this.opts.seed + 7919 * (index + 1)) >>> 0);
    const userKeys = setup.keys.filter((k) => k.table === USER_TABLE);
    const sharedKeys = setup.keys.filter((k) => k.table === SHARED_TABLE);
    const lastSeen = new Map<string, string>();
    const total = spec.mix.read + spec.mix.write + spec.mix.cas;
    const name = `c${index}`;
    for (let n = 0; n < DRILL_LIMITS.callsPerClientMax && !this.stopping; n++) {
      const useShared = sharedKeys.length > 0 && (userKeys.length === 0 || fraction(rnd) < spec.sharedShare);
      const pool = useShared ? sharedKeys : userKeys;
      const key = pool[rnd.int(pool.length)] as WorkloadKey;
      const node = nodes[(index + n) % nodes.length] as DrillNode;
      const roll = fraction(rnd) * total;
      const value = `${name}.${n}`;
      const call =
        roll < spec.mix.read
          ? ({ kind: 'read' } as const)
          : roll < spec.mix.read + spec.mix.write
            ? ({ kind: 'write', value } as const)
            : ({ kind: 'cas', expected: lastSeen.get(key.key) ?? INITIAL_VALUE, value } as const);
      const result = await recordedCall(recorder, this.meta, transport, name, node, key, call, spec.callTimeoutMs);
      if (result.outcome === 'ok') {
        if (call.kind === 'read' && typeof result.value === 'string') lastSeen.set(key.key, result.value);
        if (call.kind === 'write' || (call.kind === 'cas' && result.casOk === true)) lastSeen.set(key.key, value);
      }
      const pause = result.outcome === 'ok' ? spec.thinkMs : Math.max(spec.thinkMs, FAILURE_BACKOFF_MS);
      if (pause > 0) await sleep(pause);
    }
  }
}

function fraction(rnd: Prng): number {
  return rnd.nextU32() / 0x1_0000_0000;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
