/**
 * Test harness: real Transports on 127.0.0.1 with ports chosen at run time, inboxes that record what arrived,
 * raw ws clients for hostile traffic, and a bounded `waitFor`. Every helper that opens something hands back
 * a way to close it; tests close everything in t.after.
 */
import { nodeId } from '@kalam/raft';
import type { NodeId } from '@kalam/raft';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { encodeValue } from '../../src/codec.js';
import { createHello } from '../../src/handshake.js';
import { Transport } from '../../src/index.js';
import type { Envelope, PeerAddress, TransportOptions } from '../../src/index.js';

export const CLUSTER_ID = 'test-cluster';
export const SECRET = 'test-secret';
export const HOST = '127.0.0.1';

/**
 * Ports for a cluster whose members must know each other's address before they start: bind port 0 as many times
 * as asked (all at once, so they differ), read the ports, release them.
 */
export async function reservePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, HOST, resolve))));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Polls `condition` every 2 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Resolves when `promise` settles or after `timeoutMs`, whichever is first; the timer is cleared either way, so
 * a long bound does not keep the test process alive after the promise won.
 */
export async function within(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Received {
  readonly from: NodeId;
  readonly env: Envelope;
  readonly atMs: number;
}

export interface LogLine {
  readonly level: string;
  readonly event: string;
  readonly fields: Record<string, unknown>;
}

/** An error like the ones RaftManager's handlers throw: a stable code and structured fields. */
export class CodedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly leaderHint: number,
  ) {
    super(message);
  }
}

/** The request handler every test node runs. */
export async function testHandler(from: NodeId, method: string, body: unknown): Promise<unknown> {
  switch (method) {
    case 'echo':
      return { from, body };
    case 'fail':
      throw new CodedError('NOT_LEADER', 'not the leader; try node 3', 3);
    case 'sleep':
      await sleep(typeof body === 'number' ? body : 0);
      return 'slept';
    default:
      throw new Error(`unknown method ${method}`);
  }
}

export type NodeOverrides = Partial<Omit<TransportOptions, 'nodeId' | 'listen' | 'peers' | 'onEnvelopes' | 'log'>>;

/** One member: a Transport plus what it received, the peer statuses it saw and its log lines. */
export class TestNode {
  readonly received: Received[] = [];
  readonly statuses: { peer: NodeId; status: string }[] = [];
  readonly logs: LogLine[] = [];
  transport: Transport;

  constructor(
    readonly id: NodeId,
    readonly port: number,
    readonly peers: readonly PeerAddress[],
    private readonly overrides: NodeOverrides = {},
  ) {
    this.transport = this.create();
  }

  async start(): Promise<void> {
    const { port } = await this.transport.start();
    if (port !== this.port) throw new Error(`node ${this.id} listens on ${port}, expected ${this.port}`);
  }

  /** Closes this node's transport and starts a new one on the same port. */
  async restart(): Promise<void> {
    await this.transport.close();
    this.transport = this.create();
    await this.start();
  }

  from(peer: number): Envelope[] {
    return this.received.filter((r) => r.from === peer).map((r) => r.env);
  }

  refusals(reason: string): number {
    return this.logs.filter((l) => l.event === 'handshake_refused' && l.fields['reason'] === reason).length;
  }

  private create(): Transport {
    return new Transport({
      nodeId: this.id,
      clusterId: CLUSTER_ID,
      secret: SECRET,
      listen: { host: HOST, port: this.port },
      peers: this.peers,
      reconnectBackoffMs: { min: 20, max: 200 },
      onEnvelopes: (from, envelopes) => {
        const atMs = performance.now();
        for (const env of envelopes) this.received.push({ from, env, atMs });
      },
      onRequest: testHandler,
      onPeerStatus: (peer, status) => this.statuses.push({ peer, status }),
      log: (level, event, fields) => this.logs.push({ level, event, fields }),
      ...this.overrides,
    });
  }
}

export interface TestCluster {
  readonly nodes: TestNode[];
  node(id: number): TestNode;
  close(): Promise<void>;
}

/**
 * `size` members (ids 1..size) on reserved ports, plus `extraPeers` addresses every member lists but nobody runs
 * (for raw clients to authenticate as). Resolves once every link between running members is up.
 */
export async function startCluster(
  size: number,
  options: { overrides?: (id: number) => NodeOverrides; extraPeers?: number } = {},
): Promise<TestCluster> {
  const total = size + (options.extraPeers ?? 0);
  const ports = await reservePorts(total);
  const addresses: PeerAddress[] = ports.map((port, i) => ({ nodeId: nodeId(i + 1), host: HOST, port }));
  const nodes = addresses.slice(0, size).map(
    (self) =>
      new TestNode(
        self.nodeId,
        self.port,
        addresses.filter((a) => a.nodeId !== self.nodeId),
        options.overrides?.(self.nodeId) ?? {},
      ),
  );
  const cluster: TestCluster = {
    nodes,
    node: (id) => {
      const found = nodes.find((n) => n.id === id);
      if (found === undefined) throw new Error(`no node ${id}`);
      return found;
    },
    close: async () => {
      await Promise.all(nodes.map((n) => n.transport.close()));
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await waitFor(
      () => nodes.every((a) => nodes.every((b) => a === b || a.transport.peerConnected(b.id))),
      'every link up',
    );
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

export function envelope(from: number, to: number, groupId: number, msg: Record<string, unknown>): Envelope {
  return { groupId, from: nodeId(from), to: nodeId(to), msg };
}

/** A raw ws client of a node's /raft endpoint, recording what it receives and how it was closed. */
export class RawClient {
  readonly messages: Buffer[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.messages.push(data));
    ws.on('error', () => ws.terminate());
    this.closed = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeCode = code;
        this.closeReason = reason.toString('utf8');
        resolve();
      }),
    );
  }

  /** `localAddress` (a 127.x.y.z on Linux) makes the client come from another address than HOST. */
  static async open(port: number, path = '/raft', localAddress?: string): Promise<RawClient> {
    const ws = new WebSocket(`ws://${HOST}:${port}${path}`, {
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(bytes: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  /** Waits (bounded) until the server closes us; returns the close code. */
  async waitClosed(timeoutMs = 3000): Promise<number | undefined> {
    await within(this.closed, timeoutMs);
    return this.closeCode;
  }

  async waitMessages(count: number, timeoutMs = 3000): Promise<void> {
    await waitFor(() => this.messages.length >= count, `${count} messages on a raw client`, timeoutMs);
  }

  async close(): Promise<void> {
    this.ws.terminate();
    await within(this.closed, 1000);
  }
}

/** The encoded hello a member (or an impostor) would send. */
export function helloBytes(params: { nodeId: number; clusterId?: string; secret?: string; ts?: number }): Uint8Array {
  const hello = createHello(
    { clusterId: params.clusterId ?? CLUSTER_ID, nodeId: nodeId(params.nodeId), secret: params.secret ?? SECRET },
    params.ts ?? Date.now(),
  );
  const encoded = encodeValue(hello);
  if (!encoded.ok) throw new Error('hello not encodable');
  return encoded.bytes;
}

/** A raw client that completed a valid handshake as `asNode` (it received the welcome). */
export async function authenticatedClient(port: number, asNode: number): Promise<RawClient> {
  const client = await RawClient.open(port);
  client.send(helloBytes({ nodeId: asNode }));
  await client.waitMessages(1);
  return client;
}

export function encode(value: unknown): Uint8Array {
  const encoded = encodeValue(value);
  if (!encoded.ok) throw new Error('not encodable');
  return encoded.bytes;
}
