/**
 * The drill actions that change membership ([M9] §4) against the in-memory cluster (support/drill-fakes.ts):
 * add_node / remove_node / replace_node parse with their bounds, reach the controller in order, and move the
 * workload's nodes — a node added serves the clients and the final reads, a node removed is no longer called after
 * its removal and is left out of the convergence check; `--nodes` (parseDrill's override) changes the cluster's size
 * and the node ids a file may name.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { runDrill } from '../src/drill/runner.js';
import { parseDrill } from '../src/drill/spec.js';
import { fakeCluster } from './support/drill-fakes.js';

const DRILL = `
name = "membership"
nodes = 3
seed = 5
[workload]
clients = 3
users = 6
shared_keys = 3
think_ms = 2
[checks]
availability_bound_ms = 10000
[[steps]]
action = "wait"
ms = 200
[[steps]]
action = "add_node"
[[steps]]
action = "wait"
ms = 200
[[steps]]
action = "remove_node"
target = "node leading most groups"
timeout_ms = 30000
[[steps]]
action = "replace_node"
target = 2
[[steps]]
action = "wait"
ms = 200
`;

test('add_node, remove_node and replace_node parse with their bounds; --nodes changes the ids a file may name', () => {
  const spec = parseDrill(DRILL, 'm.toml');
  assert.deepEqual(spec.steps[1], { action: 'add_node', timeoutMs: 180_000 });
  assert.deepEqual(spec.steps[3], { action: 'remove_node', target: { kind: 'most-leader' }, timeoutMs: 30_000 });
  assert.deepEqual(spec.steps[4], { action: 'replace_node', target: { kind: 'node', id: 2 }, timeoutMs: 180_000 });
  assert.throws(
    () => parseDrill('[[steps]]\naction = "add_node"\ntarget = 1\n', 'x.toml'),
    /x\.toml: step 1: target: unknown key/,
  );
  assert.throws(
    () => parseDrill('[[steps]]\naction = "remove_node"\ntarget = 1\ntimeout_ms = 10\n', 'x.toml'),
    /timeout_ms: must be an integer from 1000/,
  );
  // Node 5 exists only in a 5-node run.
  const five = '[[steps]]\naction = "kill"\ntarget = 5\n';
  assert.throws(() => parseDrill(five, 'x.toml'), /node 5 is not one of 1\.\.3/);
  assert.equal(parseDrill(five, 'x.toml', { nodes: 5 }).nodes, 5);
  assert.throws(() => parseDrill(five, 'x.toml', { nodes: 9 }), /--nodes must be an integer from 3 to 7/);
});

test('membership steps drive the controller and move the nodes the clients, final reads and checks use', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-drill-membership-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = fakeCluster();
  const lines: string[] = [];
  const result = await runDrill({
    spec: parseDrill(DRILL, 'm.toml'),
    seed: 5,
    short: false,
    reportDir: dir,
    factory: fake.factory,
    transport: fake.transport,
    progress: (l) => lines.push(l),
  });
  assert.equal(result.passed, true, JSON.stringify(result.checks, null, 1));
  // Node 4 added; the node leading most groups (1: the fake gives node 1 the most) removed; node 2 replaced by 5.
  assert.match(fake.calls.join('; '), /^add 4; remove 1; add 5; remove 2; heal all; down$/);
  const events = result.events.map((e) => [e.action, e.node]);
  assert.deepEqual(events.slice(1, 5), [
    ['add_node', 4],
    ['wait', null],
    ['remove_node', 1],
    ['replace_node', 5],
  ]);
  // The converged check and the final reads cover the members at the end: 3, 4 and 5.
  assert.match(result.checks.find((c) => c.name === 'converged')?.detail ?? '', /on 3 nodes/);
  const finals = new Set(
    result.history.flatMap((op, i) => (String(op.client).startsWith('final/') ? [result.meta[i]?.node] : [])),
  );
  assert.deepEqual([...finals].sort(), [3, 4, 5]);
  // The clients used the added nodes, and never called a node after its removal began.
  const calledNodes = new Set(result.meta.map((m) => m?.node));
  assert.ok(calledNodes.has(4) && calledNodes.has(5), [...calledNodes].join(','));
  const removedAt = (action: string): number => result.events.find((e) => e.action === action)?.endMs ?? 0;
  const late = result.history.filter((op, i) => {
    const node = result.meta[i]?.node;
    return (
      (node === 1 && op.invokedAtMs > removedAt('remove_node')) ||
      (node === 2 && op.invokedAtMs > removedAt('replace_node'))
    );
  });
  assert.deepEqual(late, [], 'no call to a removed node');
  // The removals are faults whose groups must be led again.
  assert.deepEqual([...new Set(result.availability.map((f) => f.action))].sort(), ['remove_node', 'replace_node']);
});
