// What this proves: a request takes at most one read barrier per group however many statements read that group (a
// batch of twenty SHOW NAMESPACES took twenty meta:system ReadIndex rounds, one after the other); a point SELECT asks
// for the catalog's barrier and its rows' barrier at once, not one after the other; a barrier that failed is asked
// again by the next read; two requests never share a barrier (each one's must start after it began); and a request's
// barriers can be begun before its SQL runs (while its password is checked). How: the engine over a
// StandaloneExecutor wrapped in one that counts readBarrier calls per group and can hold or fail them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DataStore,
  KalamError,
  MetaSystem,
  SqlEngine,
  StandaloneExecutor,
  StateMachines,
  groupName,
} from '../src/index.js';
import type { GroupId, Session } from '../src/index.js';

const root: Session = { userId: 'root', username: 'root', role: 'system' };

/** The standalone executor, with every read barrier counted by group name, and optionally held or failed. */
class CountingExecutor extends StandaloneExecutor {
  readonly asked: string[] = [];
  /** While set, barriers wait until `release()`. */
  hold = false;
  /** The next barrier of this group fails once. */
  failNext: string | undefined;
  private held: (() => void)[] = [];

  override readBarrier(group: GroupId): Promise<void> {
    const name = groupName(group);
    this.asked.push(name);
    if (this.failNext === name) {
      this.failNext = undefined;
      return Promise.reject(new KalamError('CLUSTER_UNAVAILABLE', 'no leader for a moment'));
    }
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => this.held.push(resolve));
  }

  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }

  count(name: string): number {
    return this.asked.filter((n) => n === name).length;
  }
}

async function setup(): Promise<{ engine: SqlEngine; ex: CountingExecutor; machines: StateMachines }> {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 4, numSharedShards: 1 });
  const ex = new CountingExecutor(machines);
  const engine = new SqlEngine({ executor: ex, machines, nodeId: 1, parseOnThread: true });
  await engine.execute(
    root,
    "CREATE NAMESPACE app; CREATE USER TABLE app.kv (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO app.kv VALUES (1, 'a')",
  );
  ex.asked.length = 0;
  return { engine, ex, machines };
}

test('a batch of twenty reads of meta:system takes one barrier', async () => {
  const { engine, ex } = await setup();
  const results = await engine.execute(root, Array.from({ length: 20 }, () => 'SHOW NAMESPACES').join('; '));
  assert.equal(results.length, 20);
  assert.equal(ex.count('meta:system'), 1);
});

test('a batch of reads and writes of one table takes one barrier per group', async () => {
  const { engine, ex, machines } = await setup();
  const shard = groupName(machines.router.groupForUser('root'));
  const results = await engine.execute(
    root,
    "SELECT v FROM app.kv WHERE id = 1; INSERT INTO app.kv VALUES (2, 'b'); SELECT v FROM app.kv WHERE id = 2",
  );
  assert.deepEqual(results[2]!.rows, [['b']], 'the batch reads its own write');
  assert.equal(ex.count('meta:system'), 1);
  assert.equal(ex.count(shard), 1);
});

test('two requests take a barrier each', async () => {
  const { engine, ex } = await setup();
  await engine.execute(root, 'SHOW NAMESPACES');
  await engine.execute(root, 'SHOW NAMESPACES');
  assert.equal(ex.count('meta:system'), 2);
});

test("a point SELECT asks for the catalog's and the rows' barriers at once", async () => {
  const { engine, ex, machines } = await setup();
  const shard = groupName(machines.router.groupForUser('root'));
  ex.hold = true;
  const pending = engine.execute(root, 'SELECT v FROM app.kv WHERE id = 1');
  // Both are asked while the meta:system barrier is still held: neither waits for the other.
  for (let i = 0; i < 50 && ex.asked.length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual([...ex.asked].sort(), [shard, 'meta:system'].sort());
  ex.release();
  const [result] = await pending;
  assert.deepEqual(result!.rows, [['a']]);
  assert.equal(ex.count(shard), 1);
});

test('a barrier that failed is asked again by the next read of the group', async () => {
  const { engine, ex, machines } = await setup();
  const shard = groupName(machines.router.groupForUser('root'));
  ex.failNext = shard;
  // The prefetched barrier of the rows' group fails before the SELECT waits for it: the SELECT asks again.
  const [result] = await engine.execute(root, 'SELECT v FROM app.kv WHERE id = 1');
  assert.deepEqual(result!.rows, [['a']]);
  assert.equal(ex.count(shard), 2);
  ex.failNext = 'meta:system';
  await assert.rejects(engine.execute(root, 'SHOW NAMESPACES; SHOW NAMESPACES'));
  ex.asked.length = 0;
  const results = await engine.execute(root, 'SHOW NAMESPACES; SHOW NAMESPACES');
  assert.equal(results.length, 2);
  assert.equal(ex.count('meta:system'), 1);
});

test("a request's barriers begun before its SQL are the ones its statements wait for", async () => {
  const { engine, ex } = await setup();
  // As the HTTP API does for a Basic-authenticated request: the catalog's barrier starts before the password check.
  const reads = engine.requestReads();
  reads.prefetch(MetaSystem);
  assert.equal(ex.count('meta:system'), 1);
  await engine.execute(root, 'SHOW NAMESPACES; SHOW TABLES', { reads });
  assert.equal(ex.count('meta:system'), 1);
});
