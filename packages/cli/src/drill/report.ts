/**
 * The report folder of a drill run:
 *   summary.md     the checks, the availability table and the counts
 *   history.jsonl  the raw history, exactly HistoryRecorder.toJsonLines() (HistoryRecorder.fromJsonLines reads it)
 *   events.jsonl   one JSON object per line: the steps ({type: "step"}), the status samples ({type: "sample"}) and
 *                  where each call went ({type: "call", id, group, node}), so the timeline can be redrawn
 *   report.html    one self-contained page: an inline SVG timeline with one row per group coloured by its leader,
 *                  the faults as bands, ok calls per bucket and latency p50/p99 per bucket
 * Times in the report are ms from the start of the run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Operation } from '@kalam/check';
import type { NodeId } from '../cluster/types.js';
import type { AvailabilityFigure, CheckOutcome, LeaderSample } from './checks.js';
import { DRILL_LIMITS } from './limits.js';
import type { CallMeta } from './workload.js';

/** One step as it ran; `node` is the node its target resolved to. */
export interface DrillEvent {
  readonly step: number;
  readonly action: string;
  readonly node: NodeId | null;
  readonly atMs: number;
  readonly endMs: number;
  readonly detail: string;
  /** Set when the step itself failed (a controller error, a wait_for past its bound). */
  readonly error?: string;
}

export interface DrillCounts {
  readonly calls: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  readonly reads: number;
  readonly writes: number;
  readonly cas: number;
}

export interface DrillResult {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  readonly seed: number;
  readonly short: boolean;
  readonly nodes: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly passed: boolean;
  readonly checks: readonly CheckOutcome[];
  readonly availability: readonly AvailabilityFigure[];
  readonly counts: DrillCounts;
  readonly events: readonly DrillEvent[];
  readonly samples: readonly LeaderSample[];
  /** When the workload ran, on the run's clock. */
  readonly workloadMs: { readonly startMs: number; readonly endMs: number };
  readonly history: readonly Operation[];
  readonly historyJsonl: string;
  readonly meta: readonly (CallMeta | undefined)[];
}

export function countCalls(history: readonly Operation[]): DrillCounts {
  const count = (pred: (op: Operation) => boolean): number => history.filter(pred).length;
  return {
    calls: history.length,
    ok: count((op) => op.outcome === 'ok'),
    failed: count((op) => op.outcome === 'failed'),
    unknown: count((op) => op.outcome === 'unknown'),
    reads: count((op) => op.kind === 'read'),
    writes: count((op) => op.kind === 'write'),
    cas: count((op) => op.kind === 'cas'),
  };
}

/** Writes the four files into `dir` (created if needed). */
export function writeReport(dir: string, r: DrillResult): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'summary.md'), renderSummary(r));
  writeFileSync(join(dir, 'history.jsonl'), r.historyJsonl);
  const events = [
    ...r.events.map((e) => ({ type: 'step', ...e })),
    ...r.samples.map((s) => ({ type: 'sample', ...s })),
    ...r.meta.flatMap((m, id) => (m === undefined ? [] : [{ type: 'call', id, ...m }])),
  ];
  writeFileSync(join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e) + '\n').join(''));
  writeFileSync(join(dir, 'report.html'), renderHtml(r));
}

const ms = (x: number | null): string => (x === null ? '-' : `${Math.round(x)}`);

export function renderSummary(r: DrillResult): string {
  const lines = [
    `# Drill ${r.name}: ${r.passed ? 'PASSED' : 'FAILED'}`,
    '',
    r.description,
    '',
    `- file: ${r.file}`,
    `- seed: ${r.seed}${r.short ? ' (short)' : ''}; nodes: ${r.nodes}; started ${r.startedAt}; took ${Math.round(r.durationMs)} ms`,
    `- calls: ${r.counts.calls} (${r.counts.reads} reads, ${r.counts.writes} writes, ${r.counts.cas} cas): ` +
      `${r.counts.ok} ok, ${r.counts.failed} failed, ${r.counts.unknown} unknown`,
    '',
    '## Checks',
    '',
    '| check | result | detail |',
    '| --- | --- | --- |',
    ...r.checks.map((c) => `| ${c.name} | ${c.passed ? 'pass' : 'FAIL'} | ${c.detail.replaceAll('|', '\\|')} |`),
    '',
    '## Availability (ms after the fault)',
    '',
    '| step | fault | node | group | affected | leader after | served after | calls after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.availability.map(
      (f) =>
        `| ${f.step} | ${f.action} | ${f.node} | ${f.group} | ${f.affected} | ${ms(f.leaderAfterMs)} | ${ms(f.servedAfterMs)} | ${f.callsAfter} |`,
    ),
    '',
    '## Steps (ms from the start of the run)',
    '',
    '| step | action | node | at | took | detail |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.events.map(
      (e) =>
        `| ${e.step} | ${e.action} | ${e.node ?? '-'} | ${ms(e.atMs)} | ${ms(e.endMs - e.atMs)} | ${(e.error ?? e.detail).replaceAll('|', '\\|')} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// The HTML page.

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const NO_LEADER = '#d62728';
const WIDTH = 1100;
const LEFT = 120;
const RIGHT = 20;
const ROW = 9;
const CHART = 90;

function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function colorOf(node: NodeId | null): string {
  return node === null ? NO_LEADER : (PALETTE[(node - 1) % PALETTE.length] ?? '#777');
}

/** Actions that undo a fault on a node, by the fault's action. */
const UNDONE_BY: Readonly<Record<string, readonly string[]>> = {
  kill: ['start', 'restart', 'kill'],
  partition: ['heal'],
  network: ['heal'],
  disk: ['disk'],
  restart: [],
  wipe: ['start'],
};

/** [start, end] of each fault band: from the step until the step that undid it, or the end of the workload. */
export function faultBands(r: DrillResult): { event: DrillEvent; endMs: number }[] {
  const bands: { event: DrillEvent; endMs: number }[] = [];
  r.events.forEach((e, i) => {
    const undo = UNDONE_BY[e.action];
    if (undo === undefined || e.detail.includes('signal CONT') || e.detail.includes('fsync delay 0 ms')) return;
    if (e.action === 'restart') {
      bands.push({ event: e, endMs: e.endMs });
      return;
    }
    const later = r.events
      .slice(i + 1)
      .find((x) => undo.includes(x.action) && (x.node === e.node || (x.action === 'heal' && x.node === null)));
    bands.push({ event: e, endMs: later?.atMs ?? Math.max(r.workloadMs.endMs, e.endMs) });
  });
  return bands;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

export function renderHtml(r: DrillResult): string {
  // The charts start with the workload (the cluster coming up and the setup before it are left out).
  const originMs = Math.min(r.workloadMs.startMs, r.samples[0]?.atMs ?? Number.POSITIVE_INFINITY);
  const endMs = Math.max(r.durationMs, r.workloadMs.endMs, ...r.samples.map((s) => s.atMs), originMs + 1);
  const spanMs = endMs - originMs;
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (t: number): number => LEFT + ((Math.max(originMs, Math.min(endMs, t)) - originMs) / spanMs) * plotW;
  const groups = [...new Set(r.samples.flatMap((s) => Object.keys(s.leaders)))].sort(groupOrder);
  const parts: string[] = [];
  let y = 20;
  // Time axis.
  const tickEvery = niceStep(spanMs / 10);
  for (let t = Math.ceil(originMs / tickEvery) * tickEvery; t <= endMs; t += tickEvery) {
    parts.push(
      `<line x1="${x(t)}" y1="${y}" x2="${x(t)}" y2="${y + 6}" stroke="#999"/><text x="${x(t)}" y="${y - 4}" font-size="10" text-anchor="middle">${(t / 1000).toFixed(1)} s</text>`,
    );
  }
  y += 10;
  const leadersTop = y;
  // Leaders per group: one row each, a rect per run of samples with the same leader.
  for (const group of groups) {
    parts.push(`<text x="${LEFT - 6}" y="${y + ROW - 1}" font-size="9" text-anchor="end">${esc(group)}</text>`);
    let runStart = 0;
    let current: NodeId | null | undefined;
    const flush = (until: number): void => {
      if (current === undefined) return;
      const w = Math.max(0.5, x(until) - x(runStart));
      parts.push(
        `<rect x="${x(runStart).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 1}" fill="${colorOf(current)}"><title>${esc(group)}: ${current === null ? 'no leader' : `node ${current}`}</title></rect>`,
      );
    };
    for (const s of r.samples) {
      const leader = s.leaders[group] ?? null;
      if (leader !== current) {
        flush(s.atMs);
        runStart = s.atMs;
        current = leader;
      }
    }
    flush(r.samples[r.samples.length - 1]?.atMs ?? endMs);
    y += ROW;
  }
  const leadersBottom = y;
  // Fault bands over the leader rows.
  for (const { event, endMs: bandEnd } of faultBands(r)) {
    const w = Math.max(2, x(bandEnd) - x(event.atMs));
    parts.push(
      `<rect x="${x(event.atMs)}" y="${leadersTop - 4}" width="${w}" height="${leadersBottom - leadersTop + 8}" fill="#000" fill-opacity="0.12" stroke="#000" stroke-dasharray="3 2"><title>step ${event.step}: ${esc(event.detail)}</title></rect>` +
        `<text x="${x(event.atMs) + 2}" y="${leadersBottom + 12}" font-size="10">${esc(`${event.step}: ${event.action}${event.node === null ? '' : ` n${event.node}`}`)}</text>`,
    );
  }
  y += 24;
  // Throughput and latency per bucket.
  const bucketMs = DRILL_LIMITS.chartBucketMs;
  const buckets = Math.max(1, Math.ceil(spanMs / bucketMs));
  const startOf = (b: number): number => originMs + b * bucketMs;
  const okCounts = new Array<number>(buckets).fill(0);
  const latencies: number[][] = Array.from({ length: buckets }, () => []);
  for (const op of r.history) {
    if (op.outcome !== 'ok' || op.completedAtMs === null) continue;
    const b = Math.min(buckets - 1, Math.max(0, Math.floor((op.completedAtMs - originMs) / bucketMs)));
    okCounts[b] = (okCounts[b] ?? 0) + 1;
    latencies[b]?.push(op.completedAtMs - op.invokedAtMs);
  }
  const maxOk = Math.max(1, ...okCounts);
  const tpTop = y;
  parts.push(
    `<text x="${LEFT - 6}" y="${tpTop + 10}" font-size="10" text-anchor="end">ok calls / ${bucketMs} ms</text>`,
  );
  parts.push(`<text x="${LEFT - 6}" y="${tpTop + 22}" font-size="9" text-anchor="end">max ${maxOk}</text>`);
  okCounts.forEach((n, b) => {
    const h = (n / maxOk) * CHART;
    const bw = Math.max(1, x(startOf(b + 1)) - x(startOf(b)) - 1);
    parts.push(
      `<rect x="${x(startOf(b))}" y="${tpTop + CHART - h}" width="${bw}" height="${h}" fill="#4c9be8"><title>${n} ok</title></rect>`,
    );
  });
  y += CHART + 20;
  const latTop = y;
  // null: no ok call in the bucket, a gap in the line.
  const pick = (l: number[], q: number): number | null =>
    l.length === 0
      ? null
      : quantile(
          [...l].sort((u, v) => u - v),
          q,
        );
  const p50 = latencies.map((l) => pick(l, 0.5));
  const p99 = latencies.map((l) => pick(l, 0.99));
  const maxLat = Math.max(1, ...p99.map((v) => v ?? 0));
  const line = (values: (number | null)[], color: string): string => {
    const runs: string[][] = [[]];
    values.forEach((v, b) => {
      if (v === null) runs.push([]);
      else
        runs[runs.length - 1]?.push(
          `${x(startOf(b + 0.5)).toFixed(1)},${(latTop + CHART - (v / maxLat) * CHART).toFixed(1)}`,
        );
    });
    return runs
      .filter((pts) => pts.length > 0)
      .map((pts) => `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.join(' ')}"/>`)
      .join('');
  };
  parts.push(`<text x="${LEFT - 6}" y="${latTop + 10}" font-size="10" text-anchor="end">latency (ms)</text>`);
  parts.push(
    `<text x="${LEFT - 6}" y="${latTop + 22}" font-size="9" text-anchor="end">max ${Math.round(maxLat)}</text>`,
  );
  parts.push(`<text x="${LEFT - 6}" y="${latTop + 34}" font-size="9" text-anchor="end" fill="#2ca02c">p50</text>`);
  parts.push(`<text x="${LEFT - 6}" y="${latTop + 46}" font-size="9" text-anchor="end" fill="#d62728">p99</text>`);
  parts.push(line(p50, '#2ca02c'), line(p99, '#d62728'));
  y += CHART + 20;
  const legend = Array.from({ length: r.nodes }, (_, i) => i + 1)
    .map(
      (n, i) =>
        `<rect x="${LEFT + i * 80}" y="${y}" width="12" height="10" fill="${colorOf(n)}"/><text x="${LEFT + i * 80 + 16}" y="${y + 9}" font-size="10">node ${n}</text>`,
    )
    .join('');
  parts.push(
    legend +
      `<rect x="${LEFT + r.nodes * 80}" y="${y}" width="12" height="10" fill="${NO_LEADER}"/><text x="${LEFT + r.nodes * 80 + 16}" y="${y + 9}" font-size="10">no leader</text>`,
  );
  y += 24;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif">${parts.join('')}</svg>`;
  const checkRows = r.checks
    .map(
      (c) =>
        `<tr><td>${esc(c.name)}</td><td class="${c.passed ? 'pass' : 'fail'}">${c.passed ? 'pass' : 'FAIL'}</td><td>${esc(c.detail)}</td></tr>`,
    )
    .join('');
  const availRows = r.availability
    .map(
      (f) =>
        `<tr><td>${f.step}</td><td>${esc(f.action)}</td><td>${f.node}</td><td>${esc(f.group)}</td><td>${f.affected}</td><td>${ms(f.leaderAfterMs)}</td><td>${ms(f.servedAfterMs)}</td><td>${f.callsAfter}</td></tr>`,
    )
    .join('');
  const stepRows = r.events
    .map(
      (e) =>
        `<tr><td>${e.step}</td><td>${esc(e.action)}</td><td>${e.node ?? '-'}</td><td>${ms(e.atMs)}</td><td>${ms(e.endMs - e.atMs)}</td><td${e.error === undefined ? '' : ' class="fail"'}>${esc(e.error ?? e.detail)}</td></tr>`,
    )
    .join('');
  const c = r.counts;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drill ${esc(r.name)}</title>
<style>body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}.pass{color:#2a7d2a;font-weight:bold}.fail{color:#c0392b;font-weight:bold}</style>
</head><body>
<h1>Drill ${esc(r.name)}: <span class="${r.passed ? 'pass' : 'fail'}">${r.passed ? 'PASSED' : 'FAILED'}</span></h1>
<p>${esc(r.description)}</p>
<p>seed ${r.seed}${r.short ? ' (short)' : ''}, ${r.nodes} nodes, started ${esc(r.startedAt)}, took ${Math.round(r.durationMs)} ms.
${c.calls} calls (${c.reads} reads, ${c.writes} writes, ${c.cas} cas): ${c.ok} ok, ${c.failed} failed, ${c.unknown} unknown.</p>
<h2>Timeline</h2>
<p>One row per Raft group, coloured by its leader (sampled every ${DRILL_LIMITS.sampleEveryMs} ms); shaded bands are faults.</p>
${svg}
<h2>Checks</h2>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>${checkRows}</table>
<h2>Availability (ms after the fault)</h2>
<table><tr><th>step</th><th>fault</th><th>node</th><th>group</th><th>affected</th><th>leader after</th><th>served after</th><th>calls after</th></tr>${availRows}</table>
<h2>Steps (ms from the start of the run)</h2>
<table><tr><th>step</th><th>action</th><th>node</th><th>at</th><th>took</th><th>detail</th></tr>${stepRows}</table>
</body></html>
`;
}

function niceStep(raw: number): number {
  const steps = [100, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000];
  return steps.find((s) => s >= raw) ?? 60_000;
}

/** meta groups first, then user shards, then shared shards, each in number order. */
function groupOrder(a: string, b: string): number {
  const rank = (g: string): number => (g.startsWith('meta:') ? 0 : g.startsWith('data:user:') ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b);
}
