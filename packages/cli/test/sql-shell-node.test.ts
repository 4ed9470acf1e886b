/**
 * `kalam sql` against a real standalone node (bin/kalam serve), mostly through bin/kalam in a child process. A
 * fake cluster folder lists a dead node 1 (a port nothing listens on) before the live node 2, so picking a node by
 * healthcheck is exercised on every cluster run. Proves: DDL / DML / SELECT one-shot output, --json is the API's
 * JSON, an SQL error and an unknown or unreachable cluster are one line with exit 1 / 2, a piped REPL session
 * (meta commands, a multi-line statement, an error that does not end it, \q), and that a write is re-sent to
 * another node only when the connection was refused, never after it went unanswered or got a 503, while a read
 * is; and, on a (simulated) terminal, the prompts and the saved history.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../src/main.js';
import { createOutput } from '../src/output.js';
import { SqlClient } from '../src/sql-shell/client.js';
import { runRepl } from '../src/sql-shell/repl.js';
import type { SqlTarget } from '../src/sql-shell/target.js';
import { bufferedContext } from './support/fakes.js';
import { freePort, KALAM_BIN, ROOT_PASSWORD, StandaloneNode } from './support/standalone.js';

/** A bin/kalam run that takes longer is hung (the machine is shared; a healthy run takes about a second). */
const RUN_TIMEOUT_MS = 60_000;

let node: StandaloneNode;
let cwd: string;
let deadUrl: string;

before(async () => {
  node = await StandaloneNode.start();
  deadUrl = `http://127.0.0.1:${await freePort()}`;
  cwd = mkdtempSync(join(tmpdir(), 'kalam-sql-cwd-'));
  const dir = join(cwd, '.kalam', 'clusters', 'demo');
  mkdirSync(dir, { recursive: true });
  const nodes = [
    { id: 1, apiUrl: deadUrl, rpcAddr: '127.0.0.1:1', configPath: '', dataDir: '', logPath: '' },
    { id: 2, apiUrl: node.apiUrl, rpcAddr: '127.0.0.1:2', configPath: '', dataDir: '', logPath: '' },
  ];
  const manifest = { name: 'demo', dir, clusterId: 'demo', createdAt: new Date(0).toISOString(), nodes };
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(manifest), { mode: 0o600 });
  writeFileSync(
    join(dir, 'credentials.json'),
    JSON.stringify({ user: 'root', password: ROOT_PASSWORD, clusterSecret: 'x' }),
  );
  writeFileSync(join(dir, 'supervisor.json'), JSON.stringify({ pid: 1, url: deadUrl, token: 't', startedAt: '' }));
});

after(async () => {
  await node.close();
  rmSync(cwd, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** bin/kalam in `cwd` with `input` on stdin; killed by PID if it outlives RUN_TIMEOUT_MS. */
function kalam(args: readonly string[], input = ''): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('KALAM_')) delete env[key];
  const proc = spawn(process.execPath, [KALAM_BIN, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  proc.stdin.end(input);
  const timer = setTimeout(() => proc.kill('SIGKILL'), RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function oneLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 1, text);
  return lines[0] ?? '';
}

test('one-shot on the running cluster: DDL and DML messages, then SELECT as an aligned table', async () => {
  const ddl = await kalam(['sql', 'CREATE NAMESPACE one; CREATE TABLE one.t (id BIGINT PRIMARY KEY, name TEXT)']);
  assert.equal(ddl.code, 0, ddl.stderr);
  assert.match(ddl.stdout, /^Namespace one created\n\nUSER table one\.t created\ntook [\d.]+ ms\n$/);
  // Node 1 is down: the healthcheck skipped it, and said so on stderr.
  assert.match(ddl.stderr, /node 1 \(http:\/\/127\.0\.0\.1:\d+\): connection refused; using node 2/);

  const insert = await kalam([
    'sql',
    '--cluster',
    'demo',
    "INSERT INTO one.t (id, name) VALUES (1, 'alice'), (20, NULL)",
  ]);
  assert.equal(insert.code, 0, insert.stderr);
  assert.match(insert.stdout, /^2 row\(s\) inserted\n/);

  const select = await kalam([
    'sql',
    '--dir',
    '.kalam/clusters/demo',
    '--namespace',
    'one',
    'SELECT id, name FROM t ORDER BY id',
  ]);
  assert.equal(select.code, 0, select.stderr);
  assert.deepEqual(select.stdout.split('\n').slice(0, 5), [
    ' id | name',
    '----+-------',
    '  1 | alice',
    ' 20 | NULL',
    '(2 rows)',
  ]);
});

test('--json prints the API answer as is (in process, --url with --password)', async () => {
  const { ctx, buffers } = bufferedContext();
  const args = ['sql', '--url', node.apiUrl, '--password', ROOT_PASSWORD, '--json'];
  assert.equal(
    await runCli([...args, 'CREATE NAMESPACE js; CREATE SHARED TABLE js.k (k TEXT PRIMARY KEY, v INT)'], ctx),
    0,
  );
  assert.equal(await runCli([...args, "INSERT INTO js.k (k, v) VALUES ('a', 1)"], ctx), 0);
  buffers.stdout = '';
  assert.equal(await runCli([...args, 'SELECT k, v FROM js.k'], ctx), 0, buffers.stderr);
  const answer = JSON.parse(oneLine(buffers.stdout)) as Record<string, unknown>;
  assert.equal(answer['status'], 'success');
  assert.equal(typeof answer['took'], 'number');
  assert.deepEqual(answer['results'], [
    {
      schema: [
        { name: 'k', data_type: 'Text', index: 0 },
        { name: 'v', data_type: 'Int', index: 1 },
      ],
      rows: [['a', 1]],
      row_count: 1,
    },
  ]);
});

test('an SQL error is one line on stderr and exit 1; --json still prints the error answer', async () => {
  const r = await kalam(['sql', 'SELECT * FROM nowhere.t']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(
    oneLine(r.stderr.replace(/^.*; using node 2 .*\n/, '')),
    /^error: (TABLE|NAMESPACE)_NOT_FOUND: .*nowhere/,
  );

  const j = await kalam(['sql', '--cluster', 'demo', '--node', '2', '--json', 'SELEC 1']);
  assert.equal(j.code, 1);
  const answer = JSON.parse(oneLine(j.stdout)) as { status: string; error: { code: string } };
  assert.equal(answer.status, 'error');
  assert.match(oneLine(j.stderr), new RegExp(`^error: ${answer.error.code}: `));

  const auth = await kalam(['sql', '--url', node.apiUrl, '--password', 'wrong', 'SHOW TABLES']);
  assert.equal(auth.code, 1);
  assert.match(oneLine(auth.stderr), /^error: [A-Z_]+: /);
});

test('an unknown cluster, a dead node and a cluster with no live node are one line and exit 2', async () => {
  const unknown = await kalam(['sql', '--cluster', 'nope', 'SHOW TABLES']);
  assert.equal(unknown.code, 2);
  assert.match(oneLine(unknown.stderr), /^error: no cluster at .*nope/);

  const dead = await kalam(['sql', '--cluster', 'demo', '--node', '1', 'SHOW TABLES']);
  assert.equal(dead.code, 2);
  assert.match(oneLine(dead.stderr), /^error: cannot reach node 1 \(http:\/\/127\.0\.0\.1:\d+\): connection refused$/);

  const bad = await kalam(['sql', '--cluster', 'demo', '--url', node.apiUrl, 'SHOW TABLES']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trimEnd().split('\n').length, 1, bad.stderr);
});

test('a piped REPL session: \\dt, \\d, a multi-line statement, an error that does not end it, \\q', async () => {
  const script = [
    'CREATE NAMESPACE repl;',
    'USE repl;',
    'CREATE TABLE notes (id BIGINT PRIMARY KEY,',
    "  body TEXT); INSERT INTO notes (id, body) VALUES (7, 'semi; colon'),",
    "  (8, 'two",
    "lines');",
    '\\dt repl',
    '\\d notes',
    'SELECT * FROM missing;',
    'SELECT body',
    '  FROM notes -- a comment; not the end',
    '  WHERE id = 7;',
    '\\q',
    'SELECT 1 FROM notes;',
  ].join('\n');
  const r = await kalam(['sql', '--cluster', 'demo'], script);
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 2, r.stderr);
  assert.match(errors[0] ?? '', /^error: (TABLE|NAMESPACE)_NOT_FOUND: .*missing/);
  assert.equal(errors[1], 'error: 1 of 8 statements failed');
  const out = r.stdout;
  assert.match(out, /Namespace repl created/);
  assert.match(out, /Using namespace repl/);
  assert.match(out, /USER table repl\.notes created/);
  assert.match(out, /2 row\(s\) inserted/);
  assert.match(
    out,
    /\n namespace_id \| table_name \| table_type \| created_at\n-+\+.*\n repl {9}\| notes {6}\| USER {7}\| \d{4}-/,
  );
  assert.match(out, /\n id {10}\| BigInt {4}\| false {7}\| true /);
  assert.match(out, /\n body\n-+\n semi; colon\n\(1 row\)\n/);
  // \q ended the session: the SELECT after it (two rows) never ran; \d printed the only "(2 rows)".
  assert.equal(out.match(/\(2 rows\)/g)?.length, 1);
});

/** An HTTP server that accepts requests and never answers them; `seen` counts the ones it got. */
async function hangingServer(): Promise<{ server: Server; url: string; seen: () => number }> {
  let seen = 0;
  const server = createServer((req) => {
    seen++;
    req.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, seen: () => seen };
}

test('falling over: a refused connection moves any statement on; an unanswered write is not re-sent, a read is', async (t) => {
  const hang = await hangingServer();
  t.after(() => {
    hang.server.closeAllConnections();
    hang.server.close();
  });
  const notes: string[] = [];
  const out = createOutput({ stdout: { write: () => true }, stderr: { write: (s: string) => notes.push(s) }, env: {} });
  const target = (first: string): SqlTarget => ({
    label: 'cluster test',
    endpoints: [
      { nodeId: 1, apiUrl: first },
      { nodeId: 2, apiUrl: node.apiUrl },
    ],
    user: 'root',
    password: ROOT_PASSWORD,
    historyPath: '',
    clusterDown: false,
  });
  await runCli(
    [
      'sql',
      '--url',
      node.apiUrl,
      '--password',
      ROOT_PASSWORD,
      'CREATE NAMESPACE fo; CREATE TABLE fo.t (id BIGINT PRIMARY KEY)',
    ],
    bufferedContext().ctx,
  );

  // Refused: nothing was sent, so even a write goes to node 2.
  const refused = new SqlClient(target(deadUrl), out, { requestTimeoutMs: 20_000 });
  const written = await refused.execute('INSERT INTO fo.t (id) VALUES (1)', null);
  assert.equal(written.response.status, 'success', written.body);
  assert.equal(written.endpoint.nodeId, 2);
  assert.equal(refused.endpoint.nodeId, 2);
  assert.match(notes.join(''), /node 1 .*connection refused; using node 2/);

  // Unanswered write: the outcome is unknown, so it is not re-sent.
  const hung = new SqlClient(target(hang.url), out, { requestTimeoutMs: 1_500 });
  await assert.rejects(hung.execute('INSERT INTO fo.t (id) VALUES (2)', null), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SQL_UNREACHABLE');
    assert.match(err.message, /node 1 .*no answer within 1500 ms; the statement may or may not have been applied/);
    return true;
  });
  assert.equal(hang.seen(), 1);

  // Unanswered read: harmless to ask node 2, which has row 1 and not row 2.
  const read = await hung.execute('SELECT id FROM fo.t ORDER BY id', null);
  assert.equal(hang.seen(), 2);
  assert.equal(read.endpoint.nodeId, 2);
  assert.deepEqual(read.response.results?.[0]?.rows, [[1]]);

  // 503 (a draining node): a read moves on, a write gets the error answer back and is not re-sent.
  const draining = createServer((req, res) => {
    req.resume();
    const body = JSON.stringify({ status: 'error', results: [], error: { code: 'CLUSTER_UNAVAILABLE', message: 'x' } });
    res.writeHead(503, { 'Content-Type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => draining.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    draining.closeAllConnections();
    draining.close();
  });
  const address = draining.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const unavailable = new SqlClient(target(`http://127.0.0.1:${port}`), out, { requestTimeoutMs: 20_000 });
  const refusedWrite = await unavailable.execute('INSERT INTO fo.t (id) VALUES (3)', null);
  assert.equal(refusedWrite.httpStatus, 503);
  assert.equal(refusedWrite.endpoint.nodeId, 1);
  assert.equal(refusedWrite.response.error?.code, 'CLUSTER_UNAVAILABLE');
  const reread = await unavailable.execute('SELECT id FROM fo.t', null);
  assert.equal(reread.endpoint.nodeId, 2);
  assert.deepEqual(reread.response.results?.[0]?.rows, [[1]]);
});

test('on a terminal the REPL prompts, continues a statement with ->, and saves its history', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-sql-tty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const historyPath = join(dir, 'history');
  writeFileSync(historyPath, 'SHOW STORAGES;\n');
  const input = new PassThrough();
  const terminal = new PassThrough();
  let screen = '';
  terminal.setEncoding('utf8').on('data', (s: string) => (screen += s));
  const { ctx, buffers } = bufferedContext();
  const client = new SqlClient(
    {
      label: node.apiUrl,
      endpoints: [{ nodeId: null, apiUrl: node.apiUrl }],
      user: 'root',
      password: ROOT_PASSWORD,
      historyPath,
      clusterDown: false,
    },
    ctx.out,
  );
  const done = runRepl(client, ctx.out, {
    input,
    interactive: true,
    terminalOutput: terminal,
    json: false,
    namespace: null,
    historyPath,
  });
  input.write('SHOW\r');
  input.write('NAMESPACES;\r');
  input.write('\\q\r');
  const summary = await done;
  assert.deepEqual(summary, { ran: 1, failed: 0 });
  assert.match(
    buffers.stdout,
    /^ namespace_id \| table_count \| created_by \| created_at\n-+\+[-+]+\n(.*\n)*\(\d+ rows?\)\n/,
  );
  assert.match(screen, /kalam> /);
  assert.match(screen, / {4}-> /);
  assert.deepEqual(readFileSync(historyPath, 'utf8').split('\n'), ['SHOW STORAGES;', 'SHOW', 'NAMESPACES;', '\\q', '']);
});
