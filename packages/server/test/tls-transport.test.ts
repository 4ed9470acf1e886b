// The Raft transport over TLS ([M10] §1): two transports with certificates from one CA connect (over IPv4 and over
// ::1) and carry envelopes and requests; a plaintext peer, a peer whose certificate another CA signed, an expired
// one and one for another name are refused; with require_client_cert a dialer without a certificate (or with one
// from another CA) is refused, and without it the same dialer gets through TLS (so the refusal is the setting's).
// Each refusal has a twin that connects with the good certificate, so none of these can pass by never connecting.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { nodeId } from '@kalam/raft';
import { Transport } from '@kalam/transport';
import type { TransportTls } from '@kalam/transport';
import { WebSocket } from 'ws';

import { makeCa, makeLeaf } from '../src/certs.js';
import type { Pem } from '../src/certs.js';

const CLUSTER = 'tls-test';
const SECRET = 'tls-test-secret-0123456789';
const NAMES = ['127.0.0.1', '::1', 'localhost'];
/** Long enough for a good pair to connect many times over on a loaded machine; a refused pair never does. */
const CONNECT_MS = 8_000;
const REFUSED_MS = 2_500;

const ca = makeCa('kalam test CA');
const otherCa = makeCa('some other CA');
const good1 = makeLeaf(ca, 'node 1', NAMES);
const good2 = makeLeaf(ca, 'node 2', NAMES);

function tlsOf(leaf: Pem, requireClientCert = true, trust: Pem = ca): TransportTls {
  return { cert: leaf.cert, key: leaf.key, ca: trust.cert, requireClientCert };
}

interface Logged {
  event: string;
  fields: Record<string, unknown>;
}

function transport(id: number, host: string, tls: TransportTls | undefined, logs: Logged[]): Transport {
  return new Transport({
    nodeId: nodeId(id),
    clusterId: CLUSTER,
    secret: SECRET,
    listen: { host, port: 0 },
    peers: [],
    onEnvelopes: () => undefined,
    onRequest: (from, _method, body) => Promise.resolve({ from, body }),
    limits: { reconnectBackoffMinMs: 50, reconnectBackoffMaxMs: 200 },
    ...(tls !== undefined && { tls }),
    log: (_level, event, fields) => logs.push({ event, fields }),
  });
}

interface Pair {
  readonly server: Transport;
  readonly dialer: Transport;
  readonly serverLogs: Logged[];
  readonly dialerLogs: Logged[];
  close(): Promise<void>;
}

/** Node 1 listens with `server`'s TLS; node 2 dials it with `dialer`'s (undefined: plain ws). */
async function pair(
  server: TransportTls | undefined,
  dialer: TransportTls | undefined,
  host = '127.0.0.1',
): Promise<Pair> {
  const serverLogs: Logged[] = [];
  const dialerLogs: Logged[] = [];
  const a = transport(1, host, server, serverLogs);
  const b = transport(2, host, dialer, dialerLogs);
  const { port: portA } = await a.start();
  const { port: portB } = await b.start();
  a.addPeer({ nodeId: nodeId(2), host, port: portB });
  b.addPeer({ nodeId: nodeId(1), host, port: portA });
  return {
    server: a,
    dialer: b,
    serverLogs,
    dialerLogs,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return condition();
}

async function expectConnects(p: Pair): Promise<void> {
  assert.ok(await waitUntil(() => p.dialer.peerConnected(nodeId(1)), CONNECT_MS), 'node 2 connects to node 1');
  assert.deepEqual(await p.dialer.request(nodeId(1), 'echo', 'over tls', 5_000), { from: 2, body: 'over tls' });
}

async function expectRefused(p: Pair, what: RegExp): Promise<void> {
  assert.equal(await waitUntil(() => p.dialer.peerConnected(nodeId(1)), REFUSED_MS), false, 'never connects');
  const errors = [...p.dialerLogs, ...p.serverLogs]
    .filter((l) => l.event === 'link_error' || l.event === 'handshake_refused')
    .map((l) => JSON.stringify([l.fields['error'], l.fields['detail']]));
  assert.ok(
    errors.some((e) => what.test(e)),
    `a TLS error matching ${what} was logged; got ${JSON.stringify(errors.slice(0, 4))}`,
  );
}

test('two nodes with certificates from the cluster CA connect over TLS (mutual)', async () => {
  const p = await pair(tlsOf(good1), tlsOf(good2));
  try {
    await expectConnects(p);
    assert.ok(p.dialer.peerConnected(nodeId(1)));
  } finally {
    await p.close();
  }
});

test('TLS works on IPv6 (::1)', async () => {
  const p = await pair(tlsOf(good1), tlsOf(good2), '::1');
  try {
    await expectConnects(p);
  } finally {
    await p.close();
  }
});

test('a plaintext peer is refused by a TLS transport', async () => {
  const p = await pair(tlsOf(good1), undefined);
  try {
    await expectRefused(p, /./);
    assert.ok(p.server.stats().handshakesRefused > 0, 'the TLS side counted the refused handshake');
  } finally {
    await p.close();
  }
});

test('a server certificate signed by another CA is refused by the dialer', async () => {
  const p = await pair(tlsOf(makeLeaf(otherCa, 'node 1', NAMES)), tlsOf(good2));
  try {
    await expectRefused(p, /self[- ]signed|unable to (verify|get)|certificate/i);
  } finally {
    await p.close();
  }
});

test('an expired server certificate is refused', async () => {
  const expired = makeLeaf(ca, 'node 1', NAMES, {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const p = await pair(tlsOf(expired), tlsOf(good2));
  try {
    await expectRefused(p, /expired/i);
  } finally {
    await p.close();
  }
});

test('a server certificate for another name is refused', async () => {
  const p = await pair(tlsOf(makeLeaf(ca, 'node 1', ['node1.elsewhere.example'])), tlsOf(good2));
  try {
    await expectRefused(p, /altnames|does not match|hostname/i);
  } finally {
    await p.close();
  }
});

test('with require_client_cert a dialer with a client certificate from another CA, or an expired one, is refused', async () => {
  const foreignLeaf = makeLeaf(otherCa, 'node 2', NAMES);
  const p = await pair(tlsOf(good1), { ...tlsOf(good2), cert: foreignLeaf.cert, key: foreignLeaf.key });
  try {
    await expectRefused(p, /./);
    assert.ok(p.serverLogs.some((l) => l.event === 'handshake_refused' && l.fields['reason'] === 'tls'));
  } finally {
    await p.close();
  }
  const expiredLeaf = makeLeaf(ca, 'node 2', NAMES, {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const q = await pair(tlsOf(good1), { ...tlsOf(good2), cert: expiredLeaf.cert, key: expiredLeaf.key });
  try {
    await expectRefused(q, /./);
    assert.ok(q.serverLogs.some((l) => l.event === 'handshake_refused' && l.fields['reason'] === 'tls'));
  } finally {
    await q.close();
  }
});

/** A wss client that trusts the CA and presents no certificate: does its TLS handshake with node 1 go through? */
async function bareClientOpens(requireClientCert: boolean): Promise<boolean> {
  const logs: Logged[] = [];
  const a = transport(1, '127.0.0.1', tlsOf(good1, requireClientCert), logs);
  const { port } = await a.start();
  try {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/raft`, { ca: ca.cert, handshakeTimeout: 5_000 });
    const outcome = await new Promise<'open' | 'closed'>((resolve) => {
      ws.on('open', () => resolve('open'));
      ws.on('error', () => resolve('closed'));
      ws.on('close', () => resolve('closed'));
    });
    ws.terminate();
    return outcome === 'open';
  } finally {
    await a.close();
  }
}

test('require_client_cert refuses a peer without a client certificate; without the setting TLS lets it through', async () => {
  assert.equal(await bareClientOpens(true), false, 'refused with require_client_cert');
  assert.equal(await bareClientOpens(false), true, 'the TLS handshake succeeds without require_client_cert');
});
