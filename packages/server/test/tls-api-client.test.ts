// The API client side of [tls] (fetchTrusting: the node's join, and what the CLI uses): an HTTPS server whose
// certificate the trusted CA signed for the dialed name is served; one signed by another CA, an expired one and one
// for another name are refused — each against the same trusted CA, so only the certificate differs.
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { makeCa, makeLeaf } from '../src/certs.js';
import type { Pem } from '../src/certs.js';
import { fetchTrusting } from '../src/tls.js';

const ca = makeCa('client test CA');
const NAMES = ['127.0.0.1', 'localhost'];

async function getWith(serverCert: Pem): Promise<string> {
  const server = createServer({ cert: serverCert.cert, key: serverCert.key }, (_req, res) => res.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetchTrusting(`https://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) }, ca.cert);
    return await res.text();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test('a server certificate from the trusted CA for the dialed name is served', async () => {
  assert.equal(await getWith(makeLeaf(ca, 'api', NAMES)), 'hello');
});

test('a server certificate from another CA is refused', async () => {
  await assert.rejects(getWith(makeLeaf(makeCa('another CA'), 'api', NAMES)), /unable to verify|self[- ]signed/i);
});

test('an expired server certificate is refused', async () => {
  const expired = makeLeaf(ca, 'api', NAMES, {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  await assert.rejects(getWith(expired), /expired/i);
});

test('a server certificate for another name is refused', async () => {
  await assert.rejects(getWith(makeLeaf(ca, 'api', ['api.elsewhere.example'])), /altnames|does not match/i);
});
