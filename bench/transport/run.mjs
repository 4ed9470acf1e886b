#!/usr/bin/env node
// bench/transport: envelopes per second and request round trips between two transports on loopback, each in
// its own process (the receiver is a child process running this file with --child), so that sender and
// receiver do not share one event loop.
//
// Envelopes: the sender streams raft-like MsgApp envelopes (one 100-byte entry each, spread over 36 groups),
// BATCH per event-loop turn, keeping at most WINDOW unacknowledged (the receiver sends back one ack envelope
// per frame it gets), so the figure is what the link carries, not what the queue drops. Requests: `echo`
// round trips with 1 and 64 callers.
//
// Usage: node bench/transport/run.mjs [--json] [--quick] [--duration-ms N] [--batch N]
// Writes bench/results/transport.json (not with --quick). Bounded: about duration + 4 s, at most 30 s of streaming.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine, printTable, writeResults } from '../lib.mjs';

const BENCH = 'transport';
const HOST = '127.0.0.1';
const GROUPS = 36;
const PAYLOAD_BYTES = 100;
const WINDOW = 50_000;
const DURATION_MS_MAX = 30_000;
const CLUSTER = { clusterId: 'bench', secret: 'bench-secret' };

let transport;
try {
  transport = await import('@kalam/transport');
} catch (error) {
  process.stderr.write(`bench ${BENCH}: @kalam/transport is not built (${error.message}): run \`make build\` first\n`);
  process.exit(2);
}
const { Transport } = transport;

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
    'duration-ms': { type: 'string' },
    batch: { type: 'string', default: '256' },
    ports: { type: 'string' },
  },
});

async function reservePorts(count) {
  const servers = Array.from({ length: count }, () => createServer());
  await Promise.all(servers.map((s) => new Promise((resolve) => s.listen(0, HOST, resolve))));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** The receiver: counts envelopes, acks each frame with the running count, answers echo. */
async function child([portSender, portReceiver]) {
  let received = 0;
  const node = new Transport({
    ...CLUSTER,
    nodeId: 2,
    listen: { host: HOST, port: portReceiver },
    peers: [{ nodeId: 1, host: HOST, port: portSender }],
    onEnvelopes: (_from, envelopes) => {
      received += envelopes.length;
      node.send({ groupId: 0, from: 2, to: 1, msg: { type: 'Ack', received } });
    },
    onRequest: async (_from, method, body) => (method === 'echo' ? body : null),
  });
  await node.start();
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => void node.close().then(() => process.exit(0)));
}

async function main() {
  const durationMs = Math.min(DURATION_MS_MAX, Number(values['duration-ms'] ?? (values.quick ? 1000 : 5000)));
  const batch = Number(values.batch);
  const [portSender, portReceiver] = await reservePorts(2);
  const receiver = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', '--ports', `${portSender},${portReceiver}`],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const ready = new Promise((resolve, reject) => {
    receiver.stdout.on('data', (chunk) => chunk.toString().includes('ready') && resolve());
    receiver.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    setTimeout(() => reject(new Error('receiver not ready in 10 s')), 10_000).unref();
  });
  let acked = 0;
  const sender = new Transport({
    ...CLUSTER,
    nodeId: 1,
    listen: { host: HOST, port: portSender },
    peers: [{ nodeId: 2, host: HOST, port: portReceiver }],
    queueMax: WINDOW + batch,
    onEnvelopes: (_from, envelopes) => {
      for (const env of envelopes) acked = Math.max(acked, env.msg.received);
    },
    onRequest: async () => null,
  });
  try {
    await sender.start();
    await ready;
    const deadline = Date.now() + 10_000;
    while (!sender.peerConnected(2)) {
      if (Date.now() > deadline) throw new Error('no link to the receiver in 10 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    process.stderr.write(`bench ${BENCH}: envelopes, ${batch} per turn …\n`);
    const envelopes = await streamEnvelopes(sender, durationMs, batch, () => acked);
    process.stderr.write(`bench ${BENCH}: requests …\n`);
    const requests = [];
    for (const callers of [1, 64]) requests.push(await echoRoundTrips(sender, callers, Math.min(durationMs, 2000)));
    const rows = [
      {
        workload: `envelopes, ${batch}/turn`,
        count: envelopes.count,
        durationMs: Math.round(envelopes.ms),
        perSec: Math.round(envelopes.perSec),
        perFrame: envelopes.envelopesPerFrame,
        mbPerSec: envelopes.mbPerSec,
        p50Ms: null,
        p99Ms: null,
      },
      ...requests.map((r) => ({
        workload: `requests, ${r.callers} caller${r.callers === 1 ? '' : 's'}`,
        count: r.count,
        durationMs: Math.round(r.ms),
        perSec: Math.round(r.perSec),
        perFrame: 1,
        mbPerSec: null,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
      })),
    ];
    const result = {
      bench: BENCH,
      title: `two transports on loopback, one process each: MsgApp envelopes (${PAYLOAD_BYTES}-byte entry) and echo requests`,
      unit: 'per second',
      startedAt: new Date().toISOString(),
      machine: machine(),
      config: {
        batch,
        payloadBytes: PAYLOAD_BYTES,
        groups: GROUPS,
        windowEnvelopes: WINDOW,
        durationMs,
        quick: values.quick,
      },
      columns: COLUMNS,
      rows,
      dropped: envelopes.dropped,
      resultsFile: values.quick ? null : `bench/results/${BENCH}.json`,
    };
    if (!values.quick) {
      writeResults(BENCH, result);
    }
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(`${BENCH}: ${result.title}\n`);
      printTable(COLUMNS, rows, 3);
      if (!values.quick) process.stdout.write(`\nwritten to ${result.resultsFile}\n`);
    }
  } finally {
    await sender.close();
    receiver.stdin.end();
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        receiver.kill('SIGKILL');
        resolve();
      }, 5000);
      receiver.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function streamEnvelopes(sender, durationMs, batch, ackedCount) {
  const data = new Uint8Array(PAYLOAD_BYTES).fill(7);
  let sent = 0;
  const before = sender.stats();
  const start = performance.now();
  const end = start + durationMs;
  while (performance.now() < end) {
    if (sent - ackedCount() < WINDOW) {
      for (let i = 0; i < batch; i++, sent++) {
        const groupId = sent % GROUPS;
        sender.send({
          groupId,
          from: 1,
          to: 2,
          msg: {
            type: 'MsgApp',
            from: 1,
            to: 2,
            term: 5,
            index: sent,
            logTerm: 5,
            commit: sent,
            entries: [{ term: 5, index: sent + 1, kind: 'command', data }],
          },
        });
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const drainDeadline = performance.now() + 10_000;
  while (ackedCount() < sent && performance.now() < drainDeadline)
    await new Promise((resolve) => setTimeout(resolve, 1));
  const ms = performance.now() - start;
  const after = sender.stats();
  const frames = after.framesOut - before.framesOut;
  return {
    count: ackedCount(),
    sent,
    ms,
    perSec: (ackedCount() / ms) * 1000,
    envelopesPerFrame: (after.envelopesOut - before.envelopesOut) / Math.max(1, frames),
    mbPerSec: (after.bytesOut - before.bytesOut) / ms / 1000,
    dropped: after.dropped,
  };
}

async function echoRoundTrips(sender, callers, durationMs) {
  const latencies = [];
  const end = performance.now() + durationMs;
  const caller = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await sender.request(2, 'echo', 'x'.repeat(100), 5000);
      latencies.push(performance.now() - t0);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  const ms = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    callers,
    count: latencies.length,
    ms,
    perSec: (latencies.length / ms) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

const COLUMNS = [
  { key: 'workload', title: 'workload' },
  { key: 'count', title: 'count' },
  { key: 'durationMs', title: 'ms' },
  { key: 'perSec', title: 'per s' },
  { key: 'perFrame', title: 'per frame' },
  { key: 'mbPerSec', title: 'MB/s out' },
  { key: 'p50Ms', title: 'p50 ms' },
  { key: 'p99Ms', title: 'p99 ms' },
];

if (values.child) await child(values.ports.split(',').map(Number));
else await main();
