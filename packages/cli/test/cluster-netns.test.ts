/**
 * `kalam cluster up --netns` end to end (root only: skipped with a message otherwise): each node runs in its own
 * network namespace with its own 10.77.K.I address, the pid the supervisor tracks is the node's own and lives in
 * that namespace; `node partition` cuts real paths — both ways no TCP connection passes between the two
 * namespaces, one way (`--direction in`) the peers' connections to the node's Raft port are dropped while the
 * node's own still connect — and `heal` restores them, while the root namespace reaches every node throughout;
 * kill/start keep working. Nothing is left behind, compared with `ip netns list` and `ip link` taken before: after
 * `cluster down`, after a SIGKILLed supervisor followed by `cluster down` (by the names netns.json recorded), after
 * a SIGTERMed supervisor, and after an `up` whose nodes cannot start. A user other than root gets one line and
 * exit 2, and nothing is written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { upCluster } from '../src/cluster/control.js';
import { readNetns, tearDownNetns } from '../src/cluster/netns.js';
import type { NetnsState } from '../src/cluster/netns.js';
import type { ClusterStatus } from '../src/cluster/types.js';
import type { Run } from './support/cli-process.js';
import { alive, pidsOf, runKalam, supervisorInfo, tempCluster, waitUntil } from './support/cli-process.js';

const kalam = fileURLToPath(new URL('../../../../bin/kalam', import.meta.url));
const COMMAND_TIMEOUT_MS = 240_000;
const EXIT_BOUND_MS = 30_000;
/** A TCP connect that gets no answer is given this long before it counts as dropped. */
const CONNECT_TIMEOUT_MS = 1_500;

const run = (args: readonly string[]): Promise<Run> => runKalam(args, COMMAND_TIMEOUT_MS);

const skip =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces); run the suite as root to test --netns'
    : spawnSync('ip', ['-V']).status !== 0
      ? 'needs the ip command (iproute2)'
      : false;

/** Namespaces and root-namespace interfaces right now, sorted (what a cluster must leave as it found it). */
function networkNames(): string[] {
  const spaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n');
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n');
  return [
    ...spaces.flatMap((l) => (l.trim() === '' ? [] : [`netns ${l.trim().split(/\s+/)[0]}`])),
    ...links.flatMap((l) => {
      const name = /^\d+:\s+([^:@\s]+)/.exec(l)?.[1];
      return name === undefined ? [] : [`link ${name}`];
    }),
  ].sort();
}

/** `connected`, `refused`, `timeout` or `error CODE`: a TCP connect to host:port from inside namespace `ns`. */
function connectFrom(ns: string, hostPort: string): string {
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), hostPort.slice(hostPort.lastIndexOf(':') + 1)];
  const script = `
    const s = require('node:net').connect(${Number(port)}, ${JSON.stringify(host)});
    const done = (what) => { console.log(what); process.exit(0); };
    s.on('connect', () => done('connected'));
    s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error ' + e.code));
    setTimeout(() => done('timeout'), ${CONNECT_TIMEOUT_MS});`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: CONNECT_TIMEOUT_MS * 4,
  });
  return r.stdout.trim() || `no answer (${r.stderr.trim()})`;
}

async function status(dir: string): Promise<ClusterStatus> {
  const r = await run(['cluster', 'status', '--json', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ClusterStatus;
}

function nsOf(netns: NetnsState, id: number): string {
  const node = netns.nodes.find((n) => n.id === id);
  assert.ok(node !== undefined, `node ${id} in netns.json`);
  return node.ns;
}

test('--netns: one namespace per node, real cuts, and nothing left after down or a crash', { skip }, async (t) => {
  const { dir, track } = tempCluster(t, 'netns');
  const before = networkNames();
  t.after(() => {
    // A failed assertion must not leave namespaces behind for the next test or run (after the processes are reaped).
    const netns = readNetns(dir);
    if (netns !== undefined) tearDownNetns(netns);
  });

  const up = await run(['cluster', 'up', '--netns', '--nodes', '3', '--dir', dir, '--json']);
  assert.equal(up.code, 0, up.stderr);
  const s0 = JSON.parse(up.stdout) as ClusterStatus;
  track(pidsOf(s0));
  const netns = readNetns(dir);
  assert.ok(netns !== undefined, 'netns.json written');
  const hosts = s0.nodes.map((n) => new URL(n.apiUrl).hostname);
  assert.equal(new Set(hosts).size, 3, `distinct addresses: ${hosts.join(', ')}`);
  for (const h of hosts) assert.match(h, new RegExp(`^10\\.77\\.${netns.subnet}\\.\\d+$`));
  for (const n of s0.nodes) {
    assert.equal(n.state, 'up');
    assert.ok(n.pid !== null);
    // The tracked pid is the node itself (ip netns exec execs in place), inside its own namespace.
    const inode = statSync(`/proc/${n.pid}/ns/net`).ino;
    assert.equal(inode, statSync(join('/run/netns', nsOf(netns, n.id))).ino, `node ${n.id}'s namespace`);
    assert.ok(statSync(`/proc/${n.pid}/ns/net`).ino !== statSync('/proc/self/ns/net').ino);
  }
  const rpc = (id: number): string => s0.nodes.find((n) => n.id === id)?.rpcAddr ?? '';
  const api = (id: number): string => new URL(s0.nodes.find((n) => n.id === id)?.apiUrl ?? '').host;
  assert.equal(connectFrom(nsOf(netns, 2), rpc(1)), 'connected', 'node 2 reaches node 1 before any cut');

  // Both ways: nothing between node 1 and the others, in either direction; the root namespace still reaches it.
  assert.equal((await run(['node', 'partition', '1', '--dir', dir])).code, 0);
  assert.notEqual(connectFrom(nsOf(netns, 2), rpc(1)), 'connected');
  assert.notEqual(connectFrom(nsOf(netns, 1), api(3)), 'connected');
  assert.equal(connectFrom(nsOf(netns, 2), rpc(3)), 'connected', 'nodes 2 and 3 are not cut from each other');
  const cut = await status(dir);
  assert.ok(cut.nodes.find((n) => n.id === 1)?.faults.some((f) => f.includes('no route to node 2')));
  assert.equal((await run(['node', 'heal', '--dir', dir])).code, 0);
  assert.equal(connectFrom(nsOf(netns, 2), rpc(1)), 'connected', 'healed');

  // One way, in: the others' connections to node 1's Raft port are dropped; node 1's own to them still connect.
  assert.equal((await run(['node', 'partition', '1', '--direction', 'in', '--dir', dir])).code, 0);
  if (netns.oneWay === 'tc') {
    assert.equal(connectFrom(nsOf(netns, 3), rpc(1)), 'timeout');
    assert.equal(connectFrom(nsOf(netns, 1), rpc(3)), 'connected');
    assert.equal(connectFrom(nsOf(netns, 3), api(1)), 'connected', 'only the Raft port is cut');
  } else {
    assert.notEqual(connectFrom(nsOf(netns, 3), rpc(1)), 'connected');
  }
  assert.equal((await run(['node', 'heal', '1', '--dir', dir])).code, 0);
  assert.equal(connectFrom(nsOf(netns, 3), rpc(1)), 'connected', 'healed');

  // Process control by pid still works inside the namespaces.
  assert.equal((await run(['node', 'kill', '2', '--dir', dir])).code, 0);
  assert.equal((await run(['node', 'start', '2', '--dir', dir])).code, 0);
  const s1 = await status(dir);
  track(pidsOf(s1));
  assert.equal(s1.nodes.find((n) => n.id === 2)?.state, 'up');

  const down = await run(['cluster', 'down', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(networkNames(), before, 'down leaves no namespace, bridge or veth');

  // A crashed supervisor (SIGKILL) cannot clean: its nodes exit, the namespaces stay until `cluster down`.
  const again = await run(['cluster', 'up', '--netns', '--nodes', '3', '--dir', dir, '--json']);
  assert.equal(again.code, 0, again.stderr);
  const s2 = JSON.parse(again.stdout) as ClusterStatus;
  track(pidsOf(s2));
  process.kill(s2.supervisorPid, 'SIGKILL');
  await waitUntil('every process gone after the supervisor was killed', EXIT_BOUND_MS, () =>
    pidsOf(s2).every((p) => !alive(p)),
  );
  assert.notDeepEqual(networkNames(), before, 'the namespaces outlive a killed supervisor');
  const clean = await run(['cluster', 'down', '--dir', dir]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stderr, /removed \d+ leftover network namespaces/);
  assert.deepEqual(networkNames(), before, 'cluster down removes what a crashed supervisor left');

  // SIGTERM (or Ctrl-C) to the supervisor is a down: it removes the namespaces itself.
  const third = await run(['cluster', 'up', '--netns', '--nodes', '3', '--dir', dir, '--json']);
  assert.equal(third.code, 0, third.stderr);
  const s3 = JSON.parse(third.stdout) as ClusterStatus;
  track(pidsOf(s3));
  process.kill(s3.supervisorPid, 'SIGTERM');
  await waitUntil('the supervisor gone after SIGTERM', EXIT_BOUND_MS, () => pidsOf(s3).every((p) => !alive(p)));
  assert.equal(supervisorInfo(dir), undefined);
  assert.deepEqual(networkNames(), before, 'a SIGTERMed supervisor removes its namespaces');
});

test('--netns: an up whose nodes cannot start removes what it created', { skip }, async (t) => {
  const { dir } = tempCluster(t, 'netns-fail');
  const before = networkNames();
  t.after(() => {
    const netns = readNetns(dir);
    if (netns !== undefined) tearDownNetns(netns);
  });
  // An option `kalam serve` does not know: every node exits at once, so `up` fails and brings the cluster down.
  await assert.rejects(
    upCluster({ nodes: 3, dir, netns: true, nodeArgs: ['--no-such-option'] }),
    (err: Error & { code?: string }) => err.code === 'CLUSTER_FAILED' || err.code === 'CLUSTER_TIMEOUT',
  );
  assert.ok(existsSync(join(dir, 'netns.json')), 'the names were recorded');
  assert.deepEqual(networkNames(), before, 'a failed up leaves no namespace, bridge or veth');
});

test('--netns without root: one line, exit 2, nothing written', (t) => {
  const { dir } = tempCluster(t, 'netns-user');
  // As root the command runs as nobody (uid 65534); as anyone else, as that user.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const r = spawnSync(process.execPath, [kalam, 'cluster', 'up', '--netns', '--nodes', '3', '--dir', dir], {
    encoding: 'utf8',
    ...asUser,
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--netns needs root/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.equal(existsSync(dir), false);
});
