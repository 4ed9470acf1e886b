/**
 * The human rendering of a `kalam sim` report: a summary, then the failing seeds with the first violated
 * invariant and the command that replays each one.
 */
import type { Output } from '../output.js';
import { formatDurationMs, formatPairs, formatTable } from '../output.js';
import type { SimFailure, SimReport } from './report.js';

/** Failing seeds listed in full; the rest are counted (`--json` has them all). */
const FAILURES_SHOWN_MAX = 20;

export function renderSimReport(out: Output, report: SimReport): void {
  const c = out.color;
  const s = (key: string): number => report.stats[key] ?? 0;
  const pairs: [string, string][] = [
    ['seeds', seedsLine(report)],
    ['cluster', `${report.nodes.join(' and ')} nodes, ${report.groups} groups, ${report.ticks} ticks`],
  ];
  if (report.kalam) pairs.push(['mode', 'kalam (kalamdb state machines, client history checked)']);
  if (report.plantedBug !== null) pairs.push(['planted bug', report.plantedBug]);
  if (report.traceHash !== undefined) pairs.push(['trace hash', report.traceHash ?? '(the run threw)']);
  pairs.push(
    ['violations', String(report.violations)],
    ['failing seeds', String(report.failures.length)],
    ['duration', formatDurationMs(report.durationMs)],
  );
  const lin = report.linearizability;
  if (lin !== undefined) {
    const verdicts = Object.entries(lin.verdicts).map(([v, n]) => `${n} ${v}`);
    pairs.push(
      ['linearizability', `${verdicts.join(', ')} (${lin.operations} calls over ${lin.keys} keys checked)`],
      [
        'client calls',
        `${s('ops')} (${s('opsOk')} ok, ${s('opsFailed')} failed, ${s('opsUnknown')} unknown): ` +
          `${s('reads')} reads, ${s('writes')} writes, ${s('cas')} cas`,
      ],
    );
    pairs.push(
      [
        'schema and jobs',
        `${s('ddlDuringFaults')} DDL statements, ${s('flushes')} flushes, ${s('jobsCompleted')} jobs done`,
      ],
      ['careless client', `${s('hostile')} statements (${s('generated')} generated from the grammar)`],
      [
        'client sessions',
        `${s('sessionWrites')} increments in ${s('sessionSends')} deliveries (${s('sessionRetried')} answered after a retry, ` +
          `${s('sessionReplays')} replayed answers)`,
      ],
    );
  } else {
    pairs.push(['proposals', `${s('proposals')} (${s('acked')} acknowledged), ${s('reads')} reads`]);
  }
  pairs.push(['membership', `${s('confChanges')} changes proposed (${s('confChangesAcked')} applied on their leader)`]);
  const disks = report.kalam ? `, ${s('wipes')} disks lost` : '';
  pairs.push(
    [
      'faults',
      `${s('crashes')} crashes, ${s('partitions')} partitions, ${s('leaderChanges')} leader changes` +
        ` (${s('balanceTransfers')} transfers by the leader balance)${disks}`,
    ],
    ['messages', `${s('messagesDelivered')} delivered, ${s('messagesDropped')} dropped`],
    [
      'snapshots',
      `${s('snapshotsInstalled')} installed` + (report.kalam ? ` (${s('crashesMidInstall')} crashes mid-install)` : ''),
    ],
    ['liveness', `converged within ${report.stats.livenessTicksMax} ticks (worst run)`],
  );
  for (const line of formatPairs(pairs)) out.line(line);
  out.line();
  if (report.ok) {
    out.line(c.green(`OK: no invariant violated in ${report.seeds} ${report.seeds === 1 ? 'seed' : 'seeds'}`));
    return;
  }
  out.line(c.red.bold(`FAILED: ${report.failures.length} of ${report.seeds} seeds violated an invariant`));
  out.line();
  renderFailures(out, report.failures);
}

function seedsLine(report: SimReport): string {
  if (report.seeds === 1) return `1 (seed ${report.firstSeed})`;
  return `${report.seeds} (${report.firstSeed}..${report.lastSeed})`;
}

function renderFailures(out: Output, failures: readonly SimFailure[]): void {
  const shown = failures.slice(0, FAILURES_SHOWN_MAX);
  const table = formatTable<SimFailure>(
    [
      { title: 'seed', value: (f) => String(f.seed), align: 'right' },
      { title: 'nodes', value: (f) => String(f.nodes), align: 'right' },
      { title: 'tick', value: (f) => (f.tick === undefined ? '-' : String(f.tick)), align: 'right' },
      { title: 'group', value: (f) => (f.group === undefined ? '-' : String(f.group)), align: 'right' },
      { title: 'invariant', value: (f) => f.invariant },
      { title: 'replay', value: (f) => f.replay },
    ],
    shown,
  );
  for (const line of table) out.line(line);
  out.line();
  for (const f of shown) out.line(`seed ${f.seed}: ${f.detail}`);
  if (failures.length > shown.length) {
    out.line(`… and ${failures.length - shown.length} more failing seeds (--json lists them all)`);
  }
}
