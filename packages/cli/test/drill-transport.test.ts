/**
 * What each answer of the API means for the history: only answers given before anything was proposed are
 * `failed`; everything that may have taken effect is `unknown`. The HTTP transport turns a refused connection,
 * a timeout and a dropped connection into the matching TransportFailure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransportFailure, classifyFailure, classifyReply, httpTransport } from '../src/drill/transport.js';

const err = (status: number, code: string, message: string, details: unknown = null) => ({
  status,
  body: { status: 'error', results: [], error: { code, message, details } },
});

test('answers map to ok, failed or unknown', () => {
  assert.equal(classifyReply({ status: 200, body: { status: 'success', results: [] } }).outcome, 'ok');
  const cases: [ReturnType<typeof err>, string][] = [
    [err(400, 'INVALID_SQL', 'bad'), 'failed'],
    [err(400, 'SQL_EXECUTION_ERROR', 'duplicate key', { stateMachineCode: 'CONFLICT' }), 'failed'],
    [err(401, 'UNAUTHORIZED', 'no'), 'failed'],
    [err(503, 'NOT_LEADER', 'node 2 is not the leader', { raftCode: 'NOT_LEADER', outcomeUnknown: false }), 'failed'],
    [
      err(503, 'LEADER_NOT_AVAILABLE', 'group data:user:03 has no leader', { raftCode: 'LEADER_NOT_AVAILABLE' }),
      'failed',
    ],
    [
      err(503, 'LEADER_NOT_AVAILABLE', 'forwarding failed: socket hang up', { raftCode: 'LEADER_NOT_AVAILABLE' }),
      'unknown',
    ],
    [err(503, 'CLUSTER_UNAVAILABLE', 'the node is shutting down'), 'failed'],
    [
      err(503, 'CLUSTER_UNAVAILABLE', 'the node is shutting down', { raftCode: 'SHUTTING_DOWN', outcomeUnknown: true }),
      'unknown',
    ],
    [err(503, 'CLUSTER_UNAVAILABLE', 'timed out', { raftCode: 'TIMEOUT', outcomeUnknown: true }), 'unknown'],
    [err(500, 'INTERNAL_ERROR', 'boom'), 'unknown'],
  ];
  for (const [reply, outcome] of cases) {
    const c = classifyReply(reply);
    assert.equal(c.outcome, outcome, `${reply.status} ${reply.body.error.code} ${reply.body.error.message}`);
    if (c.outcome !== 'ok') assert.equal(c.reason, `${reply.status} ${reply.body.error.code}`);
  }
  assert.equal(classifyReply({ status: 502, body: 'not json' }).outcome, 'unknown');
  assert.equal(classifyFailure(new TransportFailure('refused', 'connection refused')).outcome, 'failed');
  assert.equal(classifyFailure(new TransportFailure('timeout', 'timeout')).outcome, 'unknown');
  assert.equal(classifyFailure(new TransportFailure('reset', 'connection lost: ECONNRESET')).outcome, 'unknown');
});

test('the HTTP transport: an answer, a refused connection, a timeout, a dropped connection', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    if (req.url === '/drop') return void req.socket.destroy();
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', results: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const reply = await httpTransport.post(base, '/ok', 'Bearer x', { sql: 'SELECT 1' }, 5_000);
  assert.deepEqual(reply, { status: 200, body: { status: 'success', results: [] } });
  const failure = async (url: string, path: string, timeoutMs: number): Promise<TransportFailure> => {
    try {
      await httpTransport.post(url, path, null, {}, timeoutMs);
    } catch (e) {
      assert.ok(e instanceof TransportFailure, String(e));
      return e;
    }
    assert.fail(`expected a TransportFailure from ${url}${path}`);
  };
  assert.equal((await failure(base, '/hang', 200)).kind, 'timeout');
  assert.equal((await failure(base, '/drop', 5_000)).kind, 'reset');
  // A port nothing listens on: bind one, note it, close it.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  assert.equal((await failure(`http://127.0.0.1:${port}`, '/x', 5_000)).kind, 'refused');
});
