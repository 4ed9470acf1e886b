// What this proves: an UPDATE or DELETE whose WHERE (or computed SET value) evaluate() would refuse — an unknown
// function, a wrong number of arguments, an aggregate — is refused at plan time and never reaches a state machine.
// Apply evaluates the filter on every replica, where such a refusal is an error that stops the node: on a48364c one
// `DELETE FROM t WHERE foo(id) = 1` on a table with a row took down all three nodes of a cluster, and each one again
// on restart (a poison entry, reference/adversaries.md §1).
// How: a StandaloneExecutor on an in-memory data.db, with the data state machines' apply counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataStore, KalamError, SqlEngine, StandaloneExecutor, StateMachines } from '../src/index.js';
import type { Session } from '../src/index.js';

const root: Session = { userId: 'root', username: 'root', role: 'system' };

test('a filter or SET value that evaluate() refuses is refused before it is proposed', async () => {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 4, numSharedShards: 1 });
  const engine = new SqlEngine({ executor: new StandaloneExecutor(machines), machines, nodeId: 1 });
  await engine.execute(
    root,
    "CREATE NAMESPACE app; CREATE SHARED TABLE app.t (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO app.t (id, v) VALUES (1, 'a')",
  );
  const shard = machines.sharedShards[0]!;
  let applies = 0;
  const apply = shard.apply.bind(shard);
  shard.apply = (entries) => {
    applies++;
    return apply(entries);
  };
  const poison = [
    'DELETE FROM app.t WHERE foo(id) = 1',
    "UPDATE app.t SET v = 'b' WHERE lower(v, v) = 'a'",
    'DELETE FROM app.t WHERE count(id) = 1',
    'UPDATE app.t SET v = upper(v, v) WHERE id = 1',
    'UPDATE app.t SET v = foo(v)',
  ];
  for (const sql of poison) {
    await assert.rejects(engine.execute(root, sql), (err: unknown) => {
      assert.ok(err instanceof KalamError, String(err));
      assert.equal(err.code, 'INVALID_SQL', `${sql}: ${err.message}`);
      return true;
    });
  }
  assert.equal(applies, 0, 'no refused statement may reach apply');
  // The functions evaluate() knows still work in filters and SET values.
  const [updated] = await engine.execute(root, "UPDATE app.t SET v = upper(v) WHERE lower(v) = 'a' AND abs(id) = 1");
  assert.equal(updated!.row_count, 1);
  assert.equal(applies, 1);
  assert.deepEqual((await engine.execute(root, 'SELECT v FROM app.t'))[0]!.rows, [['A']]);
});
