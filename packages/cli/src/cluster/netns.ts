/**
 * `kalam cluster up --netns`: every node in its own Linux network namespace, so nodes talk over real interfaces
 * and `kalam node partition|heal` cut real paths instead of switching the transport's in-process rules.
 *
 * What one cluster creates (TAG: 6 hex digits of the cluster folder's path, so two clusters never share a name;
 * K: a /24 under 10.77.0.0/16 picked from TAG and checked against every address and route of the machine):
 *
 *   bridge     kbTAG                 in the root namespace, address 10.77.K.254/24 (the supervisor and the CLI
 *                                    reach the nodes through it)
 *   namespace  kalam-NAME-TAG-nI     node I, interface kvTAGnI with address 10.77.K.I/24 and its loopback
 *   veth       kvTAGhI               the other end of node I's interface, a port of the bridge
 *   qdisc      htb 1: on kvTAGnI     one class (1:1) whose leaf is a blackhole: a u32 filter steering packets
 *                                    into it is a one-way cut (only when the kernel has htb, u32 and blackhole)
 *
 * Everything is recorded in netns.json in the cluster folder before it is created, so whoever brings the cluster
 * down (the supervisor on `down`, SIGTERM or SIGINT; `kalam cluster down` after a supervisor crash; a failed `up`)
 * removes it by those names. Deleting a namespace takes its routes and filters with it; the veth pairs are
 * deleted by their root-side end first, because a namespace's interfaces go away asynchronously after it.
 *
 * Cuts. Both ways: a blackhole route to the peer's address in each end's namespace, so nothing passes between
 * them (API traffic included) while the bridge address still reaches both. One way (A cannot reach B): Raft
 * messages travel on the TCP connection the sender dials to the receiver's Raft port, so dropping the packets
 * A sends to B's Raft port (a u32 filter on A's interface) stops exactly A's messages to B, while B's own
 * connection to A still carries B's messages. TCP cannot carry data one way only, so that is the closest real
 * cut to the in-process rule; without htb/u32 (netns.json: oneWay "route") a one-way cut falls back to a
 * blackhole route on the sending side, which stops both directions of every connection between the two.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { CliError } from '../errors.js';
import { writeSecretFile } from './folder.js';
import type { NodeId } from './types.js';

/** The /16 every netns cluster takes a /24 of, and the host part of the root namespace's address. */
const PREFIX = '10.77';
const BRIDGE_HOST = 254;
/** Ids whose address is 10.77.K.id: the root namespace's is .254. */
const NODE_ID_MAX = 253;
/** A cluster's /24 is picked among 10.77.1.0 … 10.77.250.0. */
const SUBNETS = 250;
/** One `ip`/`tc` command. */
const COMMAND_TIMEOUT_MS = 10_000;
/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). */
const IFNAME_LENGTH_MAX = 15;

export const netnsFile = (dir: string): string => join(dir, 'netns.json');

export interface NetnsNode {
  readonly id: NodeId;
  readonly ns: string;
  /** Root-namespace end of the pair, a port of the bridge. */
  readonly hostVeth: string;
  /** The node's interface inside its namespace. */
  readonly nsVeth: string;
  readonly addr: string;
}

export interface NetnsState {
  readonly tag: string;
  /** The K of 10.77.K.0/24. */
  readonly subnet: number;
  readonly bridge: string;
  readonly hostAddr: string;
  readonly nodes: readonly NetnsNode[];
  /** How a one-way cut is made: a tc filter on the sender's Raft connections, or a route (see the module). */
  readonly oneWay: 'tc' | 'route';
}

/** NETNS_UNAVAILABLE unless this process may create namespaces: root, and `ip` (iproute2) on the PATH. */
export function requireNetns(): void {
  if (process.getuid?.() !== 0) {
    throw new CliError(
      'NETNS_UNAVAILABLE',
      '--netns needs root (it creates network namespaces, a bridge and veth pairs); run it as root, or leave out --netns to use the in-process fault rules',
    );
  }
  const probe = spawnSync('ip', ['-V'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new CliError(
      'NETNS_UNAVAILABLE',
      '--netns needs the `ip` command (iproute2), which was not found on the PATH; install iproute2, or leave out --netns',
    );
  }
}

export function readNetns(dir: string): NetnsState | undefined {
  const file = netnsFile(dir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as NetnsState;
  } catch (err) {
    throw new CliError('CLUSTER_FAILED', `${file} is not valid JSON`, { cause: err });
  }
}

function writeNetns(dir: string, state: NetnsState): void {
  const file = netnsFile(dir);
  writeSecretFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/**
 * The names and addresses of a new netns cluster of `ids` in folder `dir` (see the module comment): the /24 is
 * the first from the tag's own that no address or route of this machine overlaps. Nothing is created.
 */
export function planNetns(dir: string, name: string, ids: readonly NodeId[]): NetnsState {
  const tag = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 6);
  const taken = takenNetworks();
  const first = Number.parseInt(tag.slice(0, 4), 16) % SUBNETS;
  let subnet: number | undefined;
  for (let i = 0; i < SUBNETS && subnet === undefined; i++) {
    const k = ((first + i) % SUBNETS) + 1;
    if (!taken.some((net) => overlaps(net, cidr(`${PREFIX}.${k}.0/24`)))) subnet = k;
  }
  if (subnet === undefined) {
    throw new CliError('NETNS_FAILED', `every /24 of ${PREFIX}.0.0/16 overlaps an address or route of this machine`);
  }
  const shortName = name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 24);
  const nodes = ids.map((id): NetnsNode => {
    if (!Number.isInteger(id) || id < 1 || id > NODE_ID_MAX) throw new Error(`netns node id ${id} out of range`);
    return {
      id,
      ns: `kalam-${shortName}-${tag}-n${id}`,
      hostVeth: `kv${tag}h${id}`,
      nsVeth: `kv${tag}n${id}`,
      addr: `${PREFIX}.${subnet}.${id}`,
    };
  });
  for (const n of nodes) {
    if (n.hostVeth.length > IFNAME_LENGTH_MAX || n.nsVeth.length > IFNAME_LENGTH_MAX) {
      throw new Error(`interface name ${n.hostVeth} longer than ${IFNAME_LENGTH_MAX}`);
    }
  }
  return { tag, subnet, bridge: `kb${tag}`, hostAddr: `${PREFIX}.${subnet}.${BRIDGE_HOST}`, nodes, oneWay: 'tc' };
}

/**
 * Records `state` in netns.json, then creates the bridge, the namespaces and the veth pairs (anything of the
 * same names left by a crashed run is removed first). A failure removes what was created and throws
 * NETNS_FAILED with the command that failed. Answers the state as recorded (oneWay "route" when the kernel
 * lacks what a tc cut needs).
 */
export function setUpNetns(dir: string, state: NetnsState): NetnsState {
  writeNetns(dir, state);
  tearDownNetns(state);
  const clash = takenNetworks().find((net) => overlaps(net, cidr(`${PREFIX}.${state.subnet}.0/24`)));
  if (clash !== undefined) {
    throw new CliError(
      'NETNS_FAILED',
      `${PREFIX}.${state.subnet}.0/24 of this cluster now overlaps ${clash.text} on this machine; remove the cluster with \`kalam cluster down --wipe\` and start a new one`,
    );
  }
  try {
    ip('link', 'add', state.bridge, 'type', 'bridge');
    ip('addr', 'add', `${state.hostAddr}/24`, 'dev', state.bridge);
    ip('link', 'set', state.bridge, 'up');
    // Two clusters planning at the same moment could pick the same /24: the later one sees the other's route.
    const routes = run('ip', ['-4', 'route', 'show', `${PREFIX}.${state.subnet}.0/24`])
      .stdout.trim()
      .split('\n');
    const other = routes.find((line) => line !== '' && !line.includes(`dev ${state.bridge} `));
    if (other !== undefined) {
      throw new CliError(
        'NETNS_FAILED',
        `${PREFIX}.${state.subnet}.0/24 is also routed elsewhere (${other}); run up again`,
      );
    }
    for (const n of state.nodes) {
      ip('netns', 'add', n.ns);
      ip('link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', n.nsVeth);
      ip('link', 'set', n.nsVeth, 'netns', n.ns);
      ip('link', 'set', n.hostVeth, 'master', state.bridge);
      ip('link', 'set', n.hostVeth, 'up');
      ip('-n', n.ns, 'link', 'set', 'lo', 'up');
      ip('-n', n.ns, 'addr', 'add', `${n.addr}/24`, 'dev', n.nsVeth);
      ip('-n', n.ns, 'link', 'set', n.nsVeth, 'up');
    }
  } catch (err) {
    tearDownNetns(state);
    throw err;
  }
  const oneWay = state.nodes.every((n) => addDropClass(n)) ? 'tc' : 'route';
  if (oneWay === 'route') for (const n of state.nodes) run('tc', ['-n', n.ns, 'qdisc', 'del', 'dev', n.nsVeth, 'root']);
  const recorded = { ...state, oneWay } as const;
  writeNetns(dir, recorded);
  return recorded;
}

/** htb at the root of the node's interface (unclassified packets pass unshaped) with a blackhole class 1:1. */
function addDropClass(n: NetnsNode): boolean {
  const dev = ['dev', n.nsVeth];
  return (
    run('tc', ['-n', n.ns, 'qdisc', 'add', ...dev, 'root', 'handle', '1:', 'htb']).ok &&
    run('tc', ['-n', n.ns, 'class', 'add', ...dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '1gbit']).ok &&
    run('tc', ['-n', n.ns, 'qdisc', 'add', ...dev, 'parent', '1:1', 'handle', '10:', 'blackhole']).ok
  );
}

/**
 * Removes what `state` names and still exists (root-side veths, namespaces, the bridge); answers what could not
 * be removed, one line each (empty: nothing is left). Safe to call again, and when nothing was ever created.
 */
export function tearDownNetns(state: NetnsState): string[] {
  const problems: string[] = [];
  const links = new Set(linkNames());
  const spaces = new Set(namespaceNames());
  const del = (what: string, args: string[]): void => {
    const r = run('ip', args);
    if (!r.ok) problems.push(`${what}: ${r.stderr}`);
  };
  for (const n of state.nodes) {
    if (links.has(n.hostVeth)) del(`veth ${n.hostVeth}`, ['link', 'del', n.hostVeth]);
    if (spaces.has(n.ns)) del(`namespace ${n.ns}`, ['netns', 'del', n.ns]);
  }
  if (links.has(state.bridge)) del(`bridge ${state.bridge}`, ['link', 'del', state.bridge]);
  return problems;
}

/** The names of `state` that exist right now: namespaces and root-namespace interfaces. */
export function netnsLeftovers(state: NetnsState): string[] {
  const links = new Set(linkNames());
  const spaces = new Set(namespaceNames());
  return [
    ...state.nodes.filter((n) => spaces.has(n.ns)).map((n) => `namespace ${n.ns}`),
    ...state.nodes.filter((n) => links.has(n.hostVeth)).map((n) => `veth ${n.hostVeth}`),
    ...(links.has(state.bridge) ? [`bridge ${state.bridge}`] : []),
  ];
}

/** `ip netns exec NS FILE ARGS…`: ip execs FILE in place, so the process it starts keeps its pid. */
export function commandInNetns(
  state: NetnsState,
  id: NodeId,
  file: string,
  args: readonly string[],
): { file: string; args: string[] } {
  return { file: 'ip', args: ['netns', 'exec', netnsNode(state, id).ns, file, ...args] };
}

export function netnsNode(state: NetnsState, id: NodeId): NetnsNode {
  const node = state.nodes.find((n) => n.id === id);
  if (node === undefined) throw new CliError('UNKNOWN_NODE', `node ${id} has no network namespace in this cluster`);
  return node;
}

/** One cut: nothing of `from`'s reaches `to` (`both`: and the reverse) — see the module comment. */
export interface NetnsCut {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly both: boolean;
  /** `to`'s Raft port: the one-way cut drops what `from` sends there. */
  readonly toRpcPort: number;
}

export function cutNetns(state: NetnsState, cut: NetnsCut): void {
  const from = netnsNode(state, cut.from);
  const to = netnsNode(state, cut.to);
  if (cut.both || state.oneWay === 'route') {
    ip('-n', from.ns, 'route', 'replace', 'blackhole', `${to.addr}/32`);
    if (cut.both) ip('-n', to.ns, 'route', 'replace', 'blackhole', `${from.addr}/32`);
    return;
  }
  // One filter per (sender, receiver): its priority is the receiver's id, so a heal can remove it alone.
  if (filterPrios(from).includes(to.id)) {
    tc('-n', from.ns, 'filter', 'del', 'dev', from.nsVeth, 'parent', '1:', 'prio', String(to.id));
  }
  tc(
    '-n',
    from.ns,
    'filter',
    'add',
    'dev',
    from.nsVeth,
    'parent',
    '1:',
    'protocol',
    'ip',
    'prio',
    String(to.id),
    'u32',
    'match',
    'ip',
    'dst',
    `${to.addr}/32`,
    'match',
    'ip',
    'dport',
    String(cut.toRpcPort),
    '0xffff',
    'flowid',
    '1:1',
  );
}

/**
 * Removes every cut between `id` and the other nodes (in its namespace, and toward it in theirs), or every cut of
 * the cluster when `id` is undefined. `only`: just the cuts between `id` and those nodes (a new partition rule
 * replaces what was between the same two nodes, as the in-process rules do).
 */
export function healNetns(state: NetnsState, id?: NodeId, only?: readonly NodeId[]): void {
  const target = id === undefined ? undefined : netnsNode(state, id);
  const paired = (a: NetnsNode, b: NetnsNode): boolean => {
    if (target === undefined) return true;
    const other = a.id === target.id ? b : b.id === target.id ? a : undefined;
    return other !== undefined && (only === undefined || only.includes(other.id));
  };
  for (const n of state.nodes) {
    for (const dst of blackholes(n)) {
      const peer = state.nodes.find((p) => p.addr === dst);
      if (peer === undefined ? target === undefined : paired(n, peer))
        ip('-n', n.ns, 'route', 'del', 'blackhole', `${dst}/32`);
    }
    if (state.oneWay !== 'tc') continue;
    for (const prio of filterPrios(n)) {
      const peer = state.nodes.find((p) => p.id === prio);
      if (peer === undefined ? target === undefined : paired(n, peer)) {
        tc('-n', n.ns, 'filter', 'del', 'dev', n.nsVeth, 'parent', '1:', 'prio', String(prio));
      }
    }
  }
}

/** The cuts in force from node `id`, one short line each (for `cluster status`). */
export function netnsFaults(state: NetnsState, id: NodeId): string[] {
  const n = netnsNode(state, id);
  const peerOf = (addr: string): string => {
    const peer = state.nodes.find((p) => p.addr === addr);
    return peer === undefined ? addr : `node ${peer.id}`;
  };
  const lines = blackholes(n).map((addr) => `netns: no route to ${peerOf(addr)}`);
  if (state.oneWay === 'tc') {
    for (const prio of filterPrios(n)) lines.push(`netns: Raft packets to node ${prio} dropped`);
  }
  return lines;
}

function blackholes(n: NetnsNode): string[] {
  const r = run('ip', ['-n', n.ns, '-4', 'route', 'show', 'type', 'blackhole']);
  if (!r.ok) return [];
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[1])
    .filter((addr): addr is string => addr !== undefined && addr !== '')
    .map((addr) => addr.replace(/\/32$/, ''));
}

function filterPrios(n: NetnsNode): number[] {
  const r = run('tc', ['-n', n.ns, 'filter', 'show', 'dev', n.nsVeth, 'parent', '1:']);
  if (!r.ok) return [];
  const prios = new Set<number>();
  for (const m of r.stdout.matchAll(/\bpref (\d+) u32/g)) prios.add(Number(m[1]));
  return [...prios];
}

function linkNames(): string[] {
  const r = run('ip', ['-o', 'link', 'show']);
  // "7: kvab12cdh1@if6: <BROADCAST,…>": the name, without the peer suffix.
  return r.stdout.split('\n').flatMap((line) => {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    return name === undefined ? [] : [name];
  });
}

function namespaceNames(): string[] {
  const r = run('ip', ['netns', 'list']);
  return r.stdout.split('\n').flatMap((line) => {
    const name = line.trim().split(/\s+/)[0];
    return name === undefined || name === '' ? [] : [name];
  });
}

interface Network {
  readonly base: number;
  readonly bits: number;
  readonly text: string;
}

function cidr(text: string): Network {
  const [addr = '', bitsText = '32'] = text.split('/');
  const parts = addr.split('.').map(Number);
  const base = parts.reduce((acc, p) => acc * 256 + p, 0);
  return { base, bits: Number(bitsText), text };
}

function overlaps(a: Network, b: Network): boolean {
  const bits = Math.min(a.bits, b.bits);
  const size = 2 ** (32 - bits);
  return Math.floor(a.base / size) === Math.floor(b.base / size);
}

/** Every IPv4 address and route destination of the root namespace, default routes left out. */
function takenNetworks(): Network[] {
  const found: Network[] = [];
  const isV4 = (s: string): boolean => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(s);
  for (const line of run('ip', ['-4', '-o', 'addr', 'show']).stdout.split('\n')) {
    const addr = line.trim().split(/\s+/)[3];
    if (addr !== undefined && isV4(addr)) found.push(cidr(addr));
  }
  for (const line of run('ip', ['-4', 'route', 'show', 'table', 'all']).stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    const dst = words.find((w) => w === 'default' || isV4(w));
    if (dst !== undefined && dst !== 'default') found.push(cidr(dst));
  }
  return found.filter((n) => n.bits > 0);
}

function ip(...args: string[]): void {
  command('ip', args);
}

function tc(...args: string[]): void {
  command('tc', args);
}

/** Runs a command that must succeed: NETNS_FAILED with the command line and its stderr otherwise. */
function command(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString('utf8').trim() ?? '';
    throw new CliError('NETNS_FAILED', `\`${file} ${args.join(' ')}\` failed: ${stderr || String(err)}`, {
      cause: err,
    });
  }
}

function run(file: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  return { ok: r.error === undefined && r.status === 0, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').trim() };
}
