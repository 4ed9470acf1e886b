/**
 * `kalam cluster` and `kalam node` end to end through bin/kalam, with real supervisor and node processes in a
 * temp --dir on ports free at run time: up → 3 nodes up and 36 groups with a leader; up again is refused; kill
 * → the node shows down and every group has a leader again (a liveness bound, the time seen is reported);
 * start brings it back; partition/heal and disk change what the nodes' admin endpoint reports; STOP/CONT,
 * restart, wipe refused while running; down keeps the folder and up restarts the same cluster; down --wipe
 * leaves no process and no folder; the programmatic upCluster passes extra environment to the nodes, and the nodes
 * get glibc's malloc settings (NODE_MALLOC_ENV); heal works with no quorum anywhere; a SIGKILLed supervisor takes its
 * nodes with it; a port in use is one line and nothing starts. Every process is reaped by pid in t.after, on failure
 * too.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import { NODE_MALLOC_ENV } from '@kalam/server';

import { connectCluster, upCluster } from '../src/cluster/control.js';
import { findFreeBasePort } from '../src/cluster/folder.js';
import type { ClusterCredentials, ClusterStatus } from '../src/cluster/types.js';
import type { Run } from './support/cli-process.js';
import { alive, pidsOf, runKalam, tempCluster, waitUntil } from './support/cli-process.js';

/** Generous: the machine is shared. */
const COMMAND_TIMEOUT_MS = 240_000;
const FAILOVER_BOUND_MS = 15_000;
const EXIT_BOUND_MS = 30_000;

const run = (args: readonly string[]): Promise<Run> => runKalam(args, COMMAND_TIMEOUT_MS);

async function status(dir: string): Promise<ClusterStatus> {
  const r = await run(['cluster', 'status', '--json', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ClusterStatus;
}

/**
 * A root token (login with the password of credentials.json). Taken while the cluster is whole: a login writes
 * meta:users, which a partitioned node may not reach, while a Bearer check of root is local to each node.
 */
async function rootToken(dir: string, apiUrl: string): Promise<string> {
  const creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as ClusterCredentials;
  const res = await fetch(`${apiUrl}/v1/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: creds.user, password: creds.password }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** GET an admin endpoint of a node with a root token. */
async function admin(token: string, apiUrl: string, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${apiUrl}${path}`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, `${apiUrl}${path}`);
  return (await res.json()) as Record<string, unknown>;
}

function oneLine(text: string): void {
  assert.equal(text.trim().split('\n').length, 1, `one line: ${text}`);
  assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
}

test('up, status, kill, start, partition, heal, disk, digests, down --wipe', async (t) => {
  const { dir, track } = tempCluster(t, 'life');
  const base = await findFreeBasePort(3);

  const up = await run(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base), '--json']);
  assert.equal(up.code, 0, up.stderr);
  const first = JSON.parse(up.stdout) as ClusterStatus;
  track(pidsOf(first));
  assert.deepEqual(
    first.nodes.map((n) => [n.id, n.state, n.apiUrl]),
    [1, 2, 3].map((id) => [id, 'up', `http://127.0.0.1:${base + id - 1}`]),
  );
  assert.equal(first.groups.length, 36);
  assert.ok(
    first.groups.every((g) => g.leader !== null),
    'every group has a leader once up returns',
  );
  for (const file of ['cluster.json', 'credentials.json', 'supervisor.json', 'nodes/node1.toml']) {
    assert.equal(readFileSync(join(dir, file)).length > 0, true);
    assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, `${file} is 0600`);
  }

  const watch = await run(['cluster', 'status', '--watch', '--frames', '2', '--dir', dir]);
  assert.equal(watch.code, 0, watch.stderr);
  assert.equal(watch.stdout.match(/^cluster c — 3\/3 nodes up, 36\/36 groups with a leader/gm)?.length, 2);

  const again = await run(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base)]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already running/);

  const killed = Date.now();
  const kill = await run(['node', 'kill', '2', '--dir', dir]);
  assert.equal(kill.code, 0, kill.stderr);
  let afterKill: ClusterStatus | undefined;
  await waitUntil('node 2 down and every group with a leader', FAILOVER_BOUND_MS, async () => {
    afterKill = await status(dir);
    const two = afterKill.nodes.find((n) => n.id === 2);
    return two?.state === 'down' && afterKill.groups.every((g) => g.leader !== null && g.leader !== 2);
  });
  t.diagnostic(`node 2 down and every group led again ${Date.now() - killed} ms after \`node kill 2\` started`);
  const two = afterKill?.nodes.find((n) => n.id === 2);
  assert.equal(two?.pid, null);
  assert.equal(two?.lastExit, 'signal SIGKILL');
  assert.equal(afterKill?.leadersPerNode['2'], 0);

  assert.equal((await run(['node', 'kill', '2', '--dir', dir])).code, 2, 'a down node cannot be killed');
  const unknown = await run(['node', 'kill', '7', '--dir', dir]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no node 7/);
  oneLine(unknown.stderr);

  const start = await run(['node', 'start', '2', '--dir', dir]);
  assert.equal(start.code, 0, start.stderr);
  const back = await status(dir);
  track(pidsOf(back));
  assert.equal(back.nodes.find((n) => n.id === 2)?.state, 'up');
  assert.equal((await run(['node', 'start', '2', '--dir', dir])).code, 2, 'start of a running node');

  const api = (id: number): string => `http://127.0.0.1:${base + id - 1}`;
  const token = await rootToken(dir, api(1));
  const partition = await run(['node', 'partition', '3', '--from', '1', '--dir', dir]);
  assert.equal(partition.code, 0, partition.stderr);
  assert.deepEqual((await admin(token, api(3), '/v1/api/admin/faults'))['faults'], [
    { peer: 1, rule: { blockOutbound: true, blockInbound: true } },
  ]);
  assert.deepEqual((await admin(token, api(1), '/v1/api/admin/faults'))['faults'], [
    { peer: 3, rule: { blockOutbound: true, blockInbound: true } },
  ]);
  assert.deepEqual((await admin(token, api(2), '/v1/api/admin/faults'))['faults'], []);
  const shown = await status(dir);
  assert.deepEqual(shown.nodes.find((n) => n.id === 3)?.faults, ['peer 1: block in+out']);

  assert.equal((await run(['node', 'heal', '--dir', dir])).code, 0);
  for (const id of [1, 2, 3]) assert.deepEqual((await admin(token, api(id), '/v1/api/admin/faults'))['faults'], []);

  assert.equal((await run(['node', 'disk', '1', '--fsync-delay-ms', '15', '--dir', dir])).code, 0);
  assert.equal((await admin(token, api(1), '/v1/api/admin/faults'))['fsync_delay_ms'], 15);
  assert.equal((await run(['node', 'disk', '1', '--fsync-delay-ms', '0', '--dir', dir])).code, 0);

  // The programmatic API the drills use, in this process.
  const controller = await connectCluster({ dir });
  const digests = await controller.digests(1);
  assert.equal(Object.keys(digests).length, 36);
  assert.match(digests['meta:system']?.digest ?? '', /^[0-9a-f]{64}$/);
  await controller.network(2, { dropRate: 0.1, delayMs: 5 }, [3]);
  assert.deepEqual((await admin(token, api(3), '/v1/api/admin/faults'))['faults'], [
    { peer: 2, rule: { dropRate: 0.1, delayMs: 5 } },
  ]);
  await controller.heal(2);
  assert.deepEqual((await admin(token, api(3), '/v1/api/admin/faults'))['faults'], []);

  // Pause and resume; wipe only when down; restart gives a new process.
  assert.equal((await run(['node', 'kill', '3', '--signal', 'STOP', '--dir', dir])).code, 0);
  assert.equal((await status(dir)).nodes.find((n) => n.id === 3)?.state, 'paused');
  assert.equal((await run(['node', 'kill', '3', '--signal', 'CONT', '--dir', dir])).code, 0);
  assert.equal((await status(dir)).nodes.find((n) => n.id === 3)?.state, 'up');
  const busy = await run(['node', 'wipe', '3', '--dir', dir]);
  assert.equal(busy.code, 2);
  oneLine(busy.stderr);
  const before = (await status(dir)).nodes.find((n) => n.id === 3)?.pid;
  const restart = await run(['node', 'restart', '3', '--dir', dir]);
  assert.equal(restart.code, 0, restart.stderr);
  const restarted = await status(dir);
  track(pidsOf(restarted));
  const now3 = restarted.nodes.find((n) => n.id === 3);
  assert.equal(now3?.state, 'up');
  assert.notEqual(now3?.pid, before);

  // down without --wipe keeps the folder; up again restarts the same cluster from its data.
  const running = pidsOf(restarted);
  const stop = await run(['cluster', 'down', '--dir', dir]);
  assert.equal(stop.code, 0, stop.stderr);
  await waitUntil('every process gone after down', EXIT_BOUND_MS, () => running.every((p) => !alive(p)));
  assert.equal(existsSync(join(dir, 'supervisor.json')), false);
  assert.equal(existsSync(join(dir, 'cluster.json')), true);
  const reup = await run(['cluster', 'up', '--nodes', '3', '--dir', dir, '--json']);
  assert.equal(reup.code, 0, reup.stderr);
  const second = JSON.parse(reup.stdout) as ClusterStatus;
  track(pidsOf(second));
  assert.ok(
    second.groups.every((g) => g.leader !== null && g.term > 1),
    'the same cluster, at later terms',
  );

  const logs = await run(['node', 'logs', '2', '--dir', dir]);
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /"event":"ready"/);

  const pids = pidsOf(await status(dir));
  const down = await run(['cluster', 'down', '--wipe', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(dir), false, 'the folder is gone');
  await waitUntil('every process gone', EXIT_BOUND_MS, () => pids.every((p) => !alive(p)));
  const after = await run(['cluster', 'status', '--dir', dir]);
  assert.equal(after.code, 2);
  oneLine(after.stderr);
});

test('programmatic: env reaches the nodes; heal works without a quorum; a SIGKILLed supervisor takes every node with it', async (t) => {
  const { dir, track } = tempCluster(t, 'orphans');
  const base = await findFreeBasePort(3);
  const progress: string[] = [];
  const controller = await upCluster({
    nodes: 3,
    dir,
    basePort: base,
    env: { KALAM_DRILL_MARKER: 'on' },
    onProgress: (line) => progress.push(line),
  });
  const s = await controller.status();
  track(pidsOf(s));
  assert.match(progress.at(-1) ?? '', /3\/3 nodes up, 36\/36 groups with a leader/);
  const nodes = s.nodes.map((n) => n.pid).filter((p): p is number => p !== null);
  assert.equal(nodes.length, 3);
  if (existsSync(`/proc/${nodes[0]}/environ`)) {
    const environ = readFileSync(`/proc/${nodes[0]}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('KALAM_DRILL_MARKER=on'), 'the extra environment reaches the node');
    // glibc's malloc as the supervisor sets it for its nodes (NODE_MALLOC_ENV), unless this process set it itself.
    const threshold = process.env['MALLOC_MMAP_THRESHOLD_'] ?? NODE_MALLOC_ENV['MALLOC_MMAP_THRESHOLD_'];
    assert.ok(environ.includes(`MALLOC_MMAP_THRESHOLD_=${threshold}`), 'the node gets the malloc settings');
  }

  // Node 1 down and 2 ↔ 3 cut: no group has a quorum, and no login could succeed; heal must still work.
  await controller.kill(1);
  await controller.partition(3, { from: [2] });
  await controller.heal();
  const healed = await waitUntil('every group led by 2 or 3', FAILOVER_BOUND_MS, async () =>
    (await controller.status()).groups.every((g) => g.leader === 2 || g.leader === 3),
  );
  t.diagnostic(`every group led again ${healed} ms after heal`);
  for (const id of [2, 3]) assert.deepEqual((await controller.status()).nodes.find((n) => n.id === id)?.faults, []);

  process.kill(s.supervisorPid, 'SIGKILL');
  const alive3 = nodes.filter((p) => alive(p));
  const ms = await waitUntil('every node exits', EXIT_BOUND_MS, () => alive3.every((p) => !alive(p)));
  t.diagnostic(`all nodes gone ${ms} ms after the supervisor's SIGKILL`);
  await assert.rejects(controller.status(), { code: 'CLUSTER_NOT_RUNNING' });
  const st = await run(['cluster', 'status', '--dir', dir]);
  assert.equal(st.code, 2);
  assert.match(st.stderr, /supervisor .* is gone/);
  oneLine(st.stderr);
  const down = await run(['cluster', 'down', '--wipe', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(dir), false);
});

test('a port in use: one line naming it, exit 2, nothing started or written', async (t) => {
  const { dir } = tempCluster(t, 'port');
  const base = await findFreeBasePort(3);
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(base + 101, '127.0.0.1', () => resolve()));
  t.after(() => blocker.close());
  const up = await run(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base)]);
  assert.equal(up.code, 2);
  assert.match(up.stderr, new RegExp(`port ${base + 101} \\(node 2's Raft RPC\\) is in use`));
  assert.equal(existsSync(dir), false, 'nothing written');
  const notUp = await run(['node', 'kill', '1', '--dir', dir]);
  assert.equal(notUp.code, 2);
  assert.match(notUp.stderr, /not running/);
  oneLine(notUp.stderr);
});
