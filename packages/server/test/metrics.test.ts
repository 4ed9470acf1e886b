// GET /metrics on standalone nodes in this process ([M10] §4): two nodes at once, each with its own registry, so
// one's figures never show in the other's. The scrape is valid Prometheus text (a strict parser, support/prom.ts);
// every `kalam_` family it holds is documented in the README's metric reference with the same type, and every
// documented family is there. The figures move: the HTTP counter of /v1/api/sql grows with requests, the live-query
// gauge and notification counter follow a subscription, jobs are counted by type and status, and each group's
// applied index is the one GET /v1/api/cluster/status shows. Who may scrape: root (Basic or a token from a login),
// or the bearer `[auth] metrics_token`; no credentials, a wrong password or a wrong token get 401, a dba, a user and
// another system user get 403 — each in the API's error shape — and the token opens nothing else.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { LiveClient, createApiServer, parseConfig, startNode } from '../src/index.js';
import type { ApiServer, ClusterStatus, RunningNode } from '../src/index.js';
import { basic, bearer, eventually, freePort, request, rowsOf, sql } from './support/net.js';
import { family, parseExposition, total } from './support/prom.js';
import type { Family, MetricType } from './support/prom.js';

const ROOT_PASSWORD = 'root-pass-metrics';
const METRICS_TOKEN = 'scrape-token-0123456789';
const README = fileURLToPath(new URL('../../../../README.md', import.meta.url));

interface Standalone {
  readonly node: RunningNode;
  readonly api: ApiServer;
  readonly url: string;
}

const dirs: string[] = [];
const running: Standalone[] = [];
let a: Standalone;
let b: Standalone;

async function start(metricsToken: string | undefined): Promise<Standalone> {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-server-metrics-'));
  dirs.push(dir);
  const port = await freePort();
  const lines = ['[server]', `api_addr = "127.0.0.1:${port}"`, 'data_dir = "data"', '[auth]'];
  lines.push(`root_password = "${ROOT_PASSWORD}"`);
  if (metricsToken !== undefined) lines.push(`metrics_token = "${metricsToken}"`);
  const node = await startNode(parseConfig(lines.join('\n'), { baseDir: dir, env: {} }));
  const api = createApiServer(node, { version: 'metrics-test' });
  const s = { node, api, url: (await api.listen()).url };
  running.push(s);
  return s;
}

before(async () => {
  a = await start(METRICS_TOKEN);
  b = await start(undefined);
});

after(async () => {
  for (const s of running) {
    await s.api.close();
    await s.node.stop();
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const root = basic('root', ROOT_PASSWORD);

async function scrape(url: string, auth: string | undefined = root): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`, {
    ...(auth === undefined ? {} : { headers: { Authorization: auth } }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(text);
}

async function refused(url: string, auth: string | undefined): Promise<{ status: number; code: string }> {
  const r = await request(url, '/metrics', auth === undefined ? {} : { auth });
  const error = r.body['error'] as { code?: unknown; message?: unknown } | undefined;
  assert.equal(r.body['status'], 'error', JSON.stringify(r.body));
  assert.equal(typeof error?.message, 'string');
  return { status: r.status, code: String(error?.code) };
}

/** The README's metric reference: `| \`name\` | type | …` rows of the Metrics section. */
function documentedFamilies(): Map<string, MetricType> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## Metrics');
  assert.ok(start >= 0, 'the README has a "## Metrics" section');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const documented = new Map<string, MetricType>();
  for (const m of section.matchAll(/^\| `(kalam_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)) {
    documented.set(m[1]!, m[2] as MetricType);
  }
  assert.ok(documented.size > 20, `the reference lists the families (found ${documented.size})`);
  return documented;
}

test('the scrape is valid exposition text and holds exactly the documented kalam_ families', async () => {
  const families = await scrape(a.url);
  const exposed = new Map([...families].filter(([name]) => name.startsWith('kalam_')).map(([n, f]) => [n, f.type]));
  assert.deepEqual(new Map([...exposed].sort()), new Map([...documentedFamilies()].sort()));
  // The process's default metrics follow the node's.
  family(families, 'process_cpu_user_seconds_total', 'counter');
  family(families, 'nodejs_eventloop_lag_seconds', 'gauge');
  const info = family(families, 'kalam_node_info', 'gauge').samples;
  assert.deepEqual(info, [
    {
      name: 'kalam_node_info',
      labels: { node_id: '1', mode: 'standalone', version: 'metrics-test' },
      value: 1,
    },
  ]);
});

test('the HTTP counter of /v1/api/sql grows with requests, on its own node only', async () => {
  const labels = { method: 'POST', route: '/v1/api/sql', status: '200' };
  const beforeA = total(await scrape(a.url), 'kalam_http_requests_total', labels);
  const beforeB = total(await scrape(b.url), 'kalam_http_requests_total', labels);
  for (let i = 0; i < 3; i++) assert.equal((await sql(a.url, root, 'SHOW NAMESPACES')).status, 200);
  assert.equal((await sql(a.url, root, 'SELEC nonsense')).status, 400);
  const afterA = await scrape(a.url);
  assert.equal(total(afterA, 'kalam_http_requests_total', labels), beforeA + 3);
  assert.equal(total(afterA, 'kalam_http_requests_total', { route: '/v1/api/sql', status: '400' }), 1);
  const count = total(
    afterA,
    'kalam_http_request_duration_seconds',
    { route: '/v1/api/sql' },
    'kalam_http_request_duration_seconds_count',
  );
  assert.ok(count >= beforeA + 4, `the latency histogram counted every request (${count})`);
  // Another node of this process keeps its own registry.
  assert.equal(total(await scrape(b.url), 'kalam_http_requests_total', labels), beforeB);
  // A path nobody knows is one series, `other`, whatever it is.
  for (const path of ['/x/1', '/x/2', '/v1/api/sql/extra']) await request(a.url, path);
  const other = await scrape(a.url);
  assert.equal(total(other, 'kalam_http_requests_total', { route: 'other', status: '404' }), 3);
  const routes = new Set(family(other, 'kalam_http_requests_total', 'counter').samples.map((s) => s.labels['route']));
  for (const route of routes) assert.ok(route === 'other' || route!.startsWith('/'), String(route));
  assert.ok(!routes.has('/x/1'));
});

test('groups: role and applied index as GET /v1/api/cluster/status shows them', async () => {
  await sql(a.url, root, 'CREATE NAMESPACE IF NOT EXISTS grp');
  const status = (await request(a.url, '/v1/api/cluster/status', { auth: root })).body as unknown as ClusterStatus;
  const families = await scrape(a.url);
  assert.equal(status.groups.length, 36);
  for (const g of status.groups) {
    assert.equal(total(families, 'kalam_raft_group_applied_index', { group: g.name }), g.applied_index, g.name);
    assert.equal(total(families, 'kalam_raft_group_commit_index', { group: g.name }), g.commit_index, g.name);
    assert.equal(total(families, 'kalam_raft_group_role', { group: g.name, role: 'leader' }), 1, g.name);
    assert.equal(total(families, 'kalam_raft_group_role', { group: g.name }), 1, `${g.name}: one role in force`);
  }
  assert.ok(total(families, 'kalam_raft_group_applied_index', { group: 'meta:system' }) > 0);
});

test('live queries: the subscription gauge and the notification counter', async (t) => {
  const setup = await sql(
    a.url,
    root,
    [
      'CREATE NAMESPACE live',
      'CREATE TABLE live.items (id BIGINT PRIMARY KEY, label TEXT)',
      "CREATE USER 'lena' WITH PASSWORD 'lena-pass' ROLE user",
    ].join('; '),
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const before = await scrape(a.url);
  assert.equal(total(before, 'kalam_live_subscriptions'), 0);
  const notified = total(before, 'kalam_live_notifications_total');
  const client = await LiveClient.connect(a.url, { username: 'lena', password: 'lena-pass' });
  t.after(() => client.terminate());
  const sub = await client.subscribe('s1', 'SELECT * FROM live.items');
  const lena = basic('lena', 'lena-pass');
  for (let id = 1; id <= 2; id++) {
    assert.equal((await sql(a.url, lena, `INSERT INTO live.items (id, label) VALUES (${id}, 'x')`)).status, 200);
  }
  await sub.waitFor((s) => s.changes.length >= 2, 10_000);
  const during = await scrape(a.url);
  assert.equal(total(during, 'kalam_live_subscriptions'), 1);
  assert.equal(total(during, 'kalam_live_connections'), 1);
  assert.ok(total(during, 'kalam_live_notifications_total') >= notified + 2);
  assert.equal(total(await scrape(b.url), 'kalam_live_subscriptions'), 0);
  await client.close();
  await eventually(10_000, 'the subscription was released', async () =>
    total(await scrape(a.url), 'kalam_live_subscriptions') === 0 ? true : undefined,
  );
});

test('jobs are counted by type and status', async () => {
  await sql(a.url, root, 'CREATE NAMESPACE IF NOT EXISTS jobs_ns');
  const setup = await sql(a.url, root, 'CREATE TABLE jobs_ns.t (id BIGINT PRIMARY KEY)');
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const flush = await sql(a.url, root, 'FLUSH TABLE jobs_ns.t');
  assert.equal(flush.status, 200, JSON.stringify(flush.body));
  const jobId = String(rowsOf(flush)[0]![0]);
  const done = await eventually(15_000, `job ${jobId} finished`, async () => {
    const r = rowsOf(await sql(a.url, root, `SELECT job_type, status FROM system.jobs WHERE job_id = '${jobId}'`));
    return r[0]?.[1] === 'completed' ? r[0] : undefined;
  });
  const families = await scrape(a.url);
  const jobs = family(families, 'kalam_jobs', 'gauge');
  assert.ok(total(families, 'kalam_jobs', { type: String(done[0]), status: 'completed' }) >= 1, JSON.stringify(jobs));
  const listed = rowsOf(await sql(a.url, root, 'SELECT COUNT(*) FROM system.jobs'))[0]![0];
  assert.equal(total(families, 'kalam_jobs'), Number(listed));
});

test('who may scrape: root or the metrics token; everyone else is refused in the API error shape', async () => {
  const users = await sql(
    a.url,
    root,
    [
      "CREATE USER 'dana' WITH PASSWORD 'dana-pass' ROLE dba",
      "CREATE USER 'uma' WITH PASSWORD 'uma-pass' ROLE user",
      "CREATE USER 'sys2' WITH PASSWORD 'sys2-pass' ROLE system",
    ].join('; '),
  );
  assert.equal(users.status, 200, JSON.stringify(users.body));
  // Root with Basic, with a token from a login, and the metrics token.
  await scrape(a.url, root);
  const login = await request(a.url, '/v1/api/auth/login', { body: { username: 'root', password: ROOT_PASSWORD } });
  assert.equal(login.status, 200);
  await scrape(a.url, bearer(login.body['access_token'] as string));
  await scrape(a.url, bearer(METRICS_TOKEN));
  await scrape(a.url, `bearer   ${METRICS_TOKEN}`);
  // No credentials, a wrong password, a wrong or extended token: 401.
  assert.deepEqual(await refused(a.url, undefined), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(await refused(a.url, basic('root', 'wrong')), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(await refused(a.url, bearer(`${METRICS_TOKEN}x`)), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(await refused(a.url, bearer(METRICS_TOKEN.slice(1))), { status: 401, code: 'UNAUTHORIZED' });
  // The token is a bearer token, never a password, and a node without one configured knows none.
  assert.deepEqual(await refused(a.url, basic('root', METRICS_TOKEN)), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(await refused(b.url, bearer(METRICS_TOKEN)), { status: 401, code: 'UNAUTHORIZED' });
  // Other users, whatever their role: 403.
  for (const auth of [basic('dana', 'dana-pass'), basic('uma', 'uma-pass'), basic('sys2', 'sys2-pass')]) {
    assert.deepEqual(await refused(a.url, auth), { status: 403, code: 'PERMISSION_DENIED' });
  }
  // The metrics token opens /metrics only.
  assert.equal((await sql(a.url, bearer(METRICS_TOKEN), 'SHOW NAMESPACES')).status, 401);
  const status = await request(a.url, '/v1/api/cluster/status', { auth: bearer(METRICS_TOKEN) });
  assert.equal(status.status, 401);
  // Refusals are counted like any request.
  const families = await scrape(a.url);
  assert.equal(total(families, 'kalam_http_requests_total', { route: '/metrics', status: '401' }), 5);
  assert.equal(total(families, 'kalam_http_requests_total', { route: '/metrics', status: '403' }), 3);
  assert.equal((await request(a.url, '/metrics', { method: 'POST', auth: root, body: {} })).status, 405);
});
