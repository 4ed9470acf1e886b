// What this proves: a node whose data group is replaced by a snapshot (it fell behind and the leader sent one) does
// not skip changes for the subscribers it holds: it catches them up from the restored change log after each one's
// cursor, in order, then goes on with live changes; and when the snapshot's change log no longer reaches back to the
// cursor, the subscription ends with RESUME_UNAVAILABLE instead of silently missing changes. How: an in-process
// standalone node and API; the "leader's" snapshot is built on a second set of state machines from this node's
// snapshot plus entries applied there only, then restored into the running node's shard.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { DataStore, SnapshotWriter, StateMachines, encodeCommand, snapshotRecords } from '@kalam/kalamdb';
import type { UserDataCommand, UserDataStateMachine } from '@kalam/kalamdb';

import { LiveClient, createApiServer, parseConfig, startNode } from '../src/index.js';
import { basic, freePort, rowsOf, sql } from './support/net.js';

const ROOT = basic('root', 'root-pass');
const ALICE = { username: 'alice', password: 'alice-pass' };
const WAIT_MS = 15_000;

test('a snapshot restore under a subscriber: caught up from the change log, or ended when it cannot be', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-live-restore-'));
  const port = await freePort();
  const config = parseConfig(
    ['[server]', `api_addr = "127.0.0.1:${port}"`, 'data_dir = "data"', '[auth]', 'root_password = "root-pass"'].join(
      '\n',
    ),
    { baseDir: dir, env: {} },
  );
  const node = await startNode(config);
  const api = createApiServer(node, { version: 'test' });
  const url = (await api.listen()).url;
  const clients: LiveClient[] = [];
  t.after(async () => {
    clients.forEach((c) => c.terminate());
    await api.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const setup = await sql(
    url,
    ROOT,
    [
      'CREATE NAMESPACE app',
      'CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)',
      "CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user",
    ].join('; '),
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const aliceId = String(
    rowsOf(await sql(url, ROOT, "SELECT user_id FROM system.users WHERE username = 'alice'"))[0]?.[0],
  );
  const shardNo = node.machines.router.userShard(aliceId);
  const shard = node.machines.userShards[shardNo]!;

  /** The shard as a leader ahead of this node would send it: this node's state plus `cmds` applied elsewhere. */
  const ahead = (cmds: UserDataCommand[]): { index: number; term: number; data: Uint8Array } => {
    const other = new StateMachines(DataStore.open(':memory:'), node.machines.sharding);
    other.system.restore({
      index: node.machines.system.appliedIndex(),
      term: 1,
      data: node.machines.system.snapshot(),
    });
    const o: UserDataStateMachine = other.userShards[shardNo]!;
    const base = shard.appliedIndex();
    o.restore({ index: base, term: 1, data: shard.snapshot() });
    o.apply(cmds.map((c, i) => ({ index: base + 1 + i, term: 1, kind: 'command', data: encodeCommand(c) })));
    return { index: base + cmds.length, term: 1, data: o.snapshot() };
  };
  const cmd = (type: 'Insert' | 'Update' | 'Delete', id: number, seqBase: number): UserDataCommand => {
    const filter = {
      kind: 'binary',
      op: '=',
      left: { kind: 'column', table: null, name: 'id' },
      right: { kind: 'literal', value: id },
    } as const;
    const common = { tableId: 'app.items', userId: aliceId, seqBase, at: 1, metaIndex: 0 };
    if (type === 'Insert') return { type, ...common, rows: [{ id, label: `l${id}` }] };
    if (type === 'Update') return { type, ...common, updates: { label: `u${id}` }, filter };
    return { type, ...common, filter };
  };

  const c = await LiveClient.connect(url, ALICE);
  clients.push(c);
  const sub = await c.subscribe('s', 'SELECT * FROM app.items');
  assert.equal(
    (await sql(url, basic('alice', 'alice-pass'), "INSERT INTO app.items (id, label) VALUES (1, 'one')")).status,
    200,
  );
  await sub.waitFor((s) => s.changes.length === 1, WAIT_MS);

  await t.test('the missed changes come from the restored change log, in order, then live ones', async () => {
    const top = shard.lastSeq();
    shard.restore(ahead([cmd('Insert', 2, top + 1), cmd('Update', 1, top + 2), cmd('Delete', 2, top + 3)]));
    await sub.waitFor((s) => s.changes.length === 4, WAIT_MS);
    assert.deepEqual(
      sub.changes.map((e) => [e.changeType, e.row['id'], e.seq]),
      [
        ['insert', 1, top],
        ['insert', 2, top + 1],
        ['update', 1, top + 2],
        ['delete', 2, top + 3],
      ],
    );
    assert.equal(
      (await sql(url, basic('alice', 'alice-pass'), "INSERT INTO app.items (id, label) VALUES (3, 'three')")).status,
      200,
    );
    await sub.waitFor((s) => s.changes.length === 5, WAIT_MS);
    assert.ok(sub.changes[4]!.seq > top + 3);
  });

  await t.test(
    'a change log that no longer reaches the cursor ends the subscription with RESUME_UNAVAILABLE',
    async () => {
      const snap = ahead([cmd('Insert', 4, shard.lastSeq() + 1)]);
      // As if the leader had trimmed everything up to its high-water mark: the state record rewritten, the rows
      // pages kept, the snapshot written again (its checksum covers every record).
      const out = new SnapshotWriter(shard.groupId);
      for (const record of snapshotRecords(snap.data, shard.groupId)) {
        if (record['kind'] === 'state') {
          const changeLog = (record['state'] as { changeLog: Record<string, unknown> }).changeLog;
          changeLog['trimmedSeq'] = changeLog['lastSeq'];
          changeLog['entries'] = [];
        }
        out.record(record);
      }
      shard.restore({ ...snap, data: out.finishInMemory() });
      await sub.waitFor((s) => s.ended, WAIT_MS);
      assert.equal(sub.errors[0]?.code, 'RESUME_UNAVAILABLE');
    },
  );
});
