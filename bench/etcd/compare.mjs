// The arithmetic of the Kalam-beside-etcd benchmark, with no I/O: the interleaved order of the measured windows,
// each window's throughput and latency percentiles, the median over repetitions, and the table's rows with the
// Kalam/etcd ratio.

/** What each side runs for an op. A bulk op moves many rows (Kalam) or keys (etcd) per request. */
export const OPS = {
  write: { kalam: 'INSERT of 1 row', etcd: 'put', unit: 'ops/s' },
  read: { kalam: 'point SELECT', etcd: 'linearizable range', unit: 'ops/s' },
  bulk: { kalam: 'INSERT of 1,000 rows', etcd: 'txn of 128 puts', unit: 'rows|keys/s' },
};
export const KALAM_ROWS_PER_BULK = 1_000;

/** etcd is a 3-member cluster in every row; Kalam runs as a 3-node cluster and as a standalone node. */
export const SYSTEMS = ['etcd', 'kalam-cluster', 'kalam-standalone'];
const KALAM_MODES = { 'kalam-cluster': 'cluster', 'kalam-standalone': 'standalone' };

/** The bulk ops run one request after another, as a loader does. */
export const BULK_CLIENTS = 1;

/** The value at rank floor(p% of n) of an ascending array (the same rule as bench/sql), null when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The median of some numbers (the mean of the middle two for an even count), null when there are none. */
export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Kalam's throughput over etcd's; null when etcd did nothing (no ratio to give). */
export function ratio(kalam, etcd) {
  if (typeof kalam !== 'number' || typeof etcd !== 'number' || etcd <= 0) return null;
  return kalam / etcd;
}

/**
 * One measured window: `latenciesMs` of the requests that both started and finished inside it, `units` the rows or
 * keys they moved, over `seconds`.
 */
export function windowStats({ latenciesMs, units, seconds, errors, cpuMs = null }) {
  if (!(seconds > 0)) throw new RangeError(`a window lasts more than 0 s, not ${seconds}`);
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const cpu = typeof cpuMs === 'number' && Number.isFinite(cpuMs) ? cpuMs : null;
  return {
    requests: sorted.length,
    perSec: units / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    errors,
    // The servers' CPU time (every process of the side, every thread) per op or row/key moved, and the cores it
    // kept busy: on a machine whose cores are all busy, throughput is this machine's cores over CPU per op.
    cpuMsPerUnit: cpu === null || units === 0 ? null : cpu / units,
    coresBusy: cpu === null ? null : cpu / (seconds * 1000),
  };
}

/**
 * The order of the windows: for each repetition, each client count, each op, every system in turn — so the two
 * sides see the same machine within seconds of each other — then the bulk op. The systems' order rotates with the
 * repetition, so that neither side always runs right after the other's heaviest load.
 */
export function interleavedPlan({ reps, clients }) {
  const plan = [];
  for (let rep = 1; rep <= reps; rep++) {
    const shift = (rep - 1) % SYSTEMS.length;
    const order = [...SYSTEMS.slice(shift), ...SYSTEMS.slice(0, shift)];
    for (const c of clients) {
      for (const op of ['write', 'read']) for (const system of order) plan.push({ rep, op, clients: c, system });
    }
    for (const system of order) plan.push({ rep, op: 'bulk', clients: BULK_CLIENTS, system });
  }
  return plan;
}

const keyOf = (system, op, clients) => `${system}|${op}|${clients}`;

/** Each (system, op, clients): the median over repetitions of throughput, p50 and p99, its range, and errors. */
export function summarize(windows) {
  const groups = new Map();
  for (const w of windows) {
    const key = keyOf(w.system, w.op, w.clients);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(w);
  }
  const summary = new Map();
  for (const [key, ws] of groups) {
    const perSec = ws.map((w) => w.perSec);
    summary.set(key, {
      reps: ws.length,
      perSec: median(perSec),
      perSecMin: Math.min(...perSec),
      perSecMax: Math.max(...perSec),
      p50Ms: median(ws.map((w) => w.p50Ms)),
      p99Ms: median(ws.map((w) => w.p99Ms)),
      cpuMsPerUnit: median(ws.map((w) => w.cpuMsPerUnit)),
      coresBusy: median(ws.map((w) => w.coresBusy)),
      errors: ws.reduce((sum, w) => sum + w.errors, 0),
    });
  }
  return summary;
}

export const COLUMNS = [
  { key: 'op', title: 'op' },
  { key: 'clients', title: 'clients' },
  { key: 'kalam', title: 'kalam' },
  { key: 'unit', title: 'unit' },
  { key: 'kalamPerSec', title: 'kalam /s' },
  { key: 'etcdPerSec', title: 'etcd /s' },
  { key: 'ratio', title: 'kalam/etcd' },
  { key: 'kalamP50Ms', title: 'kalam p50 ms' },
  { key: 'etcdP50Ms', title: 'etcd p50 ms' },
  { key: 'kalamP99Ms', title: 'kalam p99 ms' },
  { key: 'etcdP99Ms', title: 'etcd p99 ms' },
  { key: 'kalamCpuMsPerUnit', title: 'kalam CPU ms/unit' },
  { key: 'etcdCpuMsPerUnit', title: 'etcd CPU ms/unit' },
  { key: 'kalamCores', title: 'kalam cores busy' },
  { key: 'etcdCores', title: 'etcd cores busy' },
  { key: 'errors', title: 'errors' },
];

/**
 * The table: one row per op, client count and Kalam mode, beside etcd's figures for the same op and client count
 * (the same etcd figures on the cluster row and the standalone row). Rows missing from the windows are skipped.
 */
export function comparisonRows(summary, { clients }) {
  const rows = [];
  const points = [
    ...['write', 'read'].flatMap((op) => clients.map((c) => ({ op, clients: c }))),
    { op: 'bulk', clients: BULK_CLIENTS },
  ];
  for (const { op, clients: c } of points) {
    const etcd = summary.get(keyOf('etcd', op, c));
    for (const [system, mode] of Object.entries(KALAM_MODES)) {
      const kalam = summary.get(keyOf(system, op, c));
      if (etcd === undefined || kalam === undefined) continue;
      rows.push({
        op,
        clients: c,
        kalam: mode,
        unit: OPS[op].unit,
        kalamPerSec: kalam.perSec,
        etcdPerSec: etcd.perSec,
        ratio: ratio(kalam.perSec, etcd.perSec),
        kalamP50Ms: kalam.p50Ms,
        etcdP50Ms: etcd.p50Ms,
        kalamP99Ms: kalam.p99Ms,
        etcdP99Ms: etcd.p99Ms,
        kalamCpuMsPerUnit: kalam.cpuMsPerUnit ?? null,
        etcdCpuMsPerUnit: etcd.cpuMsPerUnit ?? null,
        kalamCores: kalam.coresBusy ?? null,
        etcdCores: etcd.coresBusy ?? null,
        errors: kalam.errors + etcd.errors,
      });
    }
  }
  return rows;
}

/** A comma-separated list of client counts, each an integer in [1, max]; throws a RangeError naming the problem. */
export function parseClients(text, max) {
  const counts = text.split(',').map((part) => Number(part.trim()));
  const bad = counts.find((n) => !Number.isInteger(n) || n < 1 || n > max);
  if (text.trim() === '' || bad !== undefined) {
    throw new RangeError(`--clients takes integers from 1 to ${max} separated by commas, not '${text}'`);
  }
  return [...new Set(counts)];
}
