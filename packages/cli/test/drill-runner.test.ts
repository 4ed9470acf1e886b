/**
 * The drill runner end to end against the in-memory cluster (support/drill-fakes.ts): the steps drive the
 * controller, the workload records calls on every node, the report folder is written, and the checks pass on a
 * correct fake — and fail when the fake acknowledges UPDATEs it never applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryRecorder } from '@kalam/check';
import { Command } from 'commander';
import { registerDrill } from '../src/commands/drill.js';
import { runDrill } from '../src/drill/runner.js';
import { parseDrill } from '../src/drill/spec.js';
import { ExitCode } from '../src/errors.js';
import { runCli } from '../src/main.js';
import { fakeCluster } from './support/drill-fakes.js';
import { bufferedContext } from './support/fakes.js';

const DRILL = `
name = "fake-drill"
description = "every kind of step against the fake"
nodes = 3
seed = 11
short_scale = 0.5
[workload]
clients = 4
users = 6
shared_keys = 3
think_ms = 2
[checks]
availability_bound_ms = 10000
linearizable_budget_ms = 10000
[[steps]]
action = "wait"
ms = 300
[[steps]]
action = "kill"
target = "node leading most groups"
[[steps]]
action = "wait_for"
condition = "leaders"
timeout_ms = 5000
[[steps]]
action = "wait"
ms = 300
[[steps]]
action = "check"
expect = "progress"
within_ms = 2000
[[steps]]
action = "wipe"
target = "previous"
[[steps]]
action = "start"
target = "previous"
[[steps]]
action = "partition"
target = "leader of meta:system"
[[steps]]
action = "wait"
ms = 300
[[steps]]
action = "heal"
[[steps]]
action = "network"
target = "random"
delay_ms = 5
loss = 0.1
[[steps]]
action = "disk"
target = "a follower of meta:system"
fsync_delay_ms = 20
[[steps]]
action = "restart"
target = 2
[[steps]]
action = "wait"
ms = 300
`;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-drill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a drill against a correct fake cluster passes every check and writes its report', async (t) => {
  const dir = tempDir(t);
  const fake = fakeCluster();
  const lines: string[] = [];
  const result = await runDrill({
    spec: parseDrill(DRILL, 'fake.toml'),
    seed: 11,
    short: false,
    reportDir: dir,
    factory: fake.factory,
    transport: fake.transport,
    progress: (l) => lines.push(l),
  });
  assert.equal(result.passed, true, JSON.stringify(result.checks, null, 1));
  assert.deepEqual(
    result.checks.map((c) => c.name),
    ['linearizable', 'no-lost-acks', 'converged', 'availability', 'steps', 'step 5: progress'],
  );
  // The steps reached the controller in order, and the fault phase was healed at the end.
  assert.match(
    fake.calls.join('; '),
    /^kill (\d) KILL; wipe \1; start \1; partition \d both; heal all; network \d .*; disk \d 20; restart 2; heal all; disk \d 0; down$/,
  );
  assert.deepEqual(fake.downed, { wipe: true });
  assert.equal(fake.upOptions[0]?.nodes, 3);
  assert.equal(fake.upOptions[0]?.dir, join(dir, 'cluster'));
  // Calls went to every node, and both tables were used.
  const nodes = new Set(result.meta.map((m) => m?.node));
  assert.deepEqual([...nodes].sort(), [1, 2, 3]);
  assert.ok(result.history.some((op) => op.key.startsWith('shared/')));
  assert.ok(result.history.some((op) => op.key.startsWith('user/')));
  assert.ok(result.counts.ok > 20, `ok calls: ${result.counts.ok}`);
  assert.ok(result.counts.failed > 0, 'calls to the killed node fail');
  // Availability: the killed node's groups, the partitioned leader's, the network and disk faults and the restart.
  assert.deepEqual(
    [...new Set(result.availability.map((f) => f.action))],
    ['kill', 'partition', 'network', 'disk', 'restart'],
  );
  assert.ok(
    result.availability
      .filter((f) => f.action === 'kill')
      .every((f) => f.affected === 'led' && f.leaderAfterMs !== null),
  );
  // One progress line per step.
  assert.equal(lines.filter((l) => /^ {2}step \d+\/14 /.test(l)).length, 14);
  // The report folder.
  for (const f of ['summary.md', 'history.jsonl', 'events.jsonl', 'report.html'])
    assert.ok(existsSync(join(dir, f)), f);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /<svg [^>]*>.*<\/svg>/s);
  assert.match(html, /data:user:31/);
  assert.match(readFileSync(join(dir, 'summary.md'), 'utf8'), /^# Drill fake-drill: PASSED/);
  const back = HistoryRecorder.fromJsonLines(readFileSync(join(dir, 'history.jsonl'), 'utf8'));
  assert.deepEqual(back.operations(), result.history);
  const events = readFileSync(join(dir, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  assert.equal(events.filter((e) => e.type === 'step').length, 15);
  assert.ok(events.some((e) => e.type === 'sample'));
});

test('a fake that acknowledges UPDATEs without applying them fails no-lost-acks', async (t) => {
  const dir = tempDir(t);
  const fake = fakeCluster({ plantedBug: true });
  const result = await runDrill({
    spec: parseDrill(DRILL, 'fake.toml'),
    seed: 11,
    short: true,
    reportDir: dir,
    factory: fake.factory,
    transport: fake.transport,
    progress: () => undefined,
  });
  assert.equal(result.passed, false);
  const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
  assert.ok(failed.includes('no-lost-acks'), failed.join(', '));
  const lost = result.checks.find((c) => c.name === 'no-lost-acks');
  assert.match(lost?.detail ?? '', /shared\/s0: acknowledged .* lost: the final value comes from the initial value/);
  assert.deepEqual(fake.downed, { wipe: false }, 'a failed drill keeps its cluster folder');
  assert.match(readFileSync(join(dir, 'summary.md'), 'utf8'), /^# Drill fake-drill: FAILED/);
});

test('count_rows passes when every node counts the same rows, and fails when one node lost some', async (t) => {
  const drill = `name = "counts"
[workload]
clients = 1
users = 2
shared_keys = 2
[[steps]]
action = "sql"
statements = ["CREATE NAMESPACE app", "INSERT INTO app.t (id) VALUES ({i})"]
repeat = 5
[[steps]]
action = "count_rows"
target = 2
`;
  for (const [lostRowsOn, passed] of [
    [undefined, true],
    [2, false],
  ] as const) {
    const fake = fakeCluster(lostRowsOn === undefined ? {} : { lostRowsOn });
    const result = await runDrill({
      spec: parseDrill(drill, 'counts.toml'),
      seed: 1,
      short: true,
      reportDir: tempDir(t),
      factory: fake.factory,
      transport: fake.transport,
      progress: () => undefined,
    });
    const counts = result.checks.find((c) => c.name === 'step 2: row counts');
    assert.equal(counts?.passed, passed, JSON.stringify(counts));
    assert.match(
      counts?.detail ?? '',
      passed ? /1 table\(s\), 5 row\(s\), equal on node\(s\) 2, 1, 3/ : /app\.t: node 2 4, node 1 5/,
    );
    assert.equal(result.passed, passed);
  }
});

test('a step that cannot resolve its target fails the steps check, and the drill still heals and checks', async (t) => {
  const dir = tempDir(t);
  const fake = fakeCluster();
  const spec = parseDrill(
    '[workload]\nclients = 1\nusers = 2\nshared_keys = 0\nshared_share = 0\n[[steps]]\naction = "start"\ntarget = "previous"\n',
    'x.toml',
  );
  const result = await runDrill({
    spec,
    seed: 1,
    short: true,
    reportDir: dir,
    factory: fake.factory,
    transport: fake.transport,
    progress: () => undefined,
  });
  const steps = result.checks.find((c) => c.name === 'steps');
  assert.equal(steps?.passed, false);
  assert.match(steps?.detail ?? '', /step 1 start: "previous" used before any step chose a node/);
  assert.equal(result.checks.find((c) => c.name === 'no-lost-acks')?.passed, true);
});

async function runCommand(args: string[], fake: ReturnType<typeof fakeCluster>, drillsDir = '/nonexistent') {
  const { ctx, buffers } = bufferedContext();
  const program = new Command('kalam').exitOverride().configureOutput({
    writeOut: (text) => void ctx.out.stdout.write(text),
    writeErr: (text) => void ctx.out.stderr.write(text),
  });
  registerDrill(program, ctx, { factory: fake.factory, transport: fake.transport, drillsDir });
  let error: unknown = null;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    error = err;
  }
  return { buffers, error };
}

test('drill run --json prints passed, checks, availability and report', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'fake-drill.toml');
  (await import('node:fs')).writeFileSync(file, DRILL);
  const { buffers, error } = await runCommand(
    ['drill', 'run', file, '--json', '--short', '--report', join(dir, 'r')],
    fakeCluster(),
  );
  assert.equal(error, null, String(error));
  const out = JSON.parse(buffers.stdout) as {
    passed: boolean;
    checks: { name: string; passed: boolean; detail: string }[];
    availability: unknown[];
    report: string;
  };
  assert.equal(out.passed, true);
  assert.ok(out.checks.length >= 4);
  assert.ok(Array.isArray(out.availability) && out.availability.length > 0);
  assert.equal(out.report, join(dir, 'r'));
  assert.match(buffers.stderr, /step 1\/14 wait 150 ms/);
});

test('drill run on a failing drill prints its table and throws DRILL_FAILED (exit 1)', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'fake-drill.toml');
  (await import('node:fs')).writeFileSync(file, DRILL);
  const { buffers, error } = await runCommand(
    ['drill', 'run', file, '--short', '--report', join(dir, 'r')],
    fakeCluster({ plantedBug: true }),
  );
  assert.ok(error instanceof Error && 'exitCode' in error);
  assert.equal((error as { exitCode: number }).exitCode, ExitCode.CheckFailed);
  assert.match(error.message, /^drill fake-drill failed: .*no-lost-acks.* \(report: /);
  assert.match(buffers.stdout, /^CHECK +RESULT +DETAIL$/m);
  assert.match(buffers.stdout, /^no-lost-acks +FAIL /m);
});

test('kalam drill list names the shipped drills; a bad file exits 2 with one line', async (t) => {
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['drill', 'list'], ctx), ExitCode.Ok);
  for (const name of [
    'leader-failover',
    'graceful-transfer',
    'follower-restart',
    'wipe-and-rejoin',
    'minority-partition',
    'one-way-partition',
    'flaky-network',
    'slow-disk',
    'rolling-restart',
    'ddl-then-wipe',
  ]) {
    assert.match(buffers.stdout, new RegExp(`^${name} `, 'm'));
  }
  const dir = tempDir(t);
  const bad = join(dir, 'bad.toml');
  (await import('node:fs')).writeFileSync(bad, '[[steps]]\naction = "kill"\ntarget = 9\n');
  const second = bufferedContext();
  assert.equal(await runCli(['drill', 'run', bad], second.ctx), ExitCode.Usage);
  assert.equal(second.buffers.stderr, `error: ${bad}: step 1: target: node 9 is not one of 1..3\n`);
  const third = bufferedContext();
  assert.equal(await runCli(['drill', 'run', join(dir, 'missing.toml')], third.ctx), ExitCode.Usage);
  assert.match(third.buffers.stderr, /^error: .*missing\.toml: cannot read the drill file \(ENOENT\)\n$/);
});

test('drill run without --json prints the checks and one line per fault', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'fake-drill.toml');
  (await import('node:fs')).writeFileSync(file, DRILL);
  const { buffers, error } = await runCommand(
    ['drill', 'run', file, '--short', '--report', join(dir, 'r')],
    fakeCluster(),
  );
  assert.equal(error, null, String(error));
  assert.match(buffers.stdout, /^drill fake-drill: PASSED$/m);
  assert.match(buffers.stdout, /^linearizable +pass /m);
  assert.match(buffers.stdout, /^STEP +FAULT +GROUPS +WORST LEADER AFTER +WORST SERVED AFTER$/m);
  assert.match(buffers.stdout, /^ +2 +kill node \d +\d+ +\d+ ms +(\d+ ms|-)$/m);
  assert.match(buffers.stdout, /^calls: \d+ \(\d+ ok, \d+ failed, \d+ unknown\); report: .*report\.html$/m);
});
