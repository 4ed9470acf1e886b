/**
 * The report writer on a synthetic run: the four files are written, the page holds one inline SVG with a row per
 * group and a band per fault, text is escaped, and history.jsonl reads back into the same history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryRecorder } from '@kalam/check';
import type { DrillResult } from '../src/drill/report.js';
import { countCalls, faultBands, renderSummary, writeReport } from '../src/drill/report.js';

function synthetic(): DrillResult {
  let now = 1_000;
  const h = new HistoryRecorder(() => now);
  const w = h.invoke('c0', 'user/drill_u000/k0', 'write', 'c0.0');
  now = 1_020;
  h.ok(w);
  const r = h.invoke('c1', 'shared/s0', 'read', null);
  now = 1_600;
  h.unknown(r, 'timeout');
  const history = h.operations();
  return {
    name: 'synthetic',
    description: 'a <made-up> run & its report',
    file: 'synthetic.toml',
    seed: 5,
    short: true,
    nodes: 3,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 3_000,
    passed: false,
    checks: [
      { name: 'linearizable', passed: true, detail: '2 calls' },
      { name: 'no-lost-acks', passed: false, detail: 'k: a | b' },
    ],
    availability: [
      {
        step: 2,
        action: 'kill',
        node: 1,
        group: 'meta:system',
        affected: 'led',
        leaderAfterMs: 400,
        servedAfterMs: null,
        callsAfter: 0,
      },
    ],
    counts: countCalls(history),
    events: [
      { step: 1, action: 'wait', node: null, atMs: 900, endMs: 1_100, detail: 'wait 200 ms' },
      { step: 2, action: 'kill', node: 1, atMs: 1_100, endMs: 1_150, detail: 'kill node 1 signal KILL' },
      { step: 3, action: 'start', node: 1, atMs: 2_000, endMs: 2_300, detail: 'start node 1' },
    ],
    samples: [
      { atMs: 1_000, leaders: { 'meta:system': 1, 'data:user:00': 2 } },
      { atMs: 1_250, leaders: { 'meta:system': null, 'data:user:00': 2 } },
      { atMs: 1_500, leaders: { 'meta:system': 3, 'data:user:00': 2 } },
    ],
    workloadMs: { startMs: 950, endMs: 2_500 },
    history,
    historyJsonl: h.toJsonLines(),
    meta: [
      { group: 'data:user:00', node: 1 },
      { group: 'data:shared:00', node: 2 },
    ],
  };
}

test('writeReport writes summary, history, events and a page with an SVG timeline', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-drill-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = synthetic();
  writeReport(dir, result);
  for (const f of ['summary.md', 'history.jsonl', 'events.jsonl', 'report.html'])
    assert.ok(existsSync(join(dir, f)), f);
  const back = HistoryRecorder.fromJsonLines(readFileSync(join(dir, 'history.jsonl'), 'utf8'));
  assert.deepEqual(back.operations(), result.history);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.equal(html.match(/<svg /g)?.length, 1);
  assert.match(html, /<title>meta:system: node 1<\/title>/);
  assert.match(html, /<title>meta:system: no leader<\/title>/);
  assert.match(html, /<title>step 2: kill node 1 signal KILL<\/title>/);
  assert.match(html, /a &lt;made-up&gt; run &amp; its report/);
  assert.ok(!html.includes('<made-up>'));
  assert.match(html, /<polyline /);
  const events = readFileSync(join(dir, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  assert.deepEqual(
    events.map((e) => e.type),
    ['step', 'step', 'step', 'sample', 'sample', 'sample', 'call', 'call'],
  );
});

test('the summary lists the checks, the availability figures and the counts', () => {
  const md = renderSummary(synthetic());
  assert.match(md, /^# Drill synthetic: FAILED$/m);
  assert.match(md, /^\| no-lost-acks \| FAIL \| k: a \\\| b \|$/m);
  assert.match(md, /^\| 2 \| kill \| 1 \| meta:system \| led \| 400 \| - \| 0 \|$/m);
  assert.match(md, /calls: 2 \(1 reads, 1 writes, 0 cas\): 1 ok, 0 failed, 1 unknown/);
});

test('a kill band lasts until the node is started again', () => {
  const bands = faultBands(synthetic());
  assert.deepEqual(
    bands.map((b) => [b.event.step, b.endMs]),
    [[2, 2_000]],
  );
});
