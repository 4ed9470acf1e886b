/**
 * `kalam node add|remove|replace` end to end through bin/kalam, with a real supervisor and real node processes in a
 * temp --dir on ports free at run time (issue [M9] §3): a 3-node cluster with rows; `node add --json` gives node 4, a
 * voter of all 36 groups that answers a SELECT of those rows, and the supervisor kills and starts it like any other;
 * removing an unknown node is NODE_NOT_FOUND (exit 2); `node remove 1` leaves no group with node 1, stops it, and
 * it can never be started again; node 2 SIGKILLed and wiped is replaced by node 5; a removal that would leave a
 * group without a live majority is QUORUM_AT_RISK (exit 1); node 3, alive, is replaced by node 6; `cluster down`
 * stops the added nodes too, and `cluster up` on the folder starts the members as they now are. Every process is SIGKILLed by pid in t.after, on failure too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { findFreeBasePort } from '../src/cluster/folder.js';
import type { Run } from './support/cli-process.js';
import { alive, pidsOf, runKalam, tempCluster, waitUntil } from './support/cli-process.js';
import type { ClusterCredentials, ClusterManifest, ClusterStatus } from '../src/cluster/types.js';

/** Generous: a join moves 36 groups one configuration change at a time, on a shared machine. */
const COMMAND_TIMEOUT_MS = 400_000;
const EXIT_BOUND_MS = 30_000;

const run = (args: readonly string[]): Promise<Run> => runKalam(args, COMMAND_TIMEOUT_MS);

async function status(dir: string): Promise<ClusterStatus> {
  const r = await run(['cluster', 'status', '--json', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ClusterStatus;
}

/** One SQL request as root (Basic auth with the password of credentials.json). */
async function sql(dir: string, apiUrl: string, text: string): Promise<{ status: number; rows: unknown[][] }> {
  const creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as ClusterCredentials;
  const res = await fetch(`${apiUrl}/v1/api/sql`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString('base64')}`,
    },
    body: JSON.stringify({ sql: text }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await res.json()) as { results?: { rows?: unknown[][] }[] };
  return { status: res.status, rows: body.results?.at(-1)?.rows ?? [] };
}

/** Every group's voters and learners, as `[voters, learners]` strings (one entry per distinct configuration). */
function configurations(s: ClusterStatus): string[] {
  return [...new Set(s.groups.map((g) => `${g.voters.join(',')}|${g.learners.join(',')}`))];
}

function oneLine(text: string): void {
  assert.equal(text.trim().split('\n').length, 1, `one line: ${text}`);
  assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
}

test('node add, remove and replace on a supervised cluster', async (t) => {
  const { dir, track: trackPids } = tempCluster(t, 'membership');
  const track = (s: ClusterStatus): void => trackPids(pidsOf(s));
  const base = await findFreeBasePort(3);
  const up = await run(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base), '--json']);
  assert.equal(up.code, 0, up.stderr);
  const first = JSON.parse(up.stdout) as ClusterStatus;
  track(first);
  assert.deepEqual(configurations(first), ['1,2,3|'], 'every group: voters 1,2,3, no learner');
  // The member list is seeded by the meta:system leader a membership tick after it is elected, so right after `up`
  // it may not be there yet: wait for it, bounded.
  let seeded = first;
  for (let i = 0; i < 40 && seeded.nodes.some((n) => n.member !== 'voter'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    seeded = await status(dir);
  }
  assert.deepEqual(
    seeded.nodes.map((n) => n.member),
    ['voter', 'voter', 'voter'],
  );
  const api1 = first.nodes[0]?.apiUrl ?? '';
  const ddl = await sql(
    dir,
    api1,
    'CREATE NAMESPACE app; CREATE SHARED TABLE app.kv (id BIGINT PRIMARY KEY, v TEXT); ' +
      "INSERT INTO app.kv (id, v) VALUES (1, 'one'), (2, 'two'), (3, 'three')",
  );
  assert.equal(ddl.status, 200);

  // Add: node 4, a voter of every group, serving the rows written before it joined.
  const add = await run(['node', 'add', '--json', '--dir', dir]);
  assert.equal(add.code, 0, add.stderr);
  const added = JSON.parse(add.stdout) as { id: number; rpc_addr: string; api_addr: string; pid: number };
  assert.equal(added.id, 4);
  assert.match(added.rpc_addr, /^127\.0\.0\.1:\d+$/);
  assert.match(added.api_addr, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(add.stderr, /node 4: voter in 36\/36 groups, learner in 0, member list: voter/, 'progress shown');
  const grown = await status(dir);
  track(grown);
  assert.deepEqual(
    grown.nodes.map((n) => [n.id, n.state, n.member]),
    [
      [1, 'up', 'voter'],
      [2, 'up', 'voter'],
      [3, 'up', 'voter'],
      [4, 'up', 'voter'],
    ],
  );
  assert.equal(grown.nodes[3]?.pid, added.pid);
  assert.deepEqual(configurations(grown), ['1,2,3,4|']);
  assert.deepEqual((await sql(dir, added.api_addr, 'SELECT id, v FROM app.kv ORDER BY id')).rows, [
    [1, 'one'],
    [2, 'two'],
    [3, 'three'],
  ]);
  const manifest = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterManifest;
  assert.deepEqual(
    manifest.nodes.map((n) => [n.id, n.joined === true]),
    [
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ],
  );
  // The supervisor drives it like a founding node.
  assert.equal((await run(['node', 'kill', '4', '--dir', dir])).code, 0);
  assert.equal((await status(dir)).nodes.find((n) => n.id === 4)?.state, 'down');
  assert.equal((await run(['node', 'start', '4', '--dir', dir])).code, 0);
  const restarted = await status(dir);
  track(restarted);
  assert.equal(restarted.nodes.find((n) => n.id === 4)?.state, 'up');
  assert.match((await run(['node', 'logs', '4', '--dir', dir])).stdout, /"event":"node.joined"/);

  // Refusals: an unknown node is a usage error, one line.
  const unknown = await run(['node', 'remove', '9', '--dir', dir]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /NODE_NOT_FOUND/);
  oneLine(unknown.stderr);

  // Remove node 1: no group lists it, its process is gone, it is never started again.
  const pid1 = grown.nodes[0]?.pid ?? 0;
  const remove = await run(['node', 'remove', '1', '--json', '--dir', dir]);
  assert.equal(remove.code, 0, remove.stderr);
  assert.equal((JSON.parse(remove.stdout) as { id: number }).id, 1);
  const shrunk = await status(dir);
  assert.deepEqual(
    shrunk.nodes.map((n) => n.id),
    [2, 3, 4],
  );
  assert.deepEqual(configurations(shrunk), ['2,3,4|']);
  await waitUntil('node 1 gone', EXIT_BOUND_MS, () => !alive(pid1), 200);
  const again = await run(['node', 'start', '1', '--dir', dir]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /removed/);
  const written = await sql(dir, shrunk.nodes[0]?.apiUrl ?? '', "INSERT INTO app.kv (id, v) VALUES (4, 'four')");
  assert.equal(written.status, 200);

  // Node 2 SIGKILLed and wiped, then replaced by a node with a new id.
  assert.equal((await run(['node', 'kill', '2', '--dir', dir])).code, 0);
  assert.equal((await run(['node', 'wipe', '2', '--dir', dir])).code, 0);
  const replace = await run(['node', 'replace', '2', '--json', '--dir', dir]);
  assert.equal(replace.code, 0, replace.stderr);
  const replaced = JSON.parse(replace.stdout) as { removed: number; id: number; api_addr: string };
  assert.deepEqual([replaced.removed, replaced.id], [2, 5]);
  const swapped = await status(dir);
  track(swapped);
  assert.deepEqual(
    swapped.nodes.map((n) => [n.id, n.state]),
    [
      [3, 'up'],
      [4, 'up'],
      [5, 'up'],
    ],
  );
  assert.deepEqual(configurations(swapped), ['3,4,5|']);
  assert.deepEqual((await sql(dir, replaced.api_addr, 'SELECT COUNT(*) FROM app.kv')).rows, [[4]]);

  // Node 4 down: removing node 3 would leave voters 4 and 5 with one live — refused, nothing changes.
  assert.equal((await run(['node', 'kill', '4', '--dir', dir])).code, 0);
  const risky = await run(['node', 'remove', '3', '--dir', dir]);
  assert.equal(risky.code, 1);
  assert.match(risky.stderr, /QUORUM_AT_RISK/);
  oneLine(risky.stderr);
  assert.equal((await run(['node', 'start', '4', '--dir', dir])).code, 0);

  // A live node replaced: node 6 added, then node 3 removed and its process stopped.
  const pid3 = swapped.nodes.find((n) => n.id === 3)?.pid ?? 0;
  const live = await run(['node', 'replace', '3', '--json', '--dir', dir]);
  assert.equal(live.code, 0, live.stderr);
  assert.deepEqual(
    [(JSON.parse(live.stdout) as { removed: number }).removed, (JSON.parse(live.stdout) as { id: number }).id],
    [3, 6],
  );
  const replacedLive = await status(dir);
  track(replacedLive);
  assert.deepEqual(
    replacedLive.nodes.map((n) => n.id),
    [4, 5, 6],
  );
  assert.deepEqual(configurations(replacedLive), ['4,5,6|']);
  await waitUntil('node 3 gone', EXIT_BOUND_MS, () => !alive(pid3), 200);

  // down stops the added nodes too; up on the folder starts the members as they are now (4, 5, 6).
  const before = await status(dir);
  const pids = [before.supervisorPid, ...before.nodes.flatMap((n) => (n.pid === null ? [] : [n.pid]))];
  assert.equal((await run(['cluster', 'down', '--dir', dir])).code, 0);
  await waitUntil('every process gone after down', EXIT_BOUND_MS, () => pids.every((p) => !alive(p)), 200);
  const reup = await run(['cluster', 'up', '--nodes', '3', '--dir', dir, '--json']);
  assert.equal(reup.code, 0, reup.stderr);
  const after = JSON.parse(reup.stdout) as ClusterStatus;
  track(after);
  assert.deepEqual(
    after.nodes.map((n) => [n.id, n.state]),
    [
      [4, 'up'],
      [5, 'up'],
      [6, 'up'],
    ],
  );
  assert.ok(after.groups.every((g) => g.leader !== null));
  assert.equal((await run(['cluster', 'down', '--wipe', '--dir', dir])).code, 0);
});
