// [M10] §1 end to end: a 3-node cluster of real `kalam serve` processes on IPv6, listening on the wildcard [::]
// (api_bind, rpc_bind) and advertising ::1, with [tls] and require_client_cert. Its ready lines give https URLs; a
// write through node 1 is read through nodes 2 and 3 (so the Raft transport carries it over mutual TLS); a client
// that trusts the CA is served, one that does not is refused, and plain HTTP to the HTTPS port is answered 400 "use https://". Then a fourth
// node joins through an https member URL (join trusts ca_file) and serves the same rows, and a fifth joins through
// a member's RPC address (presenting its certificate to the mutual-TLS port, which answers with the API URL).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeCa, makeLeaf } from '../src/certs.js';
import { fetchTrusting } from '../src/tls.js';
import { basic, eventually } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const ca = makeCa('tls-cluster test CA');

async function sqlOver(url: string, text: string, trust: string | undefined): Promise<Record<string, unknown>> {
  const res = await fetchTrusting(
    `${url}/v1/api/sql`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: root },
      body: JSON.stringify({ sql: text }),
      signal: AbortSignal.timeout(15_000),
    },
    trust,
  );
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

function rows(body: Record<string, unknown>): unknown[][] {
  const results = body['results'] as { rows: unknown[][] }[];
  return results[results.length - 1]?.rows ?? [];
}

test('a TLS cluster on IPv6 with wildcard binds: https URLs, replication over mutual TLS, untrusted clients refused, a join', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'kalam-tls-cluster-'));
  t.after(() => rmSync(certs, { recursive: true, force: true }));
  writeFileSync(join(certs, 'ca.pem'), ca.cert);
  const tlsToml = (id: number): string => {
    const leaf = makeLeaf(ca, `node ${id}`, ['::1', '127.0.0.1', 'localhost']);
    writeFileSync(join(certs, `node${id}.pem`), leaf.cert);
    writeFileSync(join(certs, `node${id}.key`), leaf.key, { mode: 0o600 });
    const file = (name: string): string => JSON.stringify(join(certs, name));
    return (
      `[tls]\ncert_file = ${file(`node${id}.pem`)}\nkey_file = ${file(`node${id}.key`)}\n` +
      `ca_file = ${file('ca.pem')}\nrequire_client_cert = true\n`
    );
  };
  const nodes = await KalamNodes.start({ members: 3, host: '::1', bindAll: true, extraToml: tlsToml });
  t.after(() => nodes.close());
  const urls = [1, 2, 3].map((id) => nodes.url(id));

  await t.test('every ready line gives an https URL on the advertised [::1]', () => {
    for (const url of urls) assert.match(url, /^https:\/\/\[::1\]:\d+$/);
  });

  await t.test('a write through node 1 is read through nodes 2 and 3', async () => {
    await sqlOver(urls[0] ?? '', 'CREATE NAMESPACE app; CREATE TABLE app.t (id BIGINT PRIMARY KEY, v TEXT)', ca.cert);
    await sqlOver(urls[0] ?? '', "INSERT INTO app.t (id, v) VALUES (1, 'over tls')", ca.cert);
    for (const url of urls.slice(1)) {
      assert.deepEqual(rows(await sqlOver(url, 'SELECT id, v FROM app.t', ca.cert)), [[1, 'over tls']]);
    }
  });

  await t.test(
    'a client that does not trust the CA is refused; plain HTTP to the HTTPS port is told to use https',
    async () => {
      const url = urls[1] ?? '';
      await assert.rejects(fetch(`${url}/v1/api/health/live`), (err: Error) => {
        assert.match(String((err.cause as Error | undefined)?.message ?? err.message), /self[- ]signed|certificate/i);
        return true;
      });
      await assert.rejects(
        fetchTrusting(`${url}/v1/api/health/live`, {}, makeCa('another CA').cert),
        /self[- ]signed|certificate/i,
      );
      const plain = await fetch(`${url.replace('https:', 'http:')}/v1/api/health/live`);
      assert.equal(plain.status, 400);
      assert.match(await plain.text(), /serves HTTPS only: use https:\/\//);
    },
  );

  await t.test('a node joins through an https member URL and serves the rows', async () => {
    await nodes.prepareJoiner(4, urls[0] ?? '');
    await nodes.startNode(4);
    const joined = nodes.url(4);
    assert.match(joined, /^https:\/\//);
    await eventually(60_000, 'the joined node serves the row', async () => {
      const res = await fetchTrusting(
        `${joined}/v1/api/sql`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: root },
          body: JSON.stringify({ sql: 'SELECT id, v FROM app.t' }),
          signal: AbortSignal.timeout(10_000),
        },
        ca.cert,
      );
      const body = (await res.json()) as Record<string, unknown>;
      return res.status === 200 && JSON.stringify(rows(body)) === JSON.stringify([[1, 'over tls']]) ? true : undefined;
    });
  });

  await t.test("a node joins through a member's RPC address (its TLS port wants a client certificate)", async () => {
    await nodes.prepareJoiner(5, nodes.rpcAddress(2));
    await nodes.startNode(5);
    assert.match(nodes.url(5), /^https:\/\//);
    const body = await sqlOver(nodes.url(5), 'SELECT id, v FROM app.t', ca.cert);
    assert.deepEqual(rows(body), [[1, 'over tls']]);
  });
});
