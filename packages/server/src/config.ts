/**
 * The node's configuration (DESIGN.md §8): a TOML file in KalamDB's nested shape, with `KALAM_*`
 * environment overrides, turned into a frozen, fully typed NodeConfig — or a ConfigError that lists every
 * problem, each naming its key as a dotted path.
 *
 *   [server]            api_addr, api_bind, data_dir, max_body_bytes, cors_origins
 *   [auth]              root_password, jwt_secret, token_ttl_seconds, metrics_token
 *   [cluster]           cluster_id, node_id, secret           (no [cluster] section: standalone),
 *                       leader_balance_interval_ms, leader_balance_tolerance,
 *                       join (a member's API address: join that cluster; node_id and members then come from it),
 *                       membership_interval_ms, promote_lag_entries_max, snapshot_sends_per_node_max
 *   [cluster.raft]      rpc_addr, rpc_bind, heartbeat_interval_ms, election_timeout_min_ms, election_timeout_max_ms,
 *                       snapshot_threshold, log_bytes_max, tick_ms, log_writer_thread
 *   [cluster.sharding]  num_user_shards, num_shared_shards
 *   [[cluster.members]] node_id, rpc_addr, api_addr             (every member, this node included)
 *   [debug]             admin_endpoints (default false: the fault-injection endpoints of admin.ts answer 404)
 *   [tls]               cert_file, key_file, ca_file, require_client_cert (PEM files; tls.ts reads and checks them)
 *
 * Unknown keys are errors: a misspelt key silently falling back to its default is how a cluster ends up
 * with one node on different timings. The schema below is the one list of keys; the environment variable
 * names are derived from it (`KALAM_<SECTION>_<KEY>`, dots as underscores, upper case), so the two cannot
 * drift apart.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';

import { TomlError, parse as parseToml } from 'smol-toml';
import type { TomlTable, TomlValue } from 'smol-toml';

import { corsOriginProblem } from './cors.js';
import { ConfigError } from './errors.js';
import type { ConfigProblem } from './errors.js';
import { readTlsFiles } from './tls.js';
import type { TlsSettings } from './tls.js';

export type { TlsSettings } from './tls.js';

export interface HostPort {
  /** A host name, an IPv4 address, or an IPv6 address without brackets; lower case. */
  readonly host: string;
  /** [1, 65535] */
  readonly port: number;
}

export interface ServerSettings {
  /** The ADVERTISED API address: what clients and peers use (may be a host name); port 0 takes the bound port. */
  readonly apiAddr: HostPort;
  /** Where the HTTP API listens (`0.0.0.0`, `::`, an address); default: apiAddr. */
  readonly apiBind: HostPort;
  /** Absolute: a relative `data_dir` is resolved against the config file's folder. */
  readonly dataDir: string;
  readonly maxBodyBytes: number;
  /** Origins whose pages may call the API (cors.ts); empty: none. From a comma-separated `cors_origins`. */
  readonly corsOrigins: readonly string[];
}

export interface AuthSettings {
  readonly rootPassword: string;
  /** Absent: the node generates one and keeps it under dataDir. */
  readonly jwtSecret?: string;
  readonly tokenTtlSeconds: number;
  /** A bearer token that may read GET /metrics (and nothing else) besides root; absent: root only. */
  readonly metricsToken?: string;
}

export interface RaftSettings {
  /** The ADVERTISED Raft RPC address, where peers dial this node; equal to its own entry in `members`. */
  readonly rpcAddr: HostPort;
  /** Where the Raft RPC listens; default: rpcAddr. */
  readonly rpcBind: HostPort;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  /** Entries applied since the last log compaction before the next one. */
  readonly snapshotThreshold: number;
  /** Bytes of Raft log one group holds in memory before it is compacted (down to half of it). */
  readonly logBytesMax: number;
  readonly tickMs: number;
  /**
   * raft.db is written by a worker thread (default true), so its fsync does not block the event loop; false writes
   * it on the event loop (RaftManagerOptions.logWrites).
   */
  readonly logWriterThread: boolean;
}

export interface ShardingSettings {
  readonly numUserShards: number;
  readonly numSharedShards: number;
}

export interface MemberSettings {
  readonly nodeId: number;
  readonly rpcAddr: HostPort;
  /** Normalised: `http://host:port` (or https), no trailing slash. */
  readonly apiUrl: string;
}

/** The leader balance (multiraft's balance.ts): spreads the groups' leaders over the nodes by leadership transfer. */
export interface LeaderBalanceSettings {
  /** How often each node looks at the groups it leads, in ms; 0 turns the balance off. */
  readonly intervalMs: number;
  /** Leaders a node may hold beyond ⌈groups / live nodes⌉ (or lack below ⌊groups / live nodes⌋) before groups move. */
  readonly tolerance: number;
}

/** How the meta:system leader moves nodes in and out of the groups (membership.ts). */
export interface MembershipSettings {
  /** How often each node looks at the member list (peers, its own removal) and the leader reconciles, in ms. */
  readonly intervalMs: number;
  /** A learner is promoted in a group once its match index is within this many entries of the leader's last. */
  readonly promoteLagEntriesMax: number;
  /** Groups of one node that may be catching up as learners at once (each may need a snapshot sent). */
  readonly snapshotSendsPerNodeMax: number;
}

export interface ClusterSettings {
  /** '' when joining (cluster.join) without cluster_id: the cluster names itself in its answer. */
  readonly clusterId: string;
  /** 0 when joining (cluster.join): the id comes from the cluster, or from node.json once it has joined. */
  readonly nodeId: number;
  /** Normalised API URL of a member to join through; undefined: a member from the static list. */
  readonly join: string | undefined;
  readonly membership: MembershipSettings;
  readonly secret: string;
  readonly leaderBalance: LeaderBalanceSettings;
  readonly raft: RaftSettings;
  readonly sharding: ShardingSettings;
  /** Every member, this node included, in file order. */
  readonly members: readonly MemberSettings[];
}

export interface DebugSettings {
  /**
   * `[debug] admin_endpoints = true` turns on /v1/api/admin/* (fault rules, slow disk, state digests; root
   * only). Meant for the supervisor of `kalam cluster up` and drills, never for a production node.
   */
  readonly adminEndpoints: boolean;
}

interface CommonConfig {
  /** The config file's path as given, for messages. */
  readonly source: string;
  readonly server: ServerSettings;
  readonly auth: AuthSettings;
  readonly debug: DebugSettings;
  /** Present: the API serves HTTPS and the Raft transport runs over TLS (wss); see tls.ts. */
  readonly tls?: TlsSettings | undefined;
}

export interface StandaloneNodeConfig extends CommonConfig {
  readonly mode: 'standalone';
  readonly cluster?: undefined;
}

export interface ClusterNodeConfig extends CommonConfig {
  readonly mode: 'cluster';
  readonly cluster: ClusterSettings;
}

export type NodeConfig = StandaloneNodeConfig | ClusterNodeConfig;

/** The defaults of the optional keys (KalamDB's, except where noted). */
export const configDefaults = {
  apiAddr: '127.0.0.1:8081',
  maxBodyBytes: 1024 * 1024,
  tokenTtlSeconds: 3600,
  heartbeatIntervalMs: 100,
  electionTimeoutMinMs: 300,
  electionTimeoutMaxMs: 500,
  snapshotThreshold: 10_000,
  logBytesMax: 32 * 1024 * 1024,
  tickMs: 100,
  numUserShards: 32,
  numSharedShards: 1,
  leaderBalanceIntervalMs: 2_000,
  leaderBalanceTolerance: 1,
  membershipIntervalMs: 500,
  promoteLagEntriesMax: 100,
  snapshotSendsPerNodeMax: 2,
} as const;

/** Every bound a config value is held to, unit last. Ranges are inclusive. */
export const configLimits = {
  portMin: 1,
  portMax: 65_535,
  maxBodyBytesMin: 1024,
  maxBodyBytesMax: 1024 * 1024 * 1024,
  tokenTtlSecondsMin: 60,
  tokenTtlSecondsMax: 30 * 24 * 3600,
  /** Node ids are positive (0 is Raft's "none") and fit a signed 32-bit column. */
  nodeIdMax: 2_147_483_647,
  clusterIdLengthMax: 64,
  clusterSecretLengthMin: 16,
  /** HS256 wants a key at least as long as its 32-byte output. */
  jwtSecretLengthMin: 32,
  /** A scraper's bearer token: as long as the cluster secret at least (e.g. `openssl rand -hex 16`). */
  metricsTokenLengthMin: 16,
  tickMsMin: 1,
  tickMsMax: 10_000,
  heartbeatIntervalMsMax: 60_000,
  electionTimeoutMsMax: 600_000,
  snapshotThresholdMin: 1,
  snapshotThresholdMax: 1_000_000_000,
  /** Compacted down to half: at least the inflight window (8 MiB), or a follower that keeps up could be cut off. */
  logBytesMaxMin: 16 * 1024 * 1024,
  logBytesMaxMax: 64 * 1024 * 1024 * 1024,
  numUserShardsMax: 256,
  numSharedShardsMax: 16,
  membersMax: 64,
  /** A balance round more often than this would offer groups again before their last transfer settled. */
  leaderBalanceIntervalMsMin: 100,
  leaderBalanceIntervalMsMax: 3_600_000,
  leaderBalanceToleranceMax: 10_000,
  membershipIntervalMsMin: 50,
  membershipIntervalMsMax: 60_000,
  promoteLagEntriesMaxMax: 1_000_000,
  snapshotSendsPerNodeMaxMax: 64,
} as const;

export interface ParseConfigOptions {
  /** Relative paths in the config (data_dir) resolve against this folder. */
  readonly baseDir: string;
  /** Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Names the config in messages. Default: '<config>'. */
  readonly source?: string;
}

/** Reads and validates a config file. Every problem, including an unreadable file, is a ConfigError. */
export function loadConfig(file: string, env: Readonly<Record<string, string | undefined>> = process.env): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(file, [{ key: '', message: `cannot read the config file: ${detail}` }], { cause });
  }
  return parseConfig(text, { baseDir: path.dirname(path.resolve(file)), env, source: file });
}

/** Validates config text; see the module comment for the shape. */
export function parseConfig(text: string, opts: ParseConfigOptions): NodeConfig {
  const source = opts.source ?? '<config>';
  const doc = parseTomlText(text, source);
  const problems: ConfigProblem[] = [];
  const settings = collectSettings(doc, problems);
  applyEnvOverrides(settings, opts.env ?? process.env, problems);
  const reader = new SettingsReader(settings, problems);
  const tls = readTls(reader, opts.baseDir);
  const common = {
    source,
    server: readServer(reader, opts.baseDir),
    auth: readAuth(reader),
    debug: { adminEndpoints: reader.boolean('debug.admin_endpoints', false) },
    ...(tls !== undefined && { tls }),
  };
  const config: NodeConfig = settings.hasCluster
    ? { mode: 'cluster', ...common, cluster: readCluster(reader, settings.memberCount, tls !== undefined) }
    : { mode: 'standalone', ...common };
  if (problems.length > 0) throw new ConfigError(source, problems);
  return deepFreeze(config);
}

/** A copy for logs: secrets replaced by "***", addresses as host:port strings. */
export function describeConfig(config: NodeConfig): Record<string, unknown> {
  const redacted = '***';
  const { server, auth, cluster } = config;
  return {
    mode: config.mode,
    source: config.source,
    server: {
      apiAddr: formatHostPort(server.apiAddr),
      apiBind: formatHostPort(server.apiBind),
      dataDir: server.dataDir,
      maxBodyBytes: server.maxBodyBytes,
      corsOrigins: server.corsOrigins,
    },
    auth: {
      rootPassword: redacted,
      jwtSecret: auth.jwtSecret === undefined ? null : redacted,
      tokenTtlSeconds: auth.tokenTtlSeconds,
      metricsToken: auth.metricsToken === undefined ? null : redacted,
    },
    debug: { ...config.debug },
    tls:
      config.tls === undefined
        ? null
        : {
            certFile: config.tls.certFile,
            keyFile: config.tls.keyFile,
            caFile: config.tls.caFile,
            requireClientCert: config.tls.requireClientCert,
          },
    ...(cluster && {
      cluster: {
        clusterId: cluster.clusterId,
        nodeId: cluster.nodeId,
        join: cluster.join ?? null,
        membership: { ...cluster.membership },
        secret: redacted,
        leaderBalance: { ...cluster.leaderBalance },
        raft: {
          ...cluster.raft,
          rpcAddr: formatHostPort(cluster.raft.rpcAddr),
          rpcBind: formatHostPort(cluster.raft.rpcBind),
        },
        sharding: { ...cluster.sharding },
        members: cluster.members.map((m) => ({ ...m, rpcAddr: formatHostPort(m.rpcAddr) })),
      },
    }),
  };
}

/** This node's API URL as configured (`server.api_addr`): https with [tls], http without. */
export function advertisedApiUrl(config: NodeConfig, port: number = config.server.apiAddr.port): string {
  const scheme = config.tls === undefined ? 'http' : 'https';
  return `${scheme}://${formatHostPort({ host: config.server.apiAddr.host, port })}`;
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(addr: HostPort): string {
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

// ---------------------------------------------------------------------------------------------------------
// The schema: the one list of keys.

type Kind = 'string' | 'integer' | 'boolean';

interface KeySpec {
  readonly kind: Kind;
  /** Never echoed in a message or a log. */
  readonly secret?: true;
}

const STR: KeySpec = { kind: 'string' };
const INT: KeySpec = { kind: 'integer' };
const BOOL: KeySpec = { kind: 'boolean' };
const SECRET: KeySpec = { kind: 'string', secret: true };

const SECTIONS = {
  server: { api_addr: STR, api_bind: STR, data_dir: STR, max_body_bytes: INT, cors_origins: STR },
  auth: { root_password: SECRET, jwt_secret: SECRET, token_ttl_seconds: INT, metrics_token: SECRET },
  cluster: {
    cluster_id: STR,
    node_id: INT,
    secret: SECRET,
    leader_balance_interval_ms: INT,
    leader_balance_tolerance: INT,
    join: STR,
    membership_interval_ms: INT,
    promote_lag_entries_max: INT,
    snapshot_sends_per_node_max: INT,
  },
  'cluster.raft': {
    rpc_addr: STR,
    rpc_bind: STR,
    heartbeat_interval_ms: INT,
    election_timeout_min_ms: INT,
    election_timeout_max_ms: INT,
    snapshot_threshold: INT,
    log_bytes_max: INT,
    tick_ms: INT,
    log_writer_thread: BOOL,
  },
  'cluster.sharding': { num_user_shards: INT, num_shared_shards: INT },
  debug: { admin_endpoints: BOOL },
  tls: { cert_file: STR, key_file: STR, ca_file: STR, require_client_cert: BOOL },
} as const satisfies Record<string, Record<string, KeySpec>>;

type SectionName = keyof typeof SECTIONS;

const MEMBER_KEYS: Readonly<Record<string, KeySpec>> = { node_id: INT, rpc_addr: STR, api_addr: STR };

/** Tables nested in a section beside its scalar keys. */
const SUBSECTIONS: Readonly<Record<string, readonly SectionName[]>> = {
  cluster: ['cluster.raft', 'cluster.sharding'],
};

const TOP_LEVEL: readonly SectionName[] = ['server', 'auth', 'cluster', 'debug', 'tls'];

/** Documented names that are not the derived `KALAM_<SECTION>_<KEY>` (which works as well). */
const ENV_ALIASES: Readonly<Record<string, string>> = { KALAM_ROOT_PASSWORD: 'auth.root_password' };

/** A variable with one of these prefixes that names no key is a typo, and an error. */
const ENV_SECTION_PREFIXES = ['KALAM_SERVER_', 'KALAM_AUTH_', 'KALAM_CLUSTER_', 'KALAM_DEBUG_', 'KALAM_TLS_'];

/** Set in every node's environment alike, so a standalone node ignores it rather than refusing to start. */
const ENV_IGNORED_WHEN_STANDALONE = new Set(['KALAM_CLUSTER_SECRET']);

function envName(key: string): string {
  return `KALAM_${key.replaceAll('.', '_').toUpperCase()}`;
}

const KEY_SPECS = new Map<string, KeySpec>();
const ENV_KEYS = new Map<string, string>(Object.entries(ENV_ALIASES));
for (const [section, keys] of Object.entries(SECTIONS)) {
  for (const [key, spec] of Object.entries(keys)) {
    KEY_SPECS.set(`${section}.${key}`, spec);
    ENV_KEYS.set(envName(`${section}.${key}`), `${section}.${key}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// From TOML text to a flat map of settings.

interface Setting {
  /** Integers are bigint (TOML keeps 3 and 3.0 apart, and so do we); env values arrive converted. */
  readonly value: TomlValue;
  readonly envVar?: string;
}

interface Settings {
  /** By dotted key; members as `cluster.members[i].key`. */
  readonly values: Map<string, Setting>;
  /** Whether the file has a [cluster] section (the environment cannot add one). */
  hasCluster: boolean;
  /** undefined: no [[cluster.members]] at all. */
  memberCount: number | undefined;
}

function parseTomlText(text: string, source: string): TomlTable {
  try {
    return parseToml(text, { integersAsBigInt: true, unsafeKeyBehaviour: 'throw', maxDepth: 16 });
  } catch (cause) {
    if (!(cause instanceof TomlError)) throw cause;
    // Only the first line of the library's message: the rest quotes the file, which may hold a secret.
    const what = (cause.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    const message = `TOML syntax error at line ${cause.line}, column ${cause.column}: ${what}`;
    throw new ConfigError(source, [{ key: '', message, line: cause.line, column: cause.column }], { cause });
  }
}

function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function collectSettings(doc: TomlTable, problems: ConfigProblem[]): Settings {
  const settings: Settings = { values: new Map(), hasCluster: false, memberCount: undefined };
  for (const [name, value] of Object.entries(doc)) {
    const section = TOP_LEVEL.find((s) => s === name);
    if (section === undefined) {
      problems.push(unknownKey(name, TOP_LEVEL));
      continue;
    }
    if (section === 'cluster') settings.hasCluster = true;
    collectSection(section, value, settings, problems);
  }
  return settings;
}

function collectSection(section: SectionName, value: TomlValue, settings: Settings, problems: ConfigProblem[]): void {
  if (!isTable(value)) {
    problems.push({ key: section, message: `${section} must be a table ([${section}]), got ${describeValue(value)}` });
    return;
  }
  const keys: Readonly<Record<string, KeySpec>> = SECTIONS[section];
  const subsections = SUBSECTIONS[section] ?? [];
  for (const [name, item] of Object.entries(value)) {
    const key = `${section}.${name}`;
    const subsection = subsections.find((s) => s === key);
    if (keys[name] !== undefined) {
      settings.values.set(key, { value: item });
    } else if (subsection !== undefined) {
      collectSection(subsection, item, settings, problems);
    } else if (key === 'cluster.members') {
      collectMembers(item, settings, problems);
    } else {
      const known = [...Object.keys(keys), ...subsections.map((s) => s.slice(section.length + 1))];
      if (section === 'cluster') known.push('members');
      problems.push(
        unknownKey(
          key,
          known.map((k) => `${section}.${k}`),
        ),
      );
    }
  }
}

function collectMembers(value: TomlValue, settings: Settings, problems: ConfigProblem[]): void {
  if (!Array.isArray(value) || !value.every(isTable)) {
    const message = `cluster.members must be an array of tables ([[cluster.members]]), got ${describeValue(value)}`;
    problems.push({ key: 'cluster.members', message });
    return;
  }
  settings.memberCount = value.length;
  value.forEach((member, i) => {
    for (const [name, item] of Object.entries(member)) {
      const key = `cluster.members[${i}].${name}`;
      if (MEMBER_KEYS[name] === undefined) {
        problems.push(
          unknownKey(
            key,
            Object.keys(MEMBER_KEYS).map((k) => `cluster.members[${i}].${k}`),
          ),
        );
      } else {
        settings.values.set(key, { value: item });
      }
    }
  });
}

function unknownKey(key: string, known: readonly string[]): ConfigProblem {
  const guess = closest(key, known);
  const hint = guess === undefined ? `known keys here: ${known.join(', ')}` : `did you mean ${guess}?`;
  return { key, message: `unknown key ${key} (${hint})` };
}

/** The candidate within edit distance 2 of `word`, if there is one: enough for a typo, not for a guess. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// ---------------------------------------------------------------------------------------------------------
// Environment overrides: a set variable replaces the file's value of its key.

function applyEnvOverrides(
  settings: Settings,
  env: Readonly<Record<string, string | undefined>>,
  problems: ConfigProblem[],
): void {
  const claimed = new Map<string, string>();
  for (const [variable, text] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (text === undefined || !variable.startsWith('KALAM_')) continue;
    const key = ENV_KEYS.get(variable);
    if (key === undefined) {
      if (ENV_SECTION_PREFIXES.some((p) => variable.startsWith(p))) problems.push(unknownEnv(variable));
      continue;
    }
    if (key.startsWith('cluster.') && !settings.hasCluster) {
      if (!ENV_IGNORED_WHEN_STANDALONE.has(variable)) {
        const message = `${variable} sets ${key}, but the config has no [cluster] section (standalone mode)`;
        problems.push({ key, envVar: variable, message });
      }
      continue;
    }
    const other = claimed.get(key);
    if (other !== undefined) {
      problems.push({ key, envVar: variable, message: `${other} and ${variable} both set ${key}; set one` });
      continue;
    }
    claimed.set(key, variable);
    const value = envValue(text, KEY_SPECS.get(key)?.kind ?? 'string');
    if (value === undefined) {
      const expected = KEY_SPECS.get(key)?.kind === 'boolean' ? 'true or false' : 'an integer';
      problems.push({ key, envVar: variable, message: `${variable} (${key}) must be ${expected}, got "${text}"` });
      continue;
    }
    settings.values.set(key, { value, envVar: variable });
  }
}

function envValue(text: string, kind: Kind): TomlValue | undefined {
  if (kind === 'string') return text;
  const trimmed = text.trim();
  if (kind === 'boolean') return trimmed === 'true' ? true : trimmed === 'false' ? false : undefined;
  return /^[+-]?\d+$/.test(trimmed) ? BigInt(trimmed) : undefined;
}

function unknownEnv(variable: string): ConfigProblem {
  const guess = closest(variable, [...ENV_KEYS.keys()]);
  const hint = guess === undefined ? 'it names no config key' : `did you mean ${guess}?`;
  return { key: variable, envVar: variable, message: `unknown environment variable ${variable} (${hint})` };
}

// ---------------------------------------------------------------------------------------------------------
// Typed reads. A read that fails records a problem, marks its key failed and returns a placeholder; the
// placeholder never escapes, because parseConfig throws when any problem was recorded. Cross-key checks run
// only when every key they compare read cleanly, so one bad value reports once.

class SettingsReader {
  private readonly failed = new Set<string>();

  constructor(
    private readonly settings: Settings,
    private readonly problems: ConfigProblem[],
  ) {}

  has(key: string): boolean {
    return this.settings.values.has(key);
  }

  /** The key, and the variable its value came from. */
  label(key: string): string {
    const envVar = this.settings.values.get(key)?.envVar;
    return envVar === undefined ? key : `${key} (from ${envVar})`;
  }

  ok(...keys: string[]): boolean {
    return keys.every((k) => !this.failed.has(k));
  }

  fail(key: string, message: string): void {
    this.failed.add(key);
    const envVar = this.settings.values.get(key)?.envVar;
    this.problems.push(envVar === undefined ? { key, message } : { key, envVar, message });
  }

  /** A problem about several keys (a relation between them); none of them is marked failed. */
  report(key: string, message: string): void {
    this.problems.push({ key, message });
  }

  string(key: string, opts: { defaultValue?: string; hint?: string } = {}): string {
    const setting = this.settings.values.get(key);
    if (setting === undefined) {
      if (opts.defaultValue !== undefined) return opts.defaultValue;
      this.fail(key, `${key} is required${opts.hint === undefined ? '' : ` (${opts.hint})`}`);
      return '';
    }
    if (typeof setting.value !== 'string') {
      this.fail(key, `${this.label(key)} must be a string, got ${describeValue(setting.value)}`);
      return '';
    }
    if (setting.value.length === 0) {
      this.fail(key, `${this.label(key)} must not be empty`);
      return '';
    }
    return setting.value;
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  integer(key: string, range: { min: number; max: number; defaultValue?: number }): number {
    const setting = this.settings.values.get(key);
    if (setting === undefined) {
      if (range.defaultValue !== undefined) return range.defaultValue;
      this.fail(key, `${key} is required`);
      return range.min;
    }
    const { value } = setting;
    if (typeof value !== 'bigint') {
      this.fail(key, `${this.label(key)} must be an integer, got ${describeValue(value)}`);
      return range.min;
    }
    if (value < BigInt(range.min) || value > BigInt(range.max)) {
      this.fail(key, `${this.label(key)} must be between ${range.min} and ${range.max}, got ${value}`);
      return range.min;
    }
    return Number(value);
  }

  boolean(key: string, defaultValue: boolean): boolean {
    const setting = this.settings.values.get(key);
    if (setting === undefined) return defaultValue;
    if (typeof setting.value !== 'boolean') {
      this.fail(key, `${this.label(key)} must be true or false, got ${describeValue(setting.value)}`);
      return defaultValue;
    }
    return setting.value;
  }

  hostPort(key: string, defaultValue?: string): HostPort {
    const text = this.string(key, defaultValue === undefined ? {} : { defaultValue });
    if (!this.ok(key)) return { host: '', port: 0 };
    const parsed = parseHostPort(text);
    if (typeof parsed === 'string') {
      this.fail(key, `${this.label(key)} must be host:port (like "127.0.0.1:8081"), got "${text}": ${parsed}`);
      return { host: '', port: 0 };
    }
    return parsed;
  }

  /**
   * With [tls] every member URL is https (a bare host:port becomes one) and an http:// one is an error: the nodes'
   * APIs serve HTTPS only then, so an http:// member would be a typo that fails on first use. Without [tls] a bare
   * host:port is http, and https:// stays allowed (a member behind a TLS proxy with a publicly trusted certificate).
   */
  apiUrl(key: string, tls: boolean): string {
    const text = this.string(key);
    if (!this.ok(key)) return '';
    const parsed = parseApiUrl(text, tls ? 'https' : 'http');
    if (parsed.error !== undefined) {
      const message = `${this.label(key)} must be "${tls ? 'https' : 'http'}://host:port" or "host:port", got "${text}": ${parsed.error}`;
      this.fail(key, message);
      return '';
    }
    if (tls && !parsed.url.startsWith('https://')) {
      const why = 'the [tls] section is set, so every node serves its API over HTTPS';
      this.fail(key, `${this.label(key)} must be "https://host:port" (or "host:port"), got "${text}": ${why}`);
      return '';
    }
    return parsed.url;
  }

  /** Resolved paths against the config file's folder. */
  path(key: string, baseDir: string): string {
    const text = this.string(key);
    return this.ok(key) ? path.resolve(baseDir, text) : '';
  }
}

function describeValue(value: TomlValue): string {
  if (typeof value === 'string') return `the string "${value}"`;
  if (typeof value === 'bigint') return `the integer ${value}`;
  if (typeof value === 'number') return `the float ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  if (value instanceof Date) return 'a date';
  return Array.isArray(value) ? 'an array' : 'a table';
}

// ---------------------------------------------------------------------------------------------------------
// Addresses.

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** `host:port` or `[ipv6]:port`; a string says what is wrong. */
export function parseHostPort(text: string): HostPort | string {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return 'an IPv6 host is written [address]:port';
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return 'the port is missing';
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return 'an IPv6 host is written in brackets, [address]:port';
    if (!HOST_NAME.test(host)) return `"${host}" is not a host name or an IPv4 address`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `the port "${portText}" is not a number`;
  const port = Number(portText);
  if (port < configLimits.portMin || port > configLimits.portMax) {
    return `the port must be between ${configLimits.portMin} and ${configLimits.portMax}, got ${port}`;
  }
  return { host: host.toLowerCase(), port };
}

/** A member's api_addr: `http(s)://host:port` (nothing after the port but an optional "/") or `host:port`. */
function parseApiUrl(
  text: string,
  defaultScheme: 'http' | 'https',
): { url: string; error?: undefined } | { url?: undefined; error: string } {
  const withScheme = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(text);
  const scheme = withScheme?.[1]?.toLowerCase() ?? defaultScheme;
  let authority = withScheme?.[2] ?? text;
  if (scheme !== 'http' && scheme !== 'https') return { error: `the scheme must be http or https, not ${scheme}` };
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  if (/[/?#@]/.test(authority)) return { error: 'only a scheme, a host and a port are allowed' };
  const addr = parseHostPort(authority);
  if (typeof addr === 'string') return { error: addr };
  return { url: `${scheme}://${formatHostPort(addr)}` };
}

// ---------------------------------------------------------------------------------------------------------
// Sections.

function readServer(r: SettingsReader, baseDir: string): ServerSettings {
  const apiAddr = r.hostPort('server.api_addr', configDefaults.apiAddr);
  const apiBind = r.has('server.api_bind') ? r.hostPort('server.api_bind') : apiAddr;
  const dataDir = r.string('server.data_dir', { hint: 'the folder for this node’s data' });
  const maxBodyBytes = r.integer('server.max_body_bytes', {
    min: configLimits.maxBodyBytesMin,
    max: configLimits.maxBodyBytesMax,
    defaultValue: configDefaults.maxBodyBytes,
  });
  const corsOrigins = r.has('server.cors_origins') ? corsOriginsOf(r) : [];
  return { apiAddr, apiBind, dataDir: path.resolve(baseDir, dataDir), maxBodyBytes, corsOrigins };
}

function corsOriginsOf(r: SettingsReader): string[] {
  const key = 'server.cors_origins';
  const text = r.string(key);
  if (!r.ok(key)) return [];
  const origins = text.split(',').map((o) => o.trim().replace(/\/$/, ''));
  for (const origin of origins) {
    const problem = corsOriginProblem(origin);
    if (problem !== undefined) {
      r.fail(key, `${r.label(key)}: ${problem}`);
      return [];
    }
  }
  return origins;
}

function readAuth(r: SettingsReader): AuthSettings {
  const rootPassword = r.string('auth.root_password', {
    hint: 'set [auth] root_password or KALAM_ROOT_PASSWORD',
  });
  const jwtSecret = r.optionalString('auth.jwt_secret');
  if (jwtSecret !== undefined && r.ok('auth.jwt_secret') && jwtSecret.length < configLimits.jwtSecretLengthMin) {
    const rule = `at least ${configLimits.jwtSecretLengthMin} characters long`;
    r.fail('auth.jwt_secret', `${r.label('auth.jwt_secret')} must be ${rule}, got ${jwtSecret.length}`);
  }
  const tokenTtlSeconds = r.integer('auth.token_ttl_seconds', {
    min: configLimits.tokenTtlSecondsMin,
    max: configLimits.tokenTtlSecondsMax,
    defaultValue: configDefaults.tokenTtlSeconds,
  });
  const metricsToken = r.optionalString('auth.metrics_token');
  if (metricsToken !== undefined && r.ok('auth.metrics_token')) {
    // No spaces: a bearer token is compared as sent after "Bearer ", and a space would never match.
    if (metricsToken.length < configLimits.metricsTokenLengthMin || /\s/.test(metricsToken)) {
      const rule = `at least ${configLimits.metricsTokenLengthMin} characters long, without spaces`;
      r.fail('auth.metrics_token', `${r.label('auth.metrics_token')} must be ${rule}`);
    }
  }
  return {
    rootPassword,
    ...(jwtSecret !== undefined && { jwtSecret }),
    tokenTtlSeconds,
    ...(metricsToken !== undefined && { metricsToken }),
  };
}

const CLUSTER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function readCluster(r: SettingsReader, memberCount: number | undefined, tls: boolean): ClusterSettings {
  const join = r.has('cluster.join') ? r.apiUrl('cluster.join', tls) : undefined;
  const joining = join !== undefined || !r.ok('cluster.join');
  // A joining node may name the cluster it expects; the cluster's answer must then match it.
  const clusterId = joining && !r.has('cluster.cluster_id') ? '' : r.string('cluster.cluster_id');
  if (
    clusterId !== '' &&
    r.ok('cluster.cluster_id') &&
    (!CLUSTER_ID.test(clusterId) || clusterId.length > configLimits.clusterIdLengthMax)
  ) {
    const rule =
      'letters, digits, ".", "_" and "-", starting with a letter or digit, ' +
      `at most ${configLimits.clusterIdLengthMax}`;
    r.fail('cluster.cluster_id', `${r.label('cluster.cluster_id')} must be ${rule}, got "${clusterId}"`);
  }
  let nodeId = 0;
  if (!joining) nodeId = r.integer('cluster.node_id', { min: 1, max: configLimits.nodeIdMax });
  else if (r.has('cluster.node_id')) {
    r.fail(
      'cluster.node_id',
      `${r.label('cluster.node_id')} must not be set with cluster.join: the cluster gives the id`,
    );
  }
  const secret = r.string('cluster.secret', { hint: 'set [cluster] secret or KALAM_CLUSTER_SECRET' });
  if (r.ok('cluster.secret') && secret.length < configLimits.clusterSecretLengthMin) {
    const rule = `at least ${configLimits.clusterSecretLengthMin} characters long`;
    r.fail('cluster.secret', `${r.label('cluster.secret')} must be ${rule}, got ${secret.length}`);
  }
  const leaderBalance = readLeaderBalance(r);
  const raft = readRaft(r);
  const sharding: ShardingSettings = {
    numUserShards: r.integer('cluster.sharding.num_user_shards', {
      min: 1,
      max: configLimits.numUserShardsMax,
      defaultValue: configDefaults.numUserShards,
    }),
    numSharedShards: r.integer('cluster.sharding.num_shared_shards', {
      min: 1,
      max: configLimits.numSharedShardsMax,
      defaultValue: configDefaults.numSharedShards,
    }),
  };
  const membership = readMembership(r);
  if (joining) {
    if (memberCount !== undefined) {
      r.fail('cluster.members', 'cluster.members must not be set with cluster.join: the joining node learns them');
    }
    return { clusterId, nodeId, join, membership, secret, leaderBalance, raft, sharding, members: [] };
  }
  const members = readMembers(r, memberCount, tls);
  checkSelf(r, { nodeId, rpcAddr: raft.rpcAddr, members });
  return { clusterId, nodeId, join, membership, secret, leaderBalance, raft, sharding, members };
}

function readMembership(r: SettingsReader): MembershipSettings {
  return {
    intervalMs: r.integer('cluster.membership_interval_ms', {
      min: configLimits.membershipIntervalMsMin,
      max: configLimits.membershipIntervalMsMax,
      defaultValue: configDefaults.membershipIntervalMs,
    }),
    promoteLagEntriesMax: r.integer('cluster.promote_lag_entries_max', {
      min: 0,
      max: configLimits.promoteLagEntriesMaxMax,
      defaultValue: configDefaults.promoteLagEntriesMax,
    }),
    snapshotSendsPerNodeMax: r.integer('cluster.snapshot_sends_per_node_max', {
      min: 1,
      max: configLimits.snapshotSendsPerNodeMaxMax,
      defaultValue: configDefaults.snapshotSendsPerNodeMax,
    }),
  };
}

function readLeaderBalance(r: SettingsReader): LeaderBalanceSettings {
  const intervalKey = 'cluster.leader_balance_interval_ms';
  const intervalMs = r.integer(intervalKey, {
    min: 0,
    max: configLimits.leaderBalanceIntervalMsMax,
    defaultValue: configDefaults.leaderBalanceIntervalMs,
  });
  if (r.ok(intervalKey) && intervalMs > 0 && intervalMs < configLimits.leaderBalanceIntervalMsMin) {
    const rule = `0 (off) or at least ${configLimits.leaderBalanceIntervalMsMin}`;
    r.fail(intervalKey, `${r.label(intervalKey)} must be ${rule}, got ${intervalMs}`);
  }
  const tolerance = r.integer('cluster.leader_balance_tolerance', {
    min: 0,
    max: configLimits.leaderBalanceToleranceMax,
    defaultValue: configDefaults.leaderBalanceTolerance,
  });
  return { intervalMs, tolerance };
}

function readRaft(r: SettingsReader): RaftSettings {
  const k = (name: string): string => `cluster.raft.${name}`;
  const rpcAddr = r.hostPort(k('rpc_addr'));
  const rpcBind = r.has(k('rpc_bind')) ? r.hostPort(k('rpc_bind')) : rpcAddr;
  const ms = (name: string, max: number, defaultValue: number): number =>
    r.integer(k(name), { min: 1, max, defaultValue });
  const tickMs = r.integer(k('tick_ms'), {
    min: configLimits.tickMsMin,
    max: configLimits.tickMsMax,
    defaultValue: configDefaults.tickMs,
  });
  const heartbeatIntervalMs = ms(
    'heartbeat_interval_ms',
    configLimits.heartbeatIntervalMsMax,
    configDefaults.heartbeatIntervalMs,
  );
  const electionTimeoutMinMs = ms(
    'election_timeout_min_ms',
    configLimits.electionTimeoutMsMax,
    configDefaults.electionTimeoutMinMs,
  );
  const electionTimeoutMaxMs = ms(
    'election_timeout_max_ms',
    configLimits.electionTimeoutMsMax,
    configDefaults.electionTimeoutMaxMs,
  );
  const snapshotThreshold = r.integer(k('snapshot_threshold'), {
    min: configLimits.snapshotThresholdMin,
    max: configLimits.snapshotThresholdMax,
    defaultValue: configDefaults.snapshotThreshold,
  });
  const logBytesMax = r.integer(k('log_bytes_max'), {
    min: configLimits.logBytesMaxMin,
    max: configLimits.logBytesMaxMax,
    defaultValue: configDefaults.logBytesMax,
  });
  // The core counts time in ticks: a heartbeat shorter than a tick could not be sent on time, and the
  // election window must open after a heartbeat and have a width, or every follower campaigns at once.
  const ordered = (lo: string, loValue: number, hi: string, hiValue: number, relation: 'at least' | 'greater than') => {
    const holds = relation === 'at least' ? hiValue >= loValue : hiValue > loValue;
    if (!r.ok(k(lo), k(hi)) || holds) return;
    r.report(k(hi), `${r.label(k(hi))} must be ${relation} ${r.label(k(lo))} (${loValue}), got ${hiValue}`);
  };
  ordered('tick_ms', tickMs, 'heartbeat_interval_ms', heartbeatIntervalMs, 'at least');
  ordered(
    'heartbeat_interval_ms',
    heartbeatIntervalMs,
    'election_timeout_min_ms',
    electionTimeoutMinMs,
    'greater than',
  );
  ordered(
    'election_timeout_min_ms',
    electionTimeoutMinMs,
    'election_timeout_max_ms',
    electionTimeoutMaxMs,
    'greater than',
  );
  const logWriterThread = r.boolean(k('log_writer_thread'), true);
  return {
    rpcAddr,
    rpcBind,
    heartbeatIntervalMs,
    electionTimeoutMinMs,
    electionTimeoutMaxMs,
    snapshotThreshold,
    logBytesMax,
    tickMs,
    logWriterThread,
  };
}

function readMembers(r: SettingsReader, memberCount: number | undefined, tls: boolean): MemberSettings[] {
  if (memberCount === undefined || memberCount === 0) {
    const message = 'cluster.members must list every member, this node included ([[cluster.members]])';
    r.fail('cluster.members', memberCount === undefined ? `${message}; it is missing` : `${message}; it is empty`);
    return [];
  }
  if (memberCount > configLimits.membersMax) {
    r.fail(
      'cluster.members',
      `cluster.members must have at most ${configLimits.membersMax} entries, got ${memberCount}`,
    );
    return [];
  }
  const members: MemberSettings[] = [];
  // The index of the first member with each value, by key name.
  const firstIndex = new Map<string, Map<string, number>>();
  for (let i = 0; i < memberCount; i++) {
    const k = (name: string): string => `cluster.members[${i}].${name}`;
    const member: MemberSettings = {
      nodeId: r.integer(k('node_id'), { min: 1, max: configLimits.nodeIdMax }),
      rpcAddr: r.hostPort(k('rpc_addr')),
      apiUrl: r.apiUrl(k('api_addr'), tls),
    };
    const unique = (name: string, value: string): void => {
      if (!r.ok(k(name))) return;
      const seen = firstIndex.get(name) ?? new Map<string, number>();
      firstIndex.set(name, seen);
      const earlier = seen.get(value);
      if (earlier === undefined) {
        seen.set(value, i);
        return;
      }
      const message = `${r.label(k(name))} ${value} is also the ${name} of cluster.members[${earlier}]`;
      r.report(k(name), `${message}; each member's ${name} must be unique`);
    };
    unique('node_id', String(member.nodeId));
    unique('rpc_addr', formatHostPort(member.rpcAddr));
    unique('api_addr', member.apiUrl);
    members.push(member);
  }
  return members;
}

/** This node is one of the members, and listens where the others will dial it. */
function checkSelf(
  r: SettingsReader,
  self: { nodeId: number; rpcAddr: HostPort; members: readonly MemberSettings[] },
): void {
  const memberIds = self.members.map((_, i) => `cluster.members[${i}].node_id`);
  if (!r.ok('cluster.node_id', 'cluster.members', ...memberIds) || self.members.length === 0) return;
  const index = self.members.findIndex((m) => m.nodeId === self.nodeId);
  const entry = self.members[index];
  if (entry === undefined) {
    const ids = self.members.map((m) => m.nodeId).join(', ');
    r.report(
      'cluster.node_id',
      `${r.label('cluster.node_id')} ${self.nodeId} does not appear in cluster.members (node ids: ${ids})`,
    );
    return;
  }
  const memberKey = `cluster.members[${index}].rpc_addr`;
  if (!r.ok('cluster.raft.rpc_addr', memberKey)) return;
  const own = formatHostPort(self.rpcAddr);
  const listed = formatHostPort(entry.rpcAddr);
  if (own !== listed) {
    r.report(
      'cluster.raft.rpc_addr',
      `${r.label('cluster.raft.rpc_addr')} "${own}" must equal ${memberKey} "${listed}", ` +
        "this node's entry in cluster.members",
    );
  }
}

/** [tls]: absent unless some tls.* key is set (in the file or the environment); then all three files are required. */
function readTls(r: SettingsReader, baseDir: string): TlsSettings | undefined {
  const keys = ['tls.cert_file', 'tls.key_file', 'tls.ca_file', 'tls.require_client_cert'];
  if (!keys.some((k) => r.has(k))) return undefined;
  const certFile = r.path('tls.cert_file', baseDir);
  const keyFile = r.path('tls.key_file', baseDir);
  const caFile = r.path('tls.ca_file', baseDir);
  const requireClientCert = r.boolean('tls.require_client_cert', false);
  if (!r.ok('tls.cert_file', 'tls.key_file', 'tls.ca_file')) return undefined;
  const read = readTlsFiles({ certFile, keyFile, caFile });
  if (!read.ok) {
    for (const problem of read.problems) r.fail(problem.key, problem.message);
    return undefined;
  }
  return { certFile, keyFile, caFile, requireClientCert, ...read.material };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
