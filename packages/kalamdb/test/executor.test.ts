// What this proves: the same commands through the StandaloneExecutor (no Raft, no raft.db) and through the
// RaftExecutor of a one-member cluster (RaftManager, raft.db, the real driver loop) produce the same
// responses and the same state; the RaftExecutor's read barrier is a ReadIndex read point; a one-member
// cluster elects itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeId } from '@kalam/raft';
import { RaftManager } from '@kalam/multiraft';
import { DataStore, MetaSystem, RaftExecutor, StandaloneExecutor, StateMachines } from '../src/index.js';
import type { CommandExecutor, TableSchema } from '../src/index.js';

const sharding = { numUserShards: 4, numSharedShards: 1 };
const schema: TableSchema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'v', type: 'TEXT', notNull: false, default: null },
  ],
  primaryKey: 'id',
  options: {},
};

/** `machines`: the executor's node, whose meta:system index a data command is stamped with, as the planner does. */
async function script(ex: CommandExecutor, machines: StateMachines): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push(await ex.executeSystem({ type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 }));
  out.push(await ex.executeSystem({ type: 'CreateTable', tableId: 'app.t', tableType: 'USER', schema, createdAt: 2 }));
  out.push(await ex.executeSystem({ type: 'CreateTable', tableId: 'app.t', tableType: 'USER', schema, createdAt: 3 }));
  for (const user of ['alice', 'bob', 'carol']) {
    out.push(
      await ex.executeUserData(user, {
        type: 'Insert',
        tableId: 'app.t',
        userId: user,
        rows: [{ id: 1, v: user }],
        seqBase: 10,
        at: 4,
        metaIndex: machines.system.appliedIndex(),
      }),
    );
  }
  out.push(
    await ex.executeUsers({
      type: 'CreateUser',
      user: { userId: 'u1', username: 'ann', passwordHash: 'h', role: 'dba', createdAt: 5, updatedAt: 5 },
    }),
  );
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

test('standalone and a one-member Raft cluster give the same responses and state', async (t) => {
  const standaloneMachines = new StateMachines(DataStore.open(':memory:'), sharding);
  const standalone = new StandaloneExecutor(standaloneMachines);
  const expected = await script(standalone, standaloneMachines);
  assert.equal((expected[2] as { type: string }).type, 'Error', 'the duplicate CREATE TABLE is refused');

  const dir = mkdtempSync(join(tmpdir(), 'kalam-executor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), sharding);
  const port = await freePort();
  const manager = await RaftManager.start({
    nodeId: 1 as NodeId,
    clusterId: 'c',
    secret: 'a-secret-of-16-chars',
    members: [{ nodeId: 1 as NodeId, host: '127.0.0.1', port }],
    groups: machines.groupSpecs(),
    dataDir: dir,
  });
  t.after(() => manager.stop());
  const raft = new RaftExecutor(machines, manager);
  assert.equal(raft.isClusterMode(), true);
  assert.equal(standalone.isClusterMode(), false);
  const got = await script(raft, machines);
  assert.deepEqual(got, expected);
  await raft.readBarrier(MetaSystem);
  assert.equal(raft.isLeader(MetaSystem), true, 'a one-member cluster leads every group');
  for (const user of ['alice', 'bob', 'carol']) {
    const shard = machines.router.userShard(user);
    assert.deepEqual(
      machines.userShards[shard]!.userRows('app.t', user),
      standaloneMachines.userShards[shard]!.userRows('app.t', user),
    );
  }
  assert.ok(existsSync(join(dir, 'raft.db')));
});
