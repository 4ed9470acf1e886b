// What this proves: meta:system's member list (system.cluster_nodes, issue [M9] §2) — the seed fills an empty list
// once and is a no-op after; a joining node gets the largest id ever given out + 1 (never reused, removed rows
// stay); a retried join from the same addresses gets its id back; an address a live member uses is refused; a
// state moves only along CLUSTER_NODE_TRANSITIONS and only from the state the proposer saw (compare-and-set); the
// list travels in meta:system's snapshot; bad commands are refused by the validator before they are proposed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppliedEntry } from '@kalam/multiraft';
import { DataStore, SystemStateMachine, encodeCommand } from '../src/index.js';
import type { SystemCommand } from '../src/index.js';
import { checkSystemCommand } from '../src/validate.js';

function machine(): { sm: SystemStateMachine; apply: (cmd: SystemCommand) => unknown } {
  const sm = new SystemStateMachine(DataStore.open(':memory:'));
  let index = 0;
  const apply = (cmd: SystemCommand): unknown => {
    index++;
    const entry: AppliedEntry = { index, term: 1, kind: 'command', data: encodeCommand(cmd) };
    return sm.apply([entry])[0];
  };
  return { sm, apply };
}

const seed: Extract<SystemCommand, { type: 'SeedClusterNodes' }> = {
  type: 'SeedClusterNodes',
  nodes: [1, 2, 3].map((n) => ({ nodeId: n, rpcAddr: `127.0.0.1:910${n}`, apiAddr: `http://127.0.0.1:808${n}` })),
  createdAt: 1_000,
};

const join = (n: number): Extract<SystemCommand, { type: 'AddClusterNode' }> => ({
  type: 'AddClusterNode',
  rpcAddr: `127.0.0.1:910${n}`,
  apiAddr: `http://127.0.0.1:808${n}`,
  createdAt: 2_000 + n,
});

test('the seed fills an empty list with voters once; a second seed changes nothing', () => {
  const { sm, apply } = machine();
  assert.deepEqual(apply(seed), { type: 'Ok' });
  assert.deepEqual(
    sm.clusterNodes().map((n) => [n.nodeId, n.state, n.createdAt]),
    [
      [1, 'voter', 1_000],
      [2, 'voter', 1_000],
      [3, 'voter', 1_000],
    ],
  );
  const other: SystemCommand = { ...seed, nodes: [{ nodeId: 9, rpcAddr: 'x:1', apiAddr: 'http://x:2' }] };
  assert.deepEqual(apply(other), { type: 'Ok' });
  assert.deepEqual(
    sm.clusterNodes().map((n) => n.nodeId),
    [1, 2, 3],
  );
});

test('a join before the seed is refused: there is no list to give an id from', () => {
  const { sm, apply } = machine();
  assert.equal((apply(join(4)) as { code: string }).code, 'CONFLICT');
  assert.equal(sm.clusterNodes().length, 0);
});

test('ids are the largest ever + 1, a retried join gets its id back, a used address is refused', () => {
  const { sm, apply } = machine();
  apply(seed);
  assert.deepEqual(apply(join(4)), { type: 'ClusterNodeAdded', nodeId: 4, created: true });
  assert.deepEqual(apply(join(4)), { type: 'ClusterNodeAdded', nodeId: 4, created: false }, 'a retry');
  assert.equal(sm.clusterNode(4)?.state, 'joining');
  const clash = apply({ ...join(5), rpcAddr: '127.0.0.1:9102' }) as { type: string; code: string };
  assert.equal(clash.code, 'ALREADY_EXISTS', 'node 2 uses that RPC address');
  // Node 4 leaves and is removed; its row stays, so the next id is 5 even for node 4's old addresses.
  for (const [from, to] of [
    ['joining', 'leaving'],
    ['leaving', 'removed'],
  ] as const) {
    assert.deepEqual(apply({ type: 'SetClusterNodeState', nodeId: 4, from, to }), { type: 'Ok' });
  }
  assert.deepEqual(apply(join(4)), { type: 'ClusterNodeAdded', nodeId: 5, created: true });
  assert.deepEqual(
    sm.clusterNodes().map((n) => [n.nodeId, n.state]),
    [
      [1, 'voter'],
      [2, 'voter'],
      [3, 'voter'],
      [4, 'removed'],
      [5, 'joining'],
    ],
  );
});

test('states move only along the transitions, and only from the state the proposer saw', () => {
  const { sm, apply } = machine();
  apply(seed);
  apply(join(4));
  const set = (nodeId: number, from: string, to: string): { type: string; code?: string } =>
    apply({ type: 'SetClusterNodeState', nodeId, from, to } as SystemCommand) as { type: string; code?: string };
  assert.equal(set(4, 'joining', 'voter').code, 'CONFLICT', 'a joining node becomes a learner first');
  assert.equal(set(4, 'learner', 'voter').code, 'CONFLICT', 'not a learner yet: a stale proposer');
  assert.equal(set(9, 'voter', 'leaving').code, 'NOT_FOUND');
  assert.equal(set(4, 'joining', 'learner').type, 'Ok');
  assert.equal(set(4, 'learner', 'voter').type, 'Ok');
  assert.equal(set(4, 'learner', 'voter').code, 'CONFLICT', 'applied twice: the second finds it a voter');
  assert.equal(set(4, 'voter', 'removed').code, 'CONFLICT', 'removal goes through leaving');
  assert.equal(set(4, 'voter', 'leaving').type, 'Ok');
  assert.equal(set(4, 'leaving', 'voter').code, 'CONFLICT', 'no way back');
  assert.equal(set(4, 'leaving', 'removed').type, 'Ok');
  assert.equal(set(4, 'removed', 'joining').code, 'CONFLICT');
  assert.equal(sm.clusterNode(4)?.state, 'removed');
});

test("the list travels in meta:system's snapshot", () => {
  const a = machine();
  a.apply(seed);
  a.apply(join(4));
  const b = machine();
  b.apply({ ...seed, nodes: [{ nodeId: 7, rpcAddr: 'old:1', apiAddr: 'http://old:2' }] });
  b.sm.restore({ index: 2, term: 1, data: a.sm.snapshot() });
  assert.deepEqual(b.sm.clusterNodes(), a.sm.clusterNodes());
});

test('the validator refuses malformed membership commands', () => {
  const bad: unknown[] = [
    { type: 'SeedClusterNodes', nodes: [], createdAt: 1 },
    {
      ...seed,
      nodes: [seed.nodes[0], seed.nodes[0]],
    },
    { type: 'AddClusterNode', rpcAddr: '', apiAddr: 'http://a', createdAt: 1 },
    { type: 'AddClusterNode', rpcAddr: 'a:1', apiAddr: 'http://a', createdAt: 1, nodeId: 3 },
    { type: 'SetClusterNodeState', nodeId: 0, from: 'voter', to: 'leaving' },
    { type: 'SetClusterNodeState', nodeId: 2, from: 'voter', to: 'gone' },
  ];
  for (const c of bad) assert.throws(() => checkSystemCommand(c), { code: 'INVALID' }, JSON.stringify(c));
  assert.equal(checkSystemCommand(seed).type, 'SeedClusterNodes');
});
