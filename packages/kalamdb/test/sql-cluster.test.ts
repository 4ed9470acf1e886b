// What this proves (issue [M9] §3): ALTER CLUSTER REMOVE NODE n [, m …] parses into the node ids; it hands them to the
// node process's removal request and answers one row per node with its new state; only dba and system may run it
// (PERMISSION_DENIED, and nothing asked); the removal API's refusals keep their codes and HTTP statuses
// (NODE_NOT_FOUND 404, QUORUM_AT_RISK 409, …); a node without a removal request (standalone) refuses with
// INVALID_INPUT; ALTER CLUSTER ADD NODE is refused by the parser with where a node comes from (--join). How: the
// engine over a StandaloneExecutor, with a removal request recorded by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSql } from '@kalam/sql';
import { DataStore, KalamError, SqlEngine, StandaloneExecutor, StateMachines } from '../src/index.js';
import type { Session } from '../src/index.js';

const session = (role: Session['role']): Session => ({ userId: role, username: role, role });

function engine(removeNodes?: (ids: readonly number[]) => Promise<{ node_id: number; state: string }[]>): SqlEngine {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 4, numSharedShards: 1 });
  return new SqlEngine({
    executor: new StandaloneExecutor(machines),
    machines,
    nodeId: 1,
    parseOnThread: true,
    ...(removeNodes === undefined ? {} : { removeNodes }),
  });
}

test('ALTER CLUSTER REMOVE NODE parses into node ids; ADD NODE points at --join', () => {
  assert.deepEqual(parseSql('ALTER CLUSTER REMOVE NODE 3'), [{ kind: 'AlterClusterRemoveNode', nodeIds: [3] }]);
  assert.deepEqual(parseSql('alter cluster remove node 4, 5;'), [{ kind: 'AlterClusterRemoveNode', nodeIds: [4, 5] }]);
  assert.throws(() => parseSql('ALTER CLUSTER REMOVE NODE'), /a node id/);
  assert.throws(() => parseSql("ALTER CLUSTER REMOVE NODE 'x'"), /a node id/);
  assert.throws(() => parseSql('ALTER CLUSTER REMOVE NODE 3 4'), /the end of the statement/);
  assert.throws(() => parseSql('ALTER CLUSTER DROP NODE 3'), /REMOVE/);
  assert.throws(
    () => parseSql("ALTER CLUSTER ADD NODE '127.0.0.1:9000'"),
    (err: Error) => /ALTER CLUSTER ADD NODE does not exist/.test(err.message) && /--join/.test(err.message),
  );
});

test("ALTER CLUSTER REMOVE NODE asks the removal request as dba or system and answers each node's state", async () => {
  const asked: number[][] = [];
  const e = engine((ids) => {
    asked.push([...ids]);
    return Promise.resolve(ids.map((id) => ({ node_id: id, state: id === 5 ? 'removed' : 'leaving' })));
  });
  const [r] = await e.execute(session('dba'), 'ALTER CLUSTER REMOVE NODE 4, 5');
  assert.deepEqual(r?.rows, [
    [4, 'leaving'],
    [5, 'removed'],
  ]);
  assert.deepEqual(
    r?.schema.map((c) => c.name),
    ['node_id', 'state'],
  );
  await e.execute(session('system'), 'ALTER CLUSTER REMOVE NODE 2');
  assert.deepEqual(asked, [[4, 5], [2]]);
  for (const role of ['user', 'service'] as const) {
    await assert.rejects(e.execute(session(role), 'ALTER CLUSTER REMOVE NODE 2'), (err: KalamError) => {
      assert.equal(err.code, 'PERMISSION_DENIED');
      assert.equal(err.httpStatus, 403);
      return true;
    });
  }
  assert.equal(asked.length, 2, 'a refused role asks nothing');
});

test("the removal request's refusals keep their codes and statuses; a standalone node refuses", async () => {
  const refusing = engine(() => Promise.reject(new KalamError('QUORUM_AT_RISK', 'voters 2, 3 would keep 1 live of 2')));
  await assert.rejects(refusing.execute(session('dba'), 'ALTER CLUSTER REMOVE NODE 1'), (err: KalamError) => {
    assert.deepEqual([err.code, err.httpStatus], ['QUORUM_AT_RISK', 409]);
    return true;
  });
  const unknown = engine(() => Promise.reject(new KalamError('NODE_NOT_FOUND', 'node 9 is not a member')));
  await assert.rejects(unknown.execute(session('dba'), 'ALTER CLUSTER REMOVE NODE 9'), (err: KalamError) => {
    assert.deepEqual([err.code, err.httpStatus], ['NODE_NOT_FOUND', 404]);
    return true;
  });
  await assert.rejects(engine().execute(session('system'), 'ALTER CLUSTER REMOVE NODE 2'), (err: KalamError) => {
    assert.deepEqual([err.code, err.httpStatus], ['INVALID_INPUT', 400]);
    return true;
  });
});
