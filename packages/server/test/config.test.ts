// Tests of the node configuration (DESIGN.md §8): the defaults, standalone versus cluster mode, every
// validation rule (each failing config must raise a ConfigError whose problem names the key as a dotted
// path), the KALAM_* environment overrides and their errors, the position of a TOML syntax error, the
// redaction of secrets, and the example configs under cluster-configs/. Configs are built as text from a
// valid cluster config with one key changed; the environment is passed in, never read from the process.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ConfigError, configDefaults, describeConfig, loadConfig, parseConfig } from '../src/index.js';
import type { ClusterSettings, NodeConfig } from '../src/index.js';

const BASE_DIR = path.resolve('/srv/kalam/conf');
const SECRET = 'cluster-secret-0123456789';
const ENV = { KALAM_ROOT_PASSWORD: 'root-password', KALAM_CLUSTER_SECRET: SECRET };

type Env = Readonly<Record<string, string | undefined>>;

function parse(text: string, env: Env = ENV): NodeConfig {
  return parseConfig(text, { baseDir: BASE_DIR, env, source: 'test.toml' });
}

function clusterOf(config: NodeConfig): ClusterSettings {
  assert.equal(config.mode, 'cluster');
  assert.ok(config.cluster !== undefined);
  return config.cluster;
}

/** Runs fn, which must throw a ConfigError, and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err;
  }
  assert.fail('expected a ConfigError, but the config was accepted');
}

/** The config must be refused with a problem about `key` whose message matches; the error message names the key. */
function expectProblem(text: string, key: string, pattern: RegExp, env: Env = ENV): ConfigError {
  const err = configError(() => parse(text, env));
  const problem = err.problems.find((p) => p.key === key);
  assert.ok(problem, `no problem about ${key}; got: ${err.message}`);
  assert.match(problem.message, pattern);
  assert.ok(problem.message.includes(key), `"${problem.message}" does not name ${key}`);
  assert.ok(err.message.includes(key));
  return err;
}

// ---------------------------------------------------------------------------------------------------------
// Building config text: raw TOML values by key; a value of undefined drops the key.

type Keys = Readonly<Record<string, string | undefined>>;

interface Patch {
  readonly top?: string;
  readonly server?: Keys;
  readonly auth?: Keys;
  readonly cluster?: Keys;
  readonly raft?: Keys;
  readonly sharding?: Keys;
  /** Replaces the members wholesale. */
  readonly members?: readonly Keys[];
  /** Patches member i of the default three. */
  readonly member?: { readonly index: number; readonly keys: Keys };
}

function member(id: number): Keys {
  return { node_id: `${id}`, rpc_addr: `"127.0.0.1:908${id}"`, api_addr: `"http://127.0.0.1:808${id}"` };
}

function table(header: string, keys: Keys): string {
  const lines = Object.entries(keys)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k} = ${v}`);
  return `${header}\n${lines.join('\n')}\n`;
}

function clusterToml(patch: Patch = {}): string {
  const members = (patch.members ?? [member(1), member(2), member(3)]).map((m, i) =>
    patch.member?.index === i ? { ...m, ...patch.member.keys } : m,
  );
  return [
    patch.top ?? '',
    table('[server]', { api_addr: '"127.0.0.1:8081"', data_dir: '"data/node1"', ...patch.server }),
    patch.auth === undefined ? '' : table('[auth]', patch.auth),
    table('[cluster]', { cluster_id: '"kalam-test"', node_id: '1', ...patch.cluster }),
    table('[cluster.raft]', { rpc_addr: '"127.0.0.1:9081"', ...patch.raft }),
    patch.sharding === undefined ? '' : table('[cluster.sharding]', patch.sharding),
    ...members.map((m) => table('[[cluster.members]]', m)),
  ].join('\n');
}

function standaloneToml(patch: Pick<Patch, 'top' | 'server' | 'auth'> = {}): string {
  return [
    patch.top ?? '',
    table('[server]', { data_dir: '"data"', ...patch.server }),
    patch.auth === undefined ? '' : table('[auth]', patch.auth),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Defaults and modes.

test('a standalone config gets the defaults, an absolute data_dir and is frozen', () => {
  const config = parse(standaloneToml());
  assert.equal(config.mode, 'standalone');
  assert.equal(config.cluster, undefined);
  assert.equal(config.source, 'test.toml');
  assert.deepEqual(config.server, {
    apiAddr: { host: '127.0.0.1', port: 8081 },
    apiBind: { host: '127.0.0.1', port: 8081 },
    dataDir: path.join(BASE_DIR, 'data'),
    maxBodyBytes: 1024 * 1024,
    corsOrigins: [],
  });
  assert.deepEqual(config.auth, { rootPassword: 'root-password', tokenTtlSeconds: 3600 });
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.server) && Object.isFrozen(config.server.apiAddr));
  assert.throws(() => {
    (config.server as { maxBodyBytes: number }).maxBodyBytes = 1;
  }, TypeError);
});

test('explicit values replace the defaults; an absolute data_dir is kept as it is', () => {
  const dataDir = path.resolve('/var/lib/kalam');
  const config = parse(
    standaloneToml({
      server: { api_addr: '"[::1]:7000"', data_dir: JSON.stringify(dataDir), max_body_bytes: '4096' },
      auth: { root_password: '"from-file"', jwt_secret: `"${'j'.repeat(32)}"`, token_ttl_seconds: '60' },
    }),
    {},
  );
  assert.deepEqual(config.server, {
    apiAddr: { host: '::1', port: 7000 },
    apiBind: { host: '::1', port: 7000 },
    dataDir,
    maxBodyBytes: 4096,
    corsOrigins: [],
  });
  assert.deepEqual(config.auth, { rootPassword: 'from-file', jwtSecret: 'j'.repeat(32), tokenTtlSeconds: 60 });
});

test('a [cluster] section means cluster mode, with the raft and sharding defaults and normalised member URLs', () => {
  const cluster = clusterOf(
    parse(
      clusterToml({
        member: { index: 1, keys: { api_addr: '"127.0.0.1:8082"' } },
        members: [member(1), member(2), { ...member(3), api_addr: '"HTTPS://LocalHost:8083/"' }],
      }),
    ),
  );
  assert.equal(cluster.clusterId, 'kalam-test');
  assert.equal(cluster.nodeId, 1);
  assert.equal(cluster.secret, SECRET);
  assert.deepEqual(cluster.raft, {
    rpcAddr: { host: '127.0.0.1', port: 9081 },
    rpcBind: { host: '127.0.0.1', port: 9081 },
    heartbeatIntervalMs: configDefaults.heartbeatIntervalMs,
    electionTimeoutMinMs: 300,
    electionTimeoutMaxMs: 500,
    snapshotThreshold: 10_000,
    logBytesMax: 32 * 1024 * 1024,
    tickMs: 100,
    logWriterThread: true,
  });
  assert.deepEqual(cluster.sharding, { numUserShards: 32, numSharedShards: 1 });
  assert.deepEqual(cluster.leaderBalance, { intervalMs: 2_000, tolerance: 1 });
  assert.deepEqual(cluster.members, [
    { nodeId: 1, rpcAddr: { host: '127.0.0.1', port: 9081 }, apiUrl: 'http://127.0.0.1:8081' },
    { nodeId: 2, rpcAddr: { host: '127.0.0.1', port: 9082 }, apiUrl: 'http://127.0.0.1:8082' },
    { nodeId: 3, rpcAddr: { host: '127.0.0.1', port: 9083 }, apiUrl: 'https://localhost:8083' },
  ]);
  assert.ok(Object.isFrozen(cluster.members) && Object.isFrozen(cluster.members[0]));
});

test('a one-member cluster is a valid cluster', () => {
  const cluster = clusterOf(parse(clusterToml({ members: [member(1)] })));
  assert.equal(cluster.members.length, 1);
});

test('explicit raft, sharding and secret values are read', () => {
  const cluster = clusterOf(
    parse(
      clusterToml({
        cluster: { secret: '"a-file-secret-of-16+"' },
        raft: {
          tick_ms: '50',
          heartbeat_interval_ms: '50',
          election_timeout_min_ms: '150',
          election_timeout_max_ms: '300',
          snapshot_threshold: '5',
          log_bytes_max: '20000000',
          log_writer_thread: 'false',
        },
        sharding: { num_user_shards: '256', num_shared_shards: '16' },
      }),
      { KALAM_ROOT_PASSWORD: 'pw' },
    ),
  );
  assert.equal(cluster.secret, 'a-file-secret-of-16+');
  assert.deepEqual(
    [cluster.raft.tickMs, cluster.raft.heartbeatIntervalMs, cluster.raft.electionTimeoutMinMs],
    [50, 50, 150],
  );
  assert.deepEqual([cluster.raft.electionTimeoutMaxMs, cluster.raft.snapshotThreshold], [300, 5]);
  assert.equal(cluster.raft.logWriterThread, false);
  assert.equal(cluster.raft.logBytesMax, 20_000_000);
  assert.deepEqual(cluster.sharding, { numUserShards: 256, numSharedShards: 16 });
});

test('the leader balance keys are read; an interval of 0 turns it off; the environment overrides them', () => {
  const set = (keys: Keys, env: Env = ENV): ClusterSettings['leaderBalance'] =>
    clusterOf(parse(clusterToml({ cluster: keys }), env)).leaderBalance;
  assert.deepEqual(set({ leader_balance_interval_ms: '5000', leader_balance_tolerance: '0' }), {
    intervalMs: 5_000,
    tolerance: 0,
  });
  assert.deepEqual(set({ leader_balance_interval_ms: '0' }), { intervalMs: 0, tolerance: 1 });
  assert.deepEqual(
    set(
      { leader_balance_interval_ms: '5000' },
      { ...ENV, KALAM_CLUSTER_LEADER_BALANCE_INTERVAL_MS: '0', KALAM_CLUSTER_LEADER_BALANCE_TOLERANCE: '3' },
    ),
    { intervalMs: 0, tolerance: 3 },
  );
  expectProblem(
    clusterToml(),
    'cluster.leader_balance_tolerance',
    /^cluster\.leader_balance_tolerance \(from KALAM_CLUSTER_LEADER_BALANCE_TOLERANCE\) must be between 0 and/,
    { ...ENV, KALAM_CLUSTER_LEADER_BALANCE_TOLERANCE: '-1' },
  );
});

test('cluster.join: no node_id and no members; the cluster id is optional; KALAM_CLUSTER_JOIN sets it', () => {
  const joining = (cluster: Keys): string =>
    clusterToml({ cluster: { node_id: undefined, cluster_id: undefined, ...cluster }, members: [] });
  const c = clusterOf(parse(joining({ join: '"127.0.0.1:8081"' })));
  assert.equal(c.join, 'http://127.0.0.1:8081');
  assert.equal(c.nodeId, 0, 'the cluster gives the id');
  assert.equal(c.clusterId, '');
  assert.deepEqual(c.members, []);
  assert.equal(clusterOf(parse(joining({ join: '"http://a:1"', cluster_id: '"prod"' }))).clusterId, 'prod');
  const fromEnv = clusterOf(parse(joining({}), { ...ENV, KALAM_CLUSTER_JOIN: 'http://10.0.0.1:8081' }));
  assert.equal(fromEnv.join, 'http://10.0.0.1:8081');
  expectProblem(joining({ join: '"a:1"', node_id: '4' }), 'cluster.node_id', /must not be set with cluster\.join/);
  expectProblem(
    clusterToml({ cluster: { join: '"a:1"', node_id: undefined } }),
    'cluster.members',
    /cluster\.members must not be set with cluster\.join/,
  );
  expectProblem(joining({ join: '"not a url"' }), 'cluster.join', /must be "http:\/\/host:port"/);
  // Without join, node_id and members stay required.
  expectProblem(joining({}), 'cluster.node_id', /cluster\.node_id is required/);
});

test('the membership keys are read, with their defaults and bounds', () => {
  const m = (keys: Keys): ClusterSettings['membership'] => clusterOf(parse(clusterToml({ cluster: keys }))).membership;
  assert.deepEqual(m({}), { intervalMs: 500, promoteLagEntriesMax: 100, snapshotSendsPerNodeMax: 2 });
  assert.deepEqual(
    m({ membership_interval_ms: '1000', promote_lag_entries_max: '0', snapshot_sends_per_node_max: '8' }),
    { intervalMs: 1_000, promoteLagEntriesMax: 0, snapshotSendsPerNodeMax: 8 },
  );
  expectProblem(
    clusterToml({ cluster: { membership_interval_ms: '10' } }),
    'cluster.membership_interval_ms',
    /between 50/,
  );
  expectProblem(
    clusterToml({ cluster: { snapshot_sends_per_node_max: '0' } }),
    'cluster.snapshot_sends_per_node_max',
    /between 1/,
  );
});

// ---------------------------------------------------------------------------------------------------------
// Files and syntax.

test('loadConfig resolves data_dir against the config file folder and reports an unreadable file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kalam-config-'));
  try {
    const file = path.join(dir, 'node.toml');
    writeFileSync(file, standaloneToml({ server: { data_dir: '"./d"' } }));
    assert.equal(loadConfig(file, ENV).server.dataDir, path.join(dir, 'd'));
    const err = configError(() => loadConfig(path.join(dir, 'missing.toml'), ENV));
    assert.match(err.message, /missing\.toml: cannot read the config file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TOML syntax error is a ConfigError naming its line and column', () => {
  const err = configError(() => parse('[server]\ndata_dir = "d"\napi_addr = = 1\n'));
  const [problem] = err.problems;
  assert.equal(problem?.line, 3);
  assert.equal(problem?.column, 12);
  assert.match(err.message, /^test\.toml:3:12: TOML syntax error at line 3, column 12: /);
  const dup = configError(() => parse('[server]\ndata_dir = "a"\ndata_dir = "b"\n'));
  assert.equal(dup.problems[0]?.line, 3);
});

// ---------------------------------------------------------------------------------------------------------
// Unknown keys and wrong shapes.

test('unknown keys are errors, with a suggestion for a typo', () => {
  expectProblem(standaloneToml({ top: 'servers = 1' }), 'servers', /unknown key servers \(did you mean server\?\)/);
  expectProblem(standaloneToml({ server: { api_adr: '"x:1"' } }), 'server.api_adr', /did you mean server\.api_addr/);
  expectProblem(standaloneToml({ auth: { passwd: '"x"' } }), 'auth.passwd', /unknown key auth\.passwd \(known keys/);
  expectProblem(
    clusterToml({ raft: { hearbeat_interval_ms: '100' } }),
    'cluster.raft.hearbeat_interval_ms',
    /did you mean cluster\.raft\.heartbeat_interval_ms\?/,
  );
  expectProblem(clusterToml({ cluster: { members_count: '3' } }), 'cluster.members_count', /unknown key/);
  expectProblem(
    clusterToml({ member: { index: 2, keys: { apiaddr: '"x"' } } }),
    'cluster.members[2].apiaddr',
    /unknown/,
  );
  expectProblem(clusterToml() + '\n[cluster.storage]\nx = 1\n', 'cluster.storage', /unknown key/);
});

test('sections must be tables and members an array of tables', () => {
  expectProblem('server = "x"', 'server', /server must be a table/);
  expectProblem(clusterToml({ members: [] }).replace('[cluster.raft]', 'raft = 1\n[x]'), 'cluster.raft', /table/);
  expectProblem(clusterToml({ members: [], cluster: { members: '[1, 2]' } }), 'cluster.members', /array of tables/);
});

// ---------------------------------------------------------------------------------------------------------
// Value rules, one case each: [what, config text, key, message pattern].

const cases: readonly [string, string, string, RegExp][] = [
  [
    'api_addr without a port',
    standaloneToml({ server: { api_addr: '"localhost"' } }),
    'server.api_addr',
    /host:port.*port is missing/,
  ],
  [
    'api_addr port 0',
    standaloneToml({ server: { api_addr: '"127.0.0.1:0"' } }),
    'server.api_addr',
    /between 1 and 65535, got 0/,
  ],
  ['api_addr port 65536', standaloneToml({ server: { api_addr: '"h:65536"' } }), 'server.api_addr', /got 65536/],
  [
    'api_addr non-numeric port',
    standaloneToml({ server: { api_addr: '"h:http"' } }),
    'server.api_addr',
    /not a number/,
  ],
  ['api_addr bad host', standaloneToml({ server: { api_addr: '"a b:80"' } }), 'server.api_addr', /not a host name/],
  ['api_addr bare IPv6', standaloneToml({ server: { api_addr: '"::1:80"' } }), 'server.api_addr', /in brackets/],
  [
    'api_addr not a string',
    standaloneToml({ server: { api_addr: '8081' } }),
    'server.api_addr',
    /must be a string, got the integer 8081/,
  ],
  ['data_dir missing', standaloneToml({ server: { data_dir: undefined } }), 'server.data_dir', /is required/],
  ['data_dir empty', standaloneToml({ server: { data_dir: '""' } }), 'server.data_dir', /must not be empty/],
  [
    'max_body_bytes too small',
    standaloneToml({ server: { max_body_bytes: '10' } }),
    'server.max_body_bytes',
    /between 1024 and \d+, got 10/,
  ],
  [
    'max_body_bytes a float',
    standaloneToml({ server: { max_body_bytes: '2048.0' } }),
    'server.max_body_bytes',
    /must be an integer, got the float 2048/,
  ],
  [
    'max_body_bytes a string',
    standaloneToml({ server: { max_body_bytes: '"1MB"' } }),
    'server.max_body_bytes',
    /must be an integer, got the string "1MB"/,
  ],
  [
    'jwt_secret too short',
    standaloneToml({ auth: { jwt_secret: '"short"' } }),
    'auth.jwt_secret',
    /at least 32 characters long, got 5/,
  ],
  [
    'token_ttl_seconds 0',
    standaloneToml({ auth: { token_ttl_seconds: '0' } }),
    'auth.token_ttl_seconds',
    /between 60 and/,
  ],
  ['cluster_id missing', clusterToml({ cluster: { cluster_id: undefined } }), 'cluster.cluster_id', /is required/],
  [
    'cluster_id with a slash',
    clusterToml({ cluster: { cluster_id: '"a/b"' } }),
    'cluster.cluster_id',
    /letters, digits/,
  ],
  ['node_id missing', clusterToml({ cluster: { node_id: undefined } }), 'cluster.node_id', /is required/],
  ['node_id 0', clusterToml({ cluster: { node_id: '0' } }), 'cluster.node_id', /between 1 and \d+, got 0/],
  [
    'node_id not a member',
    clusterToml({ cluster: { node_id: '4' } }),
    'cluster.node_id',
    /4 does not appear in cluster\.members \(node ids: 1, 2, 3\)/,
  ],
  ['rpc_addr missing', clusterToml({ raft: { rpc_addr: undefined } }), 'cluster.raft.rpc_addr', /is required/],
  ['rpc_addr bad', clusterToml({ raft: { rpc_addr: '"127.0.0.1"' } }), 'cluster.raft.rpc_addr', /host:port/],
  [
    'rpc_addr not this member',
    clusterToml({ raft: { rpc_addr: '"127.0.0.1:9082"' } }),
    'cluster.raft.rpc_addr',
    /"127\.0\.0\.1:9082" must equal cluster\.members\[0\]\.rpc_addr "127\.0\.0\.1:9081"/,
  ],
  ['tick_ms 0', clusterToml({ raft: { tick_ms: '0' } }), 'cluster.raft.tick_ms', /between 1 and/],
  [
    'heartbeat shorter than a tick',
    clusterToml({ raft: { tick_ms: '200' } }),
    'cluster.raft.heartbeat_interval_ms',
    /must be at least cluster\.raft\.tick_ms \(200\), got 100/,
  ],
  [
    'election min not above heartbeat',
    clusterToml({ raft: { election_timeout_min_ms: '50' } }),
    'cluster.raft.election_timeout_min_ms',
    /^cluster\.raft\.election_timeout_min_ms must be greater than cluster\.raft\.heartbeat_interval_ms \(100\), got 50$/,
  ],
  [
    'election max equal to min',
    clusterToml({ raft: { election_timeout_max_ms: '300' } }),
    'cluster.raft.election_timeout_max_ms',
    /greater than cluster\.raft\.election_timeout_min_ms \(300\), got 300/,
  ],
  [
    'snapshot_threshold 0',
    clusterToml({ raft: { snapshot_threshold: '0' } }),
    'cluster.raft.snapshot_threshold',
    /between 1 and/,
  ],
  [
    'log_bytes_max below 16 MiB',
    clusterToml({ raft: { log_bytes_max: '16777215' } }),
    'cluster.raft.log_bytes_max',
    /between 16777216 and/,
  ],
  [
    'log_bytes_max above 64 GiB',
    clusterToml({ raft: { log_bytes_max: '68719476737' } }),
    'cluster.raft.log_bytes_max',
    /between 16777216 and 68719476736/,
  ],
  [
    'leader_balance_interval_ms below the minimum',
    clusterToml({ cluster: { leader_balance_interval_ms: '50' } }),
    'cluster.leader_balance_interval_ms',
    /must be 0 \(off\) or at least 100, got 50/,
  ],
  [
    'leader_balance_interval_ms negative',
    clusterToml({ cluster: { leader_balance_interval_ms: '-1' } }),
    'cluster.leader_balance_interval_ms',
    /between 0 and 3600000, got -1/,
  ],
  [
    'leader_balance_tolerance not an integer',
    clusterToml({ cluster: { leader_balance_tolerance: 'true' } }),
    'cluster.leader_balance_tolerance',
    /must be an integer, got the boolean true/,
  ],
  [
    'num_user_shards 0',
    clusterToml({ sharding: { num_user_shards: '0' } }),
    'cluster.sharding.num_user_shards',
    /between 1 and 256, got 0/,
  ],
  [
    'num_user_shards 257',
    clusterToml({ sharding: { num_user_shards: '257' } }),
    'cluster.sharding.num_user_shards',
    /between 1 and 256, got 257/,
  ],
  [
    'num_shared_shards 17',
    clusterToml({ sharding: { num_shared_shards: '17' } }),
    'cluster.sharding.num_shared_shards',
    /between 1 and 16, got 17/,
  ],
  ['members missing', clusterToml({ members: [] }), 'cluster.members', /must list every member.*missing/],
  [
    'members empty',
    clusterToml({ members: [], cluster: { members: '[]' } }),
    'cluster.members',
    /must list every member.*empty/,
  ],
  [
    'member node_id missing',
    clusterToml({ member: { index: 1, keys: { node_id: undefined } } }),
    'cluster.members[1].node_id',
    /is required/,
  ],
  [
    'member node_id repeated',
    clusterToml({ member: { index: 2, keys: { node_id: '2' } } }),
    'cluster.members[2].node_id',
    /2 is also the node_id of cluster\.members\[1\]/,
  ],
  [
    'self listed twice',
    clusterToml({ member: { index: 1, keys: { node_id: '1' } } }),
    'cluster.members[1].node_id',
    /1 is also the node_id of cluster\.members\[0\]/,
  ],
  [
    'member rpc_addr repeated',
    clusterToml({ member: { index: 2, keys: { rpc_addr: '"127.0.0.1:9082"' } } }),
    'cluster.members[2].rpc_addr',
    /is also the rpc_addr of cluster\.members\[1\]/,
  ],
  [
    'member rpc_addr port 70000',
    clusterToml({ member: { index: 1, keys: { rpc_addr: '"h:70000"' } } }),
    'cluster.members[1].rpc_addr',
    /between 1 and 65535/,
  ],
  [
    'member api_addr repeated once normalised',
    clusterToml({ member: { index: 2, keys: { api_addr: '"127.0.0.1:8082"' } } }),
    'cluster.members[2].api_addr',
    /http:\/\/127\.0\.0\.1:8082 is also the api_addr of cluster\.members\[1\]/,
  ],
  [
    'member api_addr ftp',
    clusterToml({ member: { index: 1, keys: { api_addr: '"ftp://h:21"' } } }),
    'cluster.members[1].api_addr',
    /scheme must be http or https/,
  ],
  [
    'member api_addr with a path',
    clusterToml({ member: { index: 1, keys: { api_addr: '"http://h:1/v1"' } } }),
    'cluster.members[1].api_addr',
    /only a scheme, a host and a port/,
  ],
  [
    'member api_addr without a port',
    clusterToml({ member: { index: 1, keys: { api_addr: '"http://h"' } } }),
    'cluster.members[1].api_addr',
    /port is missing/,
  ],
];

for (const [what, text, key, pattern] of cases) {
  test(`refused: ${what} (${key})`, () => {
    expectProblem(text, key, pattern);
  });
}

test('the root password and the cluster secret are required, and say where they may come from', () => {
  expectProblem(
    standaloneToml(),
    'auth.root_password',
    /required \(set \[auth\] root_password or KALAM_ROOT_PASSWORD\)/,
    {},
  );
  const noSecret = { KALAM_ROOT_PASSWORD: 'pw' };
  expectProblem(
    clusterToml(),
    'cluster.secret',
    /required \(set \[cluster\] secret or KALAM_CLUSTER_SECRET\)/,
    noSecret,
  );
  expectProblem(standaloneToml(), 'auth.root_password', /must not be empty/, { KALAM_ROOT_PASSWORD: '' });
  const shortSecret = clusterToml({ cluster: { secret: '"short"' } });
  expectProblem(
    shortSecret,
    'cluster.secret',
    /^cluster\.secret must be at least 16 characters long, got 5$/,
    noSecret,
  );
});

test('every problem is reported at once, and a bad value does not also break the rules that compare it', () => {
  const err = configError(() =>
    parse(clusterToml({ server: { max_body_bytes: '1' }, raft: { heartbeat_interval_ms: '"fast"' } }), {}),
  );
  assert.deepEqual(err.problems.map((p) => p.key).sort(), [
    'auth.root_password',
    'cluster.raft.heartbeat_interval_ms',
    'cluster.secret',
    'server.max_body_bytes',
  ]);
  assert.match(err.message, /^test\.toml: 4 problems:\n {2}- /);
});

test('secret values never appear in a message', () => {
  const err = configError(() =>
    parse(standaloneToml({ auth: { jwt_secret: '"hunter2-secret"' } }), { KALAM_ROOT_PASSWORD: 'pw' }),
  );
  assert.ok(!err.message.includes('hunter2'));
  const envErr = configError(() =>
    parse(clusterToml(), { KALAM_ROOT_PASSWORD: 'pw', KALAM_CLUSTER_SECRET: 'tiny-s3cret' }),
  );
  assert.ok(!envErr.message.includes('tiny-s3cret'));
  assert.match(envErr.message, /cluster\.secret \(from KALAM_CLUSTER_SECRET\) must be at least 16/);
});

// ---------------------------------------------------------------------------------------------------------
// Environment overrides.

test('KALAM_<SECTION>_<KEY> overrides the file, typed by the key', () => {
  const config = parse(clusterToml({ raft: { heartbeat_interval_ms: '100' } }), {
    ...ENV,
    KALAM_SERVER_API_ADDR: '0.0.0.0:9999',
    KALAM_SERVER_DATA_DIR: 'elsewhere',
    KALAM_SERVER_MAX_BODY_BYTES: '2048',
    KALAM_SERVER_CORS_ORIGINS: 'http://localhost:5173, https://app.example.com/',
    KALAM_AUTH_TOKEN_TTL_SECONDS: '120',
    KALAM_CLUSTER_RAFT_HEARTBEAT_INTERVAL_MS: ' 150 ',
    KALAM_CLUSTER_SHARDING_NUM_USER_SHARDS: '8',
    KALAM_CLUSTER_CLUSTER_ID: 'from-env',
  });
  assert.deepEqual(config.server, {
    apiAddr: { host: '0.0.0.0', port: 9999 },
    apiBind: { host: '0.0.0.0', port: 9999 },
    dataDir: path.join(BASE_DIR, 'elsewhere'),
    maxBodyBytes: 2048,
    corsOrigins: ['http://localhost:5173', 'https://app.example.com'],
  });
  assert.equal(config.auth.tokenTtlSeconds, 120);
  const cluster = clusterOf(config);
  assert.equal(cluster.raft.heartbeatIntervalMs, 150);
  assert.equal(cluster.sharding.numUserShards, 8);
  assert.equal(cluster.clusterId, 'from-env');
});

test('the environment secret wins over the file; KALAM_AUTH_ROOT_PASSWORD is the same key as KALAM_ROOT_PASSWORD', () => {
  const fromFile = clusterToml({ cluster: { secret: '"file-secret-0123456"' }, auth: { root_password: '"file-pw"' } });
  const config = parse(fromFile, { KALAM_CLUSTER_SECRET: SECRET, KALAM_AUTH_ROOT_PASSWORD: 'env-pw' });
  assert.equal(clusterOf(config).secret, SECRET);
  assert.equal(config.auth.rootPassword, 'env-pw');
  expectProblem(standaloneToml(), 'auth.root_password', /KALAM_AUTH_ROOT_PASSWORD and KALAM_ROOT_PASSWORD both set/, {
    KALAM_ROOT_PASSWORD: 'a',
    KALAM_AUTH_ROOT_PASSWORD: 'b',
  });
});

test('a bad environment value names both the variable and the key', () => {
  const err = expectProblem(
    clusterToml(),
    'cluster.raft.heartbeat_interval_ms',
    /^KALAM_CLUSTER_RAFT_HEARTBEAT_INTERVAL_MS \(cluster\.raft\.heartbeat_interval_ms\) must be an integer, got "1.5"$/,
    { ...ENV, KALAM_CLUSTER_RAFT_HEARTBEAT_INTERVAL_MS: '1.5' },
  );
  assert.equal(err.problems[0]?.envVar, 'KALAM_CLUSTER_RAFT_HEARTBEAT_INTERVAL_MS');
  expectProblem(
    clusterToml(),
    'cluster.raft.election_timeout_min_ms',
    /^cluster\.raft\.election_timeout_min_ms \(from KALAM_CLUSTER_RAFT_ELECTION_TIMEOUT_MIN_MS\) must be greater than/,
    { ...ENV, KALAM_CLUSTER_RAFT_ELECTION_TIMEOUT_MIN_MS: '100' },
  );
  expectProblem(
    standaloneToml(),
    'server.api_addr',
    /server\.api_addr \(from KALAM_SERVER_API_ADDR\) must be host:port/,
    {
      ...ENV,
      KALAM_SERVER_API_ADDR: 'nope',
    },
  );
});

test('a misspelt KALAM_ variable of a config section is an error; other KALAM_ variables are left alone', () => {
  expectProblem(
    standaloneToml(),
    'KALAM_SERVER_API_ADR',
    /unknown environment variable .*did you mean KALAM_SERVER_API_ADDR\?/,
    {
      ...ENV,
      KALAM_SERVER_API_ADR: '127.0.0.1:1',
    },
  );
  const config = parse(standaloneToml(), { ...ENV, KALAM_TEST_NODE_ARGS: '--x', KALAM_LOG: 'debug' });
  assert.equal(config.mode, 'standalone');
});

test('in standalone mode KALAM_CLUSTER_SECRET is ignored and other cluster variables are refused', () => {
  assert.equal(parse(standaloneToml(), ENV).mode, 'standalone');
  expectProblem(
    standaloneToml(),
    'cluster.node_id',
    /KALAM_CLUSTER_NODE_ID sets cluster\.node_id, but the config has no \[cluster\]/,
    {
      ...ENV,
      KALAM_CLUSTER_NODE_ID: '1',
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// [auth] metrics_token: a bearer token that may read GET /metrics.

test('[auth] metrics_token is optional, read from the file or KALAM_AUTH_METRICS_TOKEN, and checked', () => {
  const token = 'scrape-0123456789abcdef';
  assert.equal(parse(standaloneToml()).auth.metricsToken, undefined);
  assert.equal(parse(standaloneToml({ auth: { metrics_token: `"${token}"` } })).auth.metricsToken, token);
  assert.equal(parse(standaloneToml(), { ...ENV, KALAM_AUTH_METRICS_TOKEN: token }).auth.metricsToken, token);
  const short = expectProblem(
    standaloneToml({ auth: { metrics_token: '"tooShort99"' } }),
    'auth.metrics_token',
    /at least 16/,
  );
  assert.ok(!short.message.includes('tooShort99'), 'a secret is never echoed');
  expectProblem(
    standaloneToml({ auth: { metrics_token: '"with a space in the token"' } }),
    'auth.metrics_token',
    /without spaces/,
  );
  expectProblem(standaloneToml({ auth: { metrics_token: '7' } }), 'auth.metrics_token', /string/);
});

// ---------------------------------------------------------------------------------------------------------
// Redaction.

test('describeConfig replaces every secret by *** and keeps the rest', () => {
  const jwtSecret = 'j'.repeat(40);
  const metricsToken = 'm'.repeat(24);
  const config = parse(clusterToml({ auth: { jwt_secret: `"${jwtSecret}"`, metrics_token: `"${metricsToken}"` } }));
  const described = describeConfig(config);
  const json = JSON.stringify(described);
  for (const secret of [SECRET, 'root-password', jwtSecret, metricsToken]) assert.ok(!json.includes(secret), secret);
  assert.deepEqual(described['auth'], {
    rootPassword: '***',
    jwtSecret: '***',
    tokenTtlSeconds: 3600,
    metricsToken: '***',
  });
  assert.match(json, /"secret":"\*\*\*"/);
  assert.match(json, /"rpcAddr":"127\.0\.0\.1:9081"/);
  assert.match(json, /"apiUrl":"http:\/\/127\.0\.0\.1:8083"/);
  const standalone = describeConfig(parse(standaloneToml()));
  assert.deepEqual(standalone['auth'], {
    rootPassword: '***',
    jwtSecret: null,
    tokenTtlSeconds: 3600,
    metricsToken: null,
  });
  assert.equal(standalone['cluster'], undefined);
});

// ---------------------------------------------------------------------------------------------------------
// The example configs shipped in cluster-configs/.

const CONFIGS_DIR = fileURLToPath(new URL('../../../../cluster-configs/', import.meta.url));

/** Node configs only: cluster-configs/drills/ holds drill files (the CLI's drill tests check those). */
function tomlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.toml'))
    .filter((entry) => path.basename(entry.parentPath) !== 'drills')
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

test('every node config under cluster-configs/ is valid, and local-3 describes one consistent cluster', () => {
  const files = tomlFiles(CONFIGS_DIR);
  const configs = new Map(files.map((file) => [path.relative(CONFIGS_DIR, file), loadConfig(file, ENV)]));
  assert.ok(configs.size >= 4, `found ${[...configs.keys()].join(', ')}`);
  assert.equal(configs.get('standalone.toml')?.mode, 'standalone');

  const nodes = [1, 2, 3].map((i) => {
    const config = configs.get(path.join('local-3', `node${i}.toml`));
    assert.ok(config, `local-3/node${i}.toml is missing`);
    return config;
  });
  const dataDirs = new Set<string>();
  nodes.forEach((config, i) => {
    const cluster = clusterOf(config);
    assert.equal(cluster.nodeId, i + 1);
    assert.deepEqual(config.server.apiAddr, { host: '127.0.0.1', port: 8081 + i });
    assert.deepEqual(cluster.raft.rpcAddr, { host: '127.0.0.1', port: 9081 + i });
    assert.ok(config.server.dataDir.endsWith(path.join('local-3', `node${i + 1}`)), config.server.dataDir);
    dataDirs.add(config.server.dataDir);
    const first = clusterOf(nodes[0] ?? config);
    assert.equal(cluster.clusterId, first.clusterId);
    assert.deepEqual(cluster.members, first.members);
    assert.deepEqual(cluster.sharding, first.sharding);
    assert.deepEqual(
      { ...cluster.raft, rpcAddr: null, rpcBind: null },
      { ...first.raft, rpcAddr: null, rpcBind: null },
    );
  });
  assert.equal(dataDirs.size, 3);
  assert.deepEqual(
    clusterOf(nodes[0] ?? assert.fail()).members.map((m) => m.apiUrl),
    ['http://127.0.0.1:8081', 'http://127.0.0.1:8082', 'http://127.0.0.1:8083'],
  );
});
