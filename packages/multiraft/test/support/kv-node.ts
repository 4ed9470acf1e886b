/**
 * A node process for the multiraft tests and benchmark: RaftManager hosting 36 groups (KalamDB's layout:
 * 3 meta groups, 32 user shards, 1 shared shard) of the key-value state machine, with a small HTTP API on
 * 127.0.0.1 for the test harness. Usage: node kv-node.js '<json config>'.
 *
 * Prints one line {"event":"ready",...} on stdout when it serves. SIGTERM: transfer leadership, stop, exit 0.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeId } from '@kalam/raft';
import type { RaftTiming } from '../../src/index.js';
import { MultiRaftError, RaftManager } from '../../src/index.js';
import { kalamGroups } from './groups.js';
import { KvStateMachine, kvCommand } from './kv-state-machine.js';

export interface KvNodeConfig {
  nodeId: number;
  clusterId: string;
  secret: string;
  members: { nodeId: number; host: string; port: number }[];
  dataDir: string;
  groups?: number;
  timing?: Partial<RaftTiming>;
  snapshotThreshold?: number;
  snapshotKeepEntries?: number;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as KvNodeConfig;
  const machines = new Map<number, KvStateMachine>();
  const groups = kalamGroups(config.groups ?? 36).map((g) => {
    mkdirSync(config.dataDir, { recursive: true });
    const sm = new KvStateMachine(join(config.dataDir, `kv-${g.id}.json`));
    machines.set(g.id, sm);
    return { ...g, stateMachine: sm };
  });
  const manager = await RaftManager.start({
    nodeId: config.nodeId as NodeId,
    clusterId: config.clusterId,
    secret: config.secret,
    members: config.members.map((m) => ({ ...m, nodeId: m.nodeId as NodeId })),
    groups,
    dataDir: config.dataDir,
    ...(config.timing !== undefined ? { timing: config.timing } : {}),
    ...(config.snapshotThreshold !== undefined ? { snapshotThreshold: config.snapshotThreshold } : {}),
    ...(config.snapshotKeepEntries !== undefined ? { snapshotKeepEntries: config.snapshotKeepEntries } : {}),
    log: (level, event, fields) => process.stderr.write(`${JSON.stringify({ level, event, ...fields })}\n`),
  });

  const routes: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    '/propose': async (b) => {
      const response = await manager.propose(Number(b.group), kvCommand(String(b.key), String(b.value)), {
        timeoutMs: Number(b.timeoutMs ?? 5000),
      });
      return { ok: true, response };
    },
    '/read': async (b) => {
      const group = Number(b.group);
      const index = await manager.read(group, { timeoutMs: Number(b.timeoutMs ?? 5000) });
      return { ok: true, index, value: machines.get(group)?.get(String(b.key)) ?? null };
    },
    '/local': (b) => Promise.resolve({ ok: true, value: machines.get(Number(b.group))?.get(String(b.key)) ?? null }),
    '/status': () =>
      Promise.resolve({
        ok: true,
        nodeId: config.nodeId,
        pid: process.pid,
        groups: manager.status(),
        digests: Object.fromEntries([...machines].map(([id, sm]) => [id, sm.digest()])),
        stats: manager.stats,
        driver: manager.driverTiming(),
        logStore: manager.logStats(),
        transport: manager.transport.stats(),
        memory: process.memoryUsage(),
        cpu: process.cpuUsage(),
        uptimeMs: Math.round(process.uptime() * 1000),
      }),
    '/transfer': async (b) => {
      const to = await manager.transferLeadership(
        Number(b.group),
        b.to === undefined ? undefined : (Number(b.to) as NodeId),
      );
      return { ok: true, to };
    },
    '/fault': (b) => {
      if (b.clear === true) manager.transport.clearFaults();
      else manager.transport.setFault(Number(b.peer) as NodeId, b.rule as Record<string, never>);
      return Promise.resolve({ ok: true });
    },
    '/fsync-delay': (b) => {
      manager.setFsyncDelayMs(Number(b.ms));
      return Promise.resolve({ ok: true });
    },
    '/bench': (b) => runBench(manager, b),
  };

  const server = createServer((req, res) => void handle(req, res, routes));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const httpPort = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ event: 'ready', nodeId: config.nodeId, httpPort, pid: process.pid })}\n`);

  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    const hardStop = setTimeout(() => process.exit(1), 10_000);
    void manager
      .stop({ transferLeadership: true, timeoutMs: 3_000 })
      .then(() => new Promise<void>((resolve) => server.close(() => resolve())))
      .then(() => {
        clearTimeout(hardStop);
        process.exit(0);
      });
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  routes: Record<string, (body: Record<string, unknown>) => Promise<unknown>>,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const route = routes[req.url ?? ''];
  let status = 200;
  let body: unknown;
  try {
    if (route === undefined) throw new Error(`no route ${req.url}`);
    const text = Buffer.concat(chunks).toString('utf8');
    body = await route(text === '' ? {} : (JSON.parse(text) as Record<string, unknown>));
  } catch (err) {
    status = err instanceof MultiRaftError ? 409 : 500;
    body = {
      ok: false,
      code: err instanceof MultiRaftError ? err.code : 'INTERNAL',
      message: err instanceof Error ? err.message : String(err),
      leaderHint: err instanceof MultiRaftError ? err.leaderHint : null,
    };
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Runs `proposers` closed-loop proposers in this process for `durationMs`, each proposing 100-byte values
 * to groups in turn, and reports commits and latencies.
 */
async function runBench(manager: RaftManager, b: Record<string, unknown>): Promise<unknown> {
  const proposers = Number(b.proposers ?? 1);
  const durationMs = Number(b.durationMs ?? 5000);
  const valueBytes = Number(b.valueBytes ?? 100);
  const onlyLocal = b.onlyLocal === true;
  const groups = manager.groupIds().filter((g) => !onlyLocal || manager.isLeader(g));
  const latencies: number[] = [];
  let errors = 0;
  const value = 'x'.repeat(Math.max(0, valueBytes - 20));
  const end = Date.now() + durationMs;
  const writesBefore = manager.logStats().transactions;
  let n = 0;
  await Promise.all(
    Array.from({ length: proposers }, async (_, p) => {
      for (let i = p; Date.now() < end; i += proposers) {
        const group = groups[i % groups.length]!;
        const t0 = process.hrtime.bigint();
        try {
          // A bounded key space (1,000 keys per proposer), so the state machine stays the same size under load.
          await manager.propose(group, kvCommand(`k${p}-${n++ % 1000}`, value), { timeoutMs: 5000 });
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch {
          errors++;
        }
      }
    }),
  );
  return {
    ok: true,
    commits: latencies.length,
    errors,
    latenciesMs: latencies,
    writes: manager.logStats().transactions - writesBefore,
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
