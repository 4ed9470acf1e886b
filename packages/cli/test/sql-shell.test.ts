/**
 * The pieces of `kalam sql` that need no server: statement boundaries (quotes, comments, lines), which batches
 * only read, `USE`, meta commands, table rendering (alignment, NULL, escapes, truncation on a terminal only),
 * picking the cluster folder and credentials, and the bounded history file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, ExitCode } from '../src/errors.js';
import { createOutput } from '../src/output.js';
import { loadHistory, saveHistory } from '../src/sql-shell/history.js';
import { renderResult } from '../src/sql-shell/render.js';
import { parseMeta } from '../src/sql-shell/repl.js';
import { isReadOnly, splitStatements, StatementSplitter, useNamespaceOf } from '../src/sql-shell/statements.js';
import { resolveTarget } from '../src/sql-shell/target.js';
import type { TargetEnv } from '../src/sql-shell/target.js';

test('a statement ends at a ; outside quotes and comments, and may span lines', () => {
  const s = new StatementSplitter();
  assert.deepEqual(s.push('INSERT INTO t VALUES (\'a;b\', "x;""y") -- c;'), []);
  assert.equal(s.empty, false);
  assert.deepEqual(s.push("/* ; */ ; SELECT 'it''s;"), ['INSERT INTO t VALUES (\'a;b\', "x;""y") -- c;\n/* ; */']);
  assert.deepEqual(s.push("still a string;' FROM t; SELECT 2"), ["SELECT 'it''s;\nstill a string;' FROM t"]);
  assert.equal(s.flush(), 'SELECT 2');
  assert.equal(s.empty, true);
  assert.deepEqual(splitStatements(' ; ;SELECT 1;  '), ['SELECT 1']);
});

test('only SELECT, SHOW and DESCRIBE batches count as reads (they may be re-sent to another node)', () => {
  assert.equal(isReadOnly('SELECT * FROM a.t'), true);
  assert.equal(isReadOnly('-- note\nshow tables; /* x */ DESCRIBE TABLE a.t; desc a.t'), true);
  assert.equal(isReadOnly('SELECT 1; INSERT INTO a.t VALUES (1)'), false);
  assert.equal(isReadOnly("EXECUTE AS USER 'u' (SELECT * FROM a.t)"), false);
  assert.equal(isReadOnly('UPDATE a.t SET v = 1'), false);
  assert.equal(isReadOnly('  '), false);
});

test('USE names the namespace of later REPL statements', () => {
  assert.equal(useNamespaceOf('use app'), 'app');
  assert.equal(useNamespaceOf('USE NAMESPACE "My ""ns"""'), 'My "ns"');
  assert.equal(useNamespaceOf('-- c\nUSE x1'), 'x1');
  assert.equal(useNamespaceOf('USER'), null);
  assert.equal(useNamespaceOf('SELECT 1'), null);
});

test('meta commands map to SHOW / DESCRIBE, quit and help', () => {
  assert.deepEqual(parseMeta('\\dt'), { kind: 'sql', sql: 'SHOW TABLES' });
  assert.deepEqual(parseMeta('\\dt app;'), { kind: 'sql', sql: 'SHOW TABLES IN app' });
  assert.deepEqual(parseMeta('  \\d app.t'), { kind: 'sql', sql: 'DESCRIBE TABLE app.t' });
  assert.deepEqual(parseMeta('\\d'), { kind: 'sql', sql: 'SHOW TABLES' });
  assert.deepEqual(parseMeta('\\dn'), { kind: 'sql', sql: 'SHOW NAMESPACES' });
  assert.deepEqual(parseMeta('\\q'), { kind: 'quit' });
  assert.deepEqual(parseMeta('\\?'), { kind: 'help' });
  assert.deepEqual(parseMeta('\\zz x'), { kind: 'unknown', text: '\\zz' });
});

function output(tty: boolean, columns?: number) {
  const sink = { text: '', isTTY: tty, ...(columns !== undefined ? { columns } : {}), write: (t: string) => t };
  return createOutput({ stdout: sink, stderr: sink, env: { NO_COLOR: '1' } });
}

const RESULT = {
  schema: [
    { name: 'id', data_type: 'BigInt', index: 0 },
    { name: 'name', data_type: 'Text', index: 1 },
    { name: 'at', data_type: 'Timestamp', index: 2 },
  ],
  rows: [
    [1, 'alice', 0],
    [220, `two\nlines ${'x'.repeat(100)}`, null],
  ],
  row_count: 2,
};

test('a result set renders as an aligned table: numbers right, NULL as NULL, control characters escaped', () => {
  const lines = renderResult(output(false), RESULT);
  const long = `two\\nlines ${'x'.repeat(100)}`;
  assert.deepEqual(lines, [
    ` id  | ${'name'.padEnd(long.length)} | at`,
    `-----+-${'-'.repeat(long.length)}-+-${'-'.repeat(24)}-`,
    `   1 | ${'alice'.padEnd(long.length)} | 1970-01-01T00:00:00.000Z`,
    ` 220 | ${long} | NULL`,
    '(2 rows)',
  ]);
});

test('on a terminal, long cells are cut and the table is fitted to its width', () => {
  const lines = renderResult(output(true, 60), RESULT);
  for (const line of lines) assert.ok(line.length <= 60, line);
  assert.match(lines[3] ?? '', /^ 220 \| two\\nlines x+… \| NULL$/);
  assert.equal(lines.length, 5);
});

test('statements without a result set print their message, or the rows they affected', () => {
  const out = output(false);
  assert.deepEqual(renderResult(out, { schema: [], rows: [], row_count: 2, message: '2 row(s) inserted' }), [
    '2 row(s) inserted',
  ]);
  assert.deepEqual(renderResult(out, { schema: [], rows: [], row_count: 1, as_user: 'u1' }), [
    'OK, 1 row affected as user u1',
  ]);
  assert.deepEqual(
    renderResult(out, { schema: [{ name: 'a', data_type: 'Text', index: 0 }], rows: [], row_count: 0 }),
    [' a', '---', '(0 rows)'],
  );
});

/** A cwd with .kalam/clusters/NAME folders; `running` ones have a supervisor.json. */
function clusters(names: readonly string[], running: readonly string[]): { env: TargetEnv; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'kalam-sql-target-'));
  for (const name of names) {
    const dir = join(root, '.kalam', 'clusters', name);
    mkdirSync(dir, { recursive: true });
    const nodes = [2, 1].map((id) => ({
      id,
      apiUrl: `http://127.0.0.1:${9000 + id}/`,
      rpcAddr: `127.0.0.1:${9100 + id}`,
    }));
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ name, dir, clusterId: name, createdAt: '', nodes }));
    writeFileSync(
      join(dir, 'credentials.json'),
      JSON.stringify({ user: 'root', password: `pw-${name}`, clusterSecret: 's' }),
    );
    if (running.includes(name))
      writeFileSync(
        join(dir, 'supervisor.json'),
        JSON.stringify({ pid: process.pid, url: 'http://127.0.0.1:1', token: 't', startedAt: '' }),
      );
  }
  return { env: { cwd: root, env: {}, home: join(root, 'home') }, root };
}

function cliError(fn: () => unknown, code: string, exit: number, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CliError);
    assert.equal(err.code, code);
    assert.equal(err.exitCode, exit);
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

test('the cluster folder: --cluster, --dir, or the one running cluster; nodes in id order, its credentials', (t) => {
  const { env, root } = clusters(['a', 'b'], ['b']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const byDefault = resolveTarget({}, env);
  assert.equal(byDefault.label, 'cluster b');
  assert.deepEqual(byDefault.endpoints, [
    { nodeId: 1, apiUrl: 'http://127.0.0.1:9001' },
    { nodeId: 2, apiUrl: 'http://127.0.0.1:9002' },
  ]);
  assert.equal(byDefault.password, 'pw-b');
  assert.equal(byDefault.clusterDown, false);
  assert.equal(byDefault.historyPath, join(root, '.kalam', 'clusters', 'b', 'sql_history'));

  const a = resolveTarget({ cluster: 'a', node: 2 }, env);
  assert.deepEqual(a.endpoints, [{ nodeId: 2, apiUrl: 'http://127.0.0.1:9002' }]);
  assert.equal(a.clusterDown, true);
  assert.equal(resolveTarget({ dir: '.kalam/clusters/a', user: 'bob', password: 'x' }, env).password, 'x');

  cliError(() => resolveTarget({ cluster: 'a', node: 3 }, env), 'USAGE', ExitCode.Usage, /has no node 3/);
  cliError(() => resolveTarget({ cluster: 'a', user: 'bob' }, env), 'USAGE', ExitCode.Usage, /no password for bob/);
  cliError(() => resolveTarget({ cluster: 'zz' }, env), 'CLUSTER_NOT_FOUND', ExitCode.Usage, /no cluster at .*zz/);
});

test('no running cluster means `default`; two running clusters are ambiguous', (t) => {
  const none = clusters(['a'], []);
  const two = clusters(['a', 'b'], ['a', 'b']);
  t.after(() => {
    rmSync(none.root, { recursive: true, force: true });
    rmSync(two.root, { recursive: true, force: true });
  });
  cliError(() => resolveTarget({}, none.env), 'CLUSTER_NOT_FOUND', ExitCode.Usage, /default/);
  cliError(() => resolveTarget({}, two.env), 'USAGE', ExitCode.Usage, /several clusters are running \(a, b\)/);
});

test('--url: user root with the password from KALAM_ROOT_PASSWORD unless --password is given', () => {
  const env: TargetEnv = { cwd: '/', env: { KALAM_ROOT_PASSWORD: 'envpw' }, home: '/home/x' };
  const t = resolveTarget({ url: 'http://127.0.0.1:8080/v1' }, env);
  assert.deepEqual(t.endpoints, [{ nodeId: null, apiUrl: 'http://127.0.0.1:8080' }]);
  assert.equal(t.user, 'root');
  assert.equal(t.password, 'envpw');
  assert.equal(t.historyPath, join('/home/x', '.kalam_history'));
  assert.equal(resolveTarget({ url: 'http://h:1', password: 'p' }, env).password, 'p');
  cliError(() => resolveTarget({ url: 'http://h:1' }, { ...env, env: {} }), 'USAGE', ExitCode.Usage, /KALAM_ROOT/);
  cliError(() => resolveTarget({ url: 'ftp://h' }, env), 'USAGE', ExitCode.Usage, /not an http URL/);
  cliError(() => resolveTarget({ url: 'http://h:1', node: 1 }, env), 'USAGE', ExitCode.Usage, /--node/);
});

test('the history file keeps the newest entries, oldest first on disk, mode 0600', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-sql-history-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'h');
  assert.deepEqual(loadHistory(path), []);
  saveHistory(path, ['c;', 'b;', 'a;'], 2);
  assert.equal(readFileSync(path, 'utf8'), 'b;\nc;\n');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  writeFileSync(path, 'one\ntwo\n\nthree\n');
  assert.deepEqual(loadHistory(path, 2), ['three', 'two']);
});
