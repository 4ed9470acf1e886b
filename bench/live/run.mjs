#!/usr/bin/env node
// bench/live: live queries over WebSocket /v1/ws on a 3-node cluster of real `kalam serve` processes, brought up by
// the supervisor (upCluster, free ports, a temporary folder wiped at the end).
//
// 1. Latency. One user, two subscribers of `SELECT * FROM bench.live`: one on node 1 (same node as the writes) and
//    one on node 2 (cross-node). One writer inserts through node 1, one row at a time, and waits for both `change`
//    messages before the next. Per path: from the write's send to the change (an upper bound of commit → change,
//    since the commit falls between send and acknowledgement), and from the HTTP acknowledgement to the change
//    (negative when the change arrived before the acknowledgement); p50 and p99. The node leading the user's shard
//    is reported: a write through a follower is forwarded to it.
// 2. Throughput. USERS users × 10 subscriptions each (LIVE_LIMITS: 10 per user; WS_LIMITS: 10 per connection, so one
//    connection per user), the connections spread over the 3 nodes: 100 × 10 = 1,000 subscriptions in the full run.
//    WRITERS closed-loop writers insert rows of the users in turn, through the nodes in turn, for LOAD_MS; each
//    acknowledged insert owes 10 notifications. Then a bounded drain. Notifications per second (over the load and
//    the drain), delivered / owed, writes per second, and send → change latency of the first subscription of
//    every user under that load.
//
// Usage: node bench/live/run.mjs [--json] [--quick]   (needs `make build`; --quick: fewer writes, 30 users, 4 s
// load, no results file). Every loop and wait is bounded; the cluster is brought down (and its folder removed) on
// success, failure and SIGINT.
/* global fetch, AbortSignal */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { appClient } from '../app.mjs';
import { machine, printTable, writeResults } from '../lib.mjs';

const BENCH = 'live';
const { values } = parseArgs({
  options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
});
const quick = values.quick;
const LATENCY_WRITES = quick ? 60 : 300;
const USERS = quick ? 30 : 100;
const SUBS_PER_USER = 10;
const WRITERS = 16;
const LOAD_MS = quick ? 4_000 : 10_000;
const DRAIN_MS_MAX = 20_000;
/** One HTTP call, one connect or subscribe, one change awaited. */
const CALL_MS = 20_000;
/** Users created (password hashing) and subscribed at the same time. */
const SETUP_PARALLEL = 6;
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);

let control;
let folder;
let server;
let kalamdb;
try {
  control = await import('../../packages/cli/dist/src/cluster/control.js');
  folder = await import('../../packages/cli/dist/src/cluster/folder.js');
  server = await import('@kalam/server');
  kalamdb = await import('@kalam/kalamdb');
} catch (error) {
  process.stderr.write(`bench ${BENCH}: not built (${error.message}): run \`make build\`\n`);
  process.exit(2);
}
const { LiveClient } = server;

const nowMs = () => performance.timeOrigin + performance.now();

function percentile(sorted, p) {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function post(url, path, body, auth) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_MS),
  });
  return res.json();
}

/** One statement over raw HTTP, as the timed writers send it (not @kalam/client: a write's time is one request's). */
async function sqlOk(url, auth, sql, params = []) {
  const r = await post(url, '/v1/api/sql', { sql, params }, auth);
  if (r.status !== 'success') throw new Error(`${sql}: ${JSON.stringify(r.error ?? r)}`);
  return r;
}

/** A raw login: its token is what the measured raw paths (LiveClient, sqlOk's writes) send. */
async function login(url, username, password) {
  const r = await post(url, '/v1/api/auth/login', { username, password });
  if (typeof r.access_token !== 'string') throw new Error(`login ${username}: ${JSON.stringify(r)}`);
  return { token: r.access_token, userId: r.user.id };
}

/** Runs `fn(i)` for i in 0..n-1, `parallel` at a time. */
async function pool(n, parallel, fn) {
  let next = 0;
  const out = new Array(n);
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** Creates `username` through the `root` client and logs in on node i mod n; returns `{token, userId, auth}`. */
async function makeUser(urls, root, username, i) {
  const password = `pw-${username}`;
  await root.execute(`CREATE USER '${username}' WITH PASSWORD '${password}' ROLE user`);
  const s = await login(urls[i % urls.length], username, password);
  return { ...s, auth: `Bearer ${s.token}` };
}

function summary(list) {
  const sorted = [...list].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
}

async function latencyPhase(ctl, urls, root) {
  const user = await makeUser(urls, root, 'lat', 0);
  const sql = 'SELECT * FROM bench.live';
  const clients = [];
  try {
    const same = await LiveClient.connect(urls[0], { token: user.token }, CALL_MS);
    clients.push(same);
    const cross = await LiveClient.connect(urls[1], { token: user.token }, CALL_MS);
    clients.push(cross);
    const subs = [await same.subscribe('same', sql, {}, CALL_MS), await cross.subscribe('cross', sql, {}, CALL_MS)];
    const status = await ctl.status();
    const group = kalamdb.groupName(new kalamdb.ShardRouter().groupForUser(user.userId));
    const leader = status.groups.find((g) => g.name === group)?.leader ?? null;
    const fromSend = [[], []];
    const afterAck = [[], []];
    for (let i = 1; i <= LATENCY_WRITES; i++) {
      const sentAt = nowMs();
      await sqlOk(urls[0], user.auth, `INSERT INTO bench.live (id, v) VALUES (${i}, 'x')`);
      const ackAt = nowMs();
      for (const [k, sub] of subs.entries()) {
        await sub.waitFor((s) => s.changes.some((e) => Number(e.row.id) === i), CALL_MS);
        const e = sub.changes.find((c) => Number(c.row.id) === i);
        fromSend[k].push(e.receivedAtMs - sentAt);
        afterAck[k].push(e.receivedAtMs - ackAt);
      }
    }
    return ['same node (node 1)', 'cross-node (node 2)'].map((path, k) => {
      const a = summary(fromSend[k]);
      const b = summary(afterAck[k]);
      return {
        phase: 'latency',
        path,
        writes: a.n,
        leader: leader === null ? '-' : `node ${leader}`,
        p50Ms: a.p50,
        p99Ms: a.p99,
        ackP50Ms: b.p50,
        ackP99Ms: b.p99,
      };
    });
  } finally {
    for (const c of clients) c.terminate();
  }
}

async function throughputPhase(urls, root) {
  progress(`throughput: creating ${USERS} users`);
  const users = await pool(USERS, SETUP_PARALLEL, (u) => makeUser(urls, root, `lq${String(u).padStart(3, '0')}`, u));
  const clients = [];
  const sendAt = new Map();
  const latencies = [];
  let delivered = 0;
  let lastDeliveryAt = 0;
  try {
    progress(`throughput: ${USERS * SUBS_PER_USER} subscriptions over ${USERS} connections`);
    const subStart = performance.now();
    await pool(USERS, SETUP_PARALLEL, async (u) => {
      const client = await LiveClient.connect(urls[u % urls.length], { token: users[u].token }, CALL_MS);
      clients.push(client);
      for (let k = 0; k < SUBS_PER_USER; k++) {
        const sub = await client.subscribe(`t${k}`, 'SELECT * FROM bench.live', {}, CALL_MS);
        sub.onChange((e) => {
          delivered++;
          lastDeliveryAt = performance.now();
          if (k === 0) {
            const sent = sendAt.get(Number(e.row.id));
            if (sent !== undefined) latencies.push(e.receivedAtMs - sent);
          }
        });
      }
    });
    const subscribeSeconds = (performance.now() - subStart) / 1000;
    progress(`throughput: ${WRITERS} writers for ${LOAD_MS} ms`);
    let acked = 0;
    let failed = 0;
    let nextId = 1;
    const t0 = performance.now();
    const end = t0 + LOAD_MS;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let n = 0; performance.now() < end; n++) {
          const id = nextId++;
          const u = id % USERS;
          const url = urls[(w + n) % urls.length];
          sendAt.set(id, nowMs());
          try {
            await sqlOk(url, users[u].auth, `INSERT INTO bench.live (id, v) VALUES (${id}, 'x')`);
            acked++;
          } catch {
            failed++;
          }
        }
      }),
    );
    const loadSeconds = (performance.now() - t0) / 1000;
    const owed = acked * SUBS_PER_USER;
    const drainEnd = performance.now() + DRAIN_MS_MAX;
    while (delivered < owed && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 50));
    const seconds = (Math.max(lastDeliveryAt, t0 + LOAD_MS) - t0) / 1000;
    const lat = summary(latencies);
    return {
      phase: 'throughput',
      path: `${USERS * SUBS_PER_USER} subs / ${USERS} users`,
      writes: acked,
      failedWrites: failed,
      writesPerSec: acked / loadSeconds,
      notifications: delivered,
      owed,
      notificationsPerSec: delivered / seconds,
      p50Ms: lat.p50,
      p99Ms: lat.p99,
      subscribeSeconds,
    };
  } finally {
    for (const c of clients) c.terminate();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kalam-bench-live-'));
let ctl;
let downing;
const down = () => {
  downing ??= (ctl === undefined ? Promise.resolve() : ctl.down({ wipe: true }).catch(() => undefined)).finally(() =>
    rmSync(dir, { recursive: true, force: true }),
  );
  return downing;
};
process.once('SIGINT', () => {
  progress('interrupted: bringing the cluster down');
  void down().then(() => process.exit(130));
});

let rows;
let root;
try {
  progress('bringing up 3 nodes');
  ctl = await control.upCluster({
    nodes: 3,
    name: 'bench-live',
    dir: join(dir, 'cluster'),
    basePort: await folder.findFreeBasePort(3),
    onProgress: (line) => progress(`  ${line}`),
  });
  const urls = ctl.manifest.nodes.map((n) => n.apiUrl);
  // The setup (namespace, table, users) as an application does it: through @kalam/client, signed in as root.
  root = appClient(urls, { user: ctl.credentials.user, password: ctl.credentials.password }, CALL_MS);
  await root.execute('CREATE NAMESPACE bench');
  await root.execute('CREATE USER TABLE bench.live (id BIGINT PRIMARY KEY, v TEXT)');
  progress(`latency: ${LATENCY_WRITES} writes through node 1, subscribers on nodes 1 and 2`);
  const latency = await latencyPhase(ctl, urls, root);
  const throughput = await throughputPhase(urls, root);
  rows = [...latency, throughput];
} finally {
  await root?.close();
  progress('bringing the cluster down');
  await down();
}

const result = {
  bench: BENCH,
  title: 'live queries: commit → change latency (same node, cross-node) and notification throughput, 3 nodes',
  startedAt: new Date().toISOString(),
  machine: machine(),
  config: {
    quick,
    latencyWrites: LATENCY_WRITES,
    users: USERS,
    subscriptionsPerUser: SUBS_PER_USER,
    writers: WRITERS,
    loadMs: LOAD_MS,
  },
  columns: [
    { key: 'phase', title: 'phase' },
    { key: 'path', title: 'subscriber' },
    { key: 'writes', title: 'writes' },
    { key: 'leader', title: 'shard leader' },
    { key: 'p50Ms', title: 'send→change p50 ms' },
    { key: 'p99Ms', title: 'p99 ms' },
    { key: 'ackP50Ms', title: 'ack→change p50 ms' },
    { key: 'ackP99Ms', title: 'p99 ms' },
    { key: 'writesPerSec', title: 'writes/s' },
    { key: 'notificationsPerSec', title: 'notifications/s' },
    { key: 'notifications', title: 'delivered' },
    { key: 'owed', title: 'owed' },
  ],
  rows,
  resultsFile: quick ? null : `bench/results/${BENCH}.json`,
};
if (!quick) writeResults(BENCH, result);
if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${BENCH}: ${result.title}`);
  printTable(result.columns, rows);
  const t = rows.at(-1);
  console.log(
    `subscribing ${USERS * SUBS_PER_USER} took ${t.subscribeSeconds.toFixed(1)} s; ${t.failedWrites} write(s) failed during the load`,
  );
  if (!quick) console.log(`\nwritten to ${result.resultsFile}`);
}
