/**
 * An in-memory cluster for the drill runner's tests: a ClusterController whose nodes are flags and whose 36
 * groups' leaders move (after a short "election") when their node is killed or cut off, and a DrillTransport that
 * answers the workload's statements from one shared, correct register store — unless `plantedBug` is set, when
 * every UPDATE of one shared key is acknowledged without being applied (a deterministic twin of the server's
 * ack-without-commit).
 */
import { allGroups, groupName } from '@kalam/kalamdb';
import type {
  ClusterController,
  ClusterStatus,
  GroupDigests,
  KillSignal,
  NetworkRule,
  NodeId,
  NodeState,
  PartitionDirection,
} from '../../src/cluster/types.js';
import type { ClusterFactory, UpClusterOptions } from '../../src/drill/runner.js';
import type { DrillReply, DrillTransport } from '../../src/drill/transport.js';
import { TransportFailure } from '../../src/drill/transport.js';

const GROUPS = allGroups().map(groupName);
/** How long a leaderless group waits before a new leader is picked. */
const ELECTION_MS = 60;
const CALL_LATENCY_MS = 1;
/** With `plantedBug`, every UPDATE of this key is acknowledged and dropped. */
const PLANTED_KEY = 'shared/s0';

interface FakeNode {
  state: NodeState;
  partitioned: boolean;
  faults: string[];
}

export interface FakeCluster {
  readonly factory: ClusterFactory;
  readonly transport: DrillTransport;
  /** Every controller call, e.g. "kill 2 KILL". */
  readonly calls: string[];
  /** What upCluster was asked for. */
  readonly upOptions: UpClusterOptions[];
  downed: { wipe: boolean } | null;
}

/**
 * `lostRowsOn`: that node counts one row fewer in every table of the `sql` steps (`SELECT COUNT(*)`), as a node that
 * lost rows on a rejoin would.
 */
export function fakeCluster(opts: { plantedBug?: boolean; lostRowsOn?: NodeId } = {}): FakeCluster {
  const nodes = new Map<NodeId, FakeNode>();
  const leaders = new Map<string, NodeId | null>();
  const terms = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const store = new Map<string, string>();
  /** Rows of the tables the `sql` steps make (INSERT INTO ns.t (id) VALUES …), by table. */
  const extraRows = new Map<string, number>();
  let applied = 0;
  const calls: string[] = [];
  const fake: FakeCluster = {
    calls,
    upOptions: [],
    downed: null,
    factory: (up) => {
      fake.upOptions.push(up);
      for (let id = 1; id <= up.nodes; id++) nodes.set(id, { state: 'up', partitioned: false, faults: [] });
      GROUPS.forEach((g, i) => {
        leaders.set(g, (i % up.nodes) + 1);
        terms.set(g, 1);
      });
      return Promise.resolve(controller(up.nodes));
    },
    transport: { post: (baseUrl, path, auth, body) => answer(baseUrl, path, auth, body) },
  };

  const reachable = (id: NodeId): boolean => {
    const n = nodes.get(id);
    return n !== undefined && n.state === 'up' && !n.partitioned;
  };

  /** Groups led by `id` lose their leader; a reachable node takes over after ELECTION_MS. */
  function depose(id: NodeId): void {
    for (const [g, leader] of leaders) {
      if (leader !== id) continue;
      leaders.set(g, null);
      const timer = setTimeout(() => {
        timers.delete(timer);
        const candidates = [...nodes.keys()].filter(reachable);
        if (candidates.length === 0 || leaders.get(g) !== null) return;
        leaders.set(g, candidates[(terms.get(g) ?? 0) % candidates.length] ?? null);
        terms.set(g, (terms.get(g) ?? 0) + 1);
      }, ELECTION_MS);
      timers.add(timer);
    }
  }

  function controller(count: number): ClusterController {
    const node = (id: NodeId): FakeNode => {
      const n = nodes.get(id);
      if (n === undefined) throw new Error(`no node ${id}`);
      return n;
    };
    return {
      manifest: {
        name: 'fake',
        dir: '/nonexistent',
        clusterId: 'fake',
        createdAt: new Date(0).toISOString(),
        nodes: Array.from({ length: count }, (_, i) => ({
          id: i + 1,
          apiUrl: `fake://node${i + 1}`,
          rpcAddr: `fake:${i + 1}`,
          configPath: '',
          dataDir: '',
          logPath: '',
        })),
      },
      credentials: { user: 'root', password: 'root-pass', clusterSecret: 'secret' },
      status: (): Promise<ClusterStatus> => {
        const leadersPerNode: Record<string, number> = {};
        for (const l of leaders.values())
          if (l !== null) leadersPerNode[String(l)] = (leadersPerNode[String(l)] ?? 0) + 1;
        return Promise.resolve({
          name: 'fake',
          dir: '/nonexistent',
          supervisorPid: 1,
          at: Date.now(),
          nodes: [...nodes.entries()].map(([id, n]) => ({
            id,
            state: n.state,
            pid: n.state === 'down' ? null : 1000 + id,
            apiUrl: `fake://node${id}`,
            rpcAddr: `fake:${id}`,
            uptimeMs: null,
            lastExit: null,
            faults: [...n.faults],
            member: 'voter',
          })),
          groups: GROUPS.map((name, i) => {
            const perNode = Object.fromEntries([...nodes.keys()].map((id) => [String(id), 0]));
            return {
              name,
              id: i,
              leader: leaders.get(name) ?? null,
              term: terms.get(name) ?? 0,
              applied: perNode,
              lag: perNode,
              voters: [...nodes.keys()].sort((a, b) => a - b),
              learners: [],
              votersOutgoing: [],
            };
          }),
          leadersPerNode,
          leaderBalance: { enabled: false, tolerance: null, nodesUp: 0, band: null, balanced: false, transfers: 0 },
        });
      },
      kill: (id: NodeId, signal: KillSignal = 'KILL') => {
        calls.push(`kill ${id} ${signal}`);
        const n = node(id);
        if (signal === 'CONT') n.state = 'up';
        else {
          n.state = signal === 'STOP' ? 'paused' : 'down';
          depose(id);
        }
        return Promise.resolve();
      },
      start: (id: NodeId) => {
        calls.push(`start ${id}`);
        node(id).state = 'up';
        return Promise.resolve();
      },
      restart: (id: NodeId) => {
        calls.push(`restart ${id}`);
        depose(id);
        node(id).state = 'up';
        return Promise.resolve();
      },
      partition: (id: NodeId, o: { from?: readonly NodeId[]; direction?: PartitionDirection } = {}) => {
        calls.push(`partition ${id} ${o.direction ?? 'both'}`);
        node(id).partitioned = true;
        node(id).faults.push('partition');
        depose(id);
        return Promise.resolve();
      },
      network: (id: NodeId, rule: NetworkRule) => {
        calls.push(`network ${id} ${JSON.stringify(rule)}`);
        node(id).faults.push('network');
        return Promise.resolve();
      },
      heal: (id?: NodeId) => {
        calls.push(`heal ${id ?? 'all'}`);
        for (const [nid, n] of nodes) {
          if (id !== undefined && nid !== id) continue;
          n.partitioned = false;
          n.faults = n.faults.filter((f) => f === 'disk');
        }
        return Promise.resolve();
      },
      disk: (id: NodeId, ms: number) => {
        calls.push(`disk ${id} ${ms}`);
        const n = node(id);
        n.faults = n.faults.filter((f) => f !== 'disk');
        if (ms > 0) n.faults.push('disk');
        return Promise.resolve();
      },
      wipe: (id: NodeId) => {
        calls.push(`wipe ${id}`);
        if (node(id).state !== 'down') return Promise.reject(new Error(`node ${id} is not down`));
        return Promise.resolve();
      },
      digests: (id: NodeId): Promise<GroupDigests> => {
        if (!reachable(id)) return Promise.reject(new Error(`node ${id} is down`));
        const digest = `d${store.size}-${[...store.values()].join(',').length}`;
        return Promise.resolve(Object.fromEntries(GROUPS.map((g) => [g, { applied, digest }])));
      },
      addNode: () => {
        const id = Math.max(0, ...nodes.keys()) + 1;
        calls.push(`add ${id}`);
        nodes.set(id, { state: 'up', partitioned: false, faults: [] });
        return Promise.resolve({ id, rpcAddr: `fake:${id}`, apiUrl: `fake://node${id}`, pid: 1000 + id, tookMs: 1 });
      },
      removeNode: (id: NodeId) => {
        calls.push(`remove ${id}`);
        if (!nodes.has(id)) return Promise.reject(new Error(`NODE_NOT_FOUND: no node ${id}`));
        depose(id);
        nodes.delete(id);
        return Promise.resolve({ id, stopped: true, tookMs: 1 });
      },
      down: (o: { wipe?: boolean } = {}) => {
        calls.push('down');
        fake.downed = { wipe: o.wipe === true };
        for (const t of timers) clearTimeout(t);
        timers.clear();
        return Promise.resolve();
      },
    };
  }

  async function answer(baseUrl: string, path: string, auth: string | null, body: unknown): Promise<DrillReply> {
    const id = Number(/node(\d+)$/.exec(baseUrl)?.[1]);
    const n = nodes.get(id);
    if (n === undefined || n.state === 'down') throw new TransportFailure('refused', 'connection refused');
    await new Promise((resolve) => setTimeout(resolve, CALL_LATENCY_MS));
    if (n.partitioned) return error(503, 'LEADER_NOT_AVAILABLE', 'group data:user:00 has no leader');
    const b = body as { username?: string; sql?: string; params?: unknown[] };
    if (path === '/v1/api/auth/login') {
      return { status: 200, body: { access_token: `tok:${b.username}`, user: { id: b.username } } };
    }
    const user = auth?.startsWith('Bearer tok:') === true ? auth.slice('Bearer tok:'.length) : null;
    if (user === null) return error(401, 'UNAUTHORIZED', 'no token');
    const sql = b.sql ?? '';
    const params = (b.params ?? []).map(String);
    const keyOf = (table: string, k: string): string => (table === 'drill.reg' ? `user/${user}/${k}` : `shared/${k}`);
    let m: RegExpExecArray | null;
    if (/^CREATE /.test(sql)) return ok(0, []);
    if (sql === 'SHOW TABLES') {
      const tables = [['drill', 'reg'], ['drill', 'shared_reg'], ...[...extraRows.keys()].map((t) => t.split('.'))];
      return ok(tables.length, tables);
    }
    if ((m = /^INSERT INTO (\w+\.\w+) \(id\) VALUES/.exec(sql)) !== null) {
      extraRows.set(m[1] ?? '', (extraRows.get(m[1] ?? '') ?? 0) + 1);
      return ok(1, []);
    }
    if ((m = /^SELECT COUNT\(\*\) FROM (\w+\.\w+)$/.exec(sql)) !== null) {
      const n = (extraRows.get(m[1] ?? '') ?? 0) - (id === opts.lostRowsOn ? 1 : 0);
      return ok(1, [[n]]);
    }
    if ((m = /^INSERT INTO (\S+) \(k, v\) VALUES/.exec(sql)) !== null) {
      for (const k of params) store.set(keyOf(m[1] ?? '', k), 'init');
      applied++;
      return ok(params.length, []);
    }
    if ((m = /^SELECT v FROM (\S+) WHERE k = \$1$/.exec(sql)) !== null) {
      const v = store.get(keyOf(m[1] ?? '', params[0] ?? ''));
      return ok(v === undefined ? 0 : 1, v === undefined ? [] : [[v]]);
    }
    if ((m = /^UPDATE (\S+) SET v = \$1 WHERE k = \$2( AND v = \$3)?$/.exec(sql)) !== null) {
      const key = keyOf(m[1] ?? '', params[1] ?? '');
      if (opts.plantedBug === true && key === PLANTED_KEY) return ok(1, []);
      const current = store.get(key);
      if (current === undefined || (m[2] !== undefined && current !== params[2])) return ok(0, []);
      store.set(key, params[0] ?? '');
      applied++;
      return ok(1, []);
    }
    return error(400, 'INVALID_SQL', `the fake does not know ${sql}`);
  }

  return fake;
}

function ok(rowCount: number, rows: unknown[][]): DrillReply {
  return { status: 200, body: { status: 'success', results: [{ schema: [], rows, row_count: rowCount }], took: 1 } };
}

function error(status: number, code: string, message: string): DrillReply {
  return { status, body: { status: 'error', error: { code, message, details: null } } };
}
