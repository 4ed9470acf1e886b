/**
 * Drill files: a file using every action parses into the steps it says; each kind of mistake is one CliError
 * DRILL_INVALID line naming the file, the step and the key; every shipped drill parses and fits its bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DRILLS_DIR } from '../src/commands/drill.js';
import { parseDrill, scaledWaitMs } from '../src/drill/spec.js';
import { CliError, ExitCode } from '../src/errors.js';

const GOOD = `
name = "every-step"
description = "uses every action"
nodes = 3
seed = 42
short_scale = 0.5
[env]
KALAM_CLUSTER_RAFT_SNAPSHOT_THRESHOLD = "50"
[workload]
clients = 2
users = 4
keys_per_user = 2
shared_keys = 1
shared_share = 0.5
read = 1
write = 1
cas = 2
[checks]
availability_bound_ms = 9000
[[steps]]
action = "wait"
ms = 1000
[[steps]]
action = "kill"
target = "node leading most groups"
[[steps]]
action = "start"
target = "previous"
[[steps]]
action = "restart"
target = "leader of meta:system"
[[steps]]
action = "partition"
target = "a follower of data:user:07"
direction = "in"
from = [1, 2]
[[steps]]
action = "network"
target = 2
delay_ms = 10
jitter_ms = 5
loss = 0.1
duplication = 0.2
[[steps]]
action = "heal"
[[steps]]
action = "disk"
target = "random"
fsync_delay_ms = 30
[[steps]]
action = "kill"
target = 3
signal = "TERM"
[[steps]]
action = "wipe"
target = 3
[[steps]]
action = "wait_for"
condition = "caught-up"
timeout_ms = 5000
[[steps]]
action = "check"
expect = "progress"
within_ms = 2000
[[steps]]
action = "flush"
[[steps]]
action = "flush"
wait = false
timeout_ms = 7000
[[steps]]
action = "sql"
statements = ["CREATE NAMESPACE n{i}", "CREATE SHARED TABLE n{i}.t (id INT PRIMARY KEY)"]
repeat = 3
[[steps]]
action = "count_rows"
target = "previous"
`;

test('a file with every action parses into its steps', () => {
  const spec = parseDrill(GOOD, 'good.toml');
  assert.equal(spec.name, 'every-step');
  assert.equal(spec.seed, 42);
  assert.deepEqual(spec.env, { KALAM_CLUSTER_RAFT_SNAPSHOT_THRESHOLD: '50' });
  assert.deepEqual(spec.workload.mix, { read: 1, write: 1, cas: 2 });
  assert.equal(spec.workload.keysPerUser, 2);
  assert.equal(spec.checks.availabilityBoundMs, 9000);
  assert.deepEqual(
    spec.steps.map((s) => s.action),
    [
      'wait',
      'kill',
      'start',
      'restart',
      'partition',
      'network',
      'heal',
      'disk',
      'kill',
      'wipe',
      'wait_for',
      'check',
      'flush',
      'flush',
      'sql',
      'count_rows',
    ],
  );
  assert.deepEqual(spec.steps[1], { action: 'kill', target: { kind: 'most-leader' }, signal: 'KILL' });
  assert.deepEqual(spec.steps[3], { action: 'restart', target: { kind: 'leader', group: 'meta:system' } });
  assert.deepEqual(spec.steps[4], {
    action: 'partition',
    target: { kind: 'follower', group: 'data:user:07' },
    direction: 'in',
    from: [1, 2],
  });
  assert.deepEqual(spec.steps[5], {
    action: 'network',
    target: { kind: 'node', id: 2 },
    rule: { delayMs: 10, jitterMs: 5, dropRate: 0.1, duplicateRate: 0.2 },
  });
  assert.deepEqual(spec.steps[6], { action: 'heal' });
  assert.deepEqual(spec.steps[10], { action: 'wait_for', condition: 'caught-up', timeoutMs: 5000 });
  assert.deepEqual(spec.steps[12], { action: 'flush', wait: true, timeoutMs: 15_000 });
  assert.deepEqual(spec.steps[13], { action: 'flush', wait: false, timeoutMs: 7000 });
  assert.deepEqual(spec.steps[14], {
    action: 'sql',
    statements: ['CREATE NAMESPACE n{i}', 'CREATE SHARED TABLE n{i}.t (id INT PRIMARY KEY)'],
    repeat: 3,
  });
  assert.deepEqual(spec.steps[15], { action: 'count_rows', target: { kind: 'previous' }, timeoutMs: 15_000 });
});

test('defaults: name from the file, 3 nodes, no availability bound', () => {
  const spec = parseDrill('[[steps]]\naction = "wait"\nms = 10\n', '/x/my-drill.toml');
  assert.equal(spec.name, 'my-drill');
  assert.equal(spec.nodes, 3);
  assert.equal(spec.checks.availabilityBoundMs, null);
});

test('--short scales waits by short_scale', () => {
  assert.equal(scaledWaitMs(3000, true, 0.3), 900);
  assert.equal(scaledWaitMs(3000, false, 0.3), 3000);
  assert.equal(scaledWaitMs(1, true, 0.01), 1);
});

function problem(text: string): CliError {
  try {
    parseDrill(text, 'bad.toml');
  } catch (err) {
    assert.ok(err instanceof CliError, `expected a CliError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the drill to be refused');
}

const wait = '[[steps]]\naction = "wait"\nms = 10\n';

for (const [what, text, message] of [
  [
    'an unknown step key',
    `${wait}${wait}[[steps]]\naction = "kill"\ntarget = 1\nsignl = "KILL"\n`,
    /^bad\.toml: step 3: signl: unknown key/,
  ],
  [
    'an unknown action',
    `${wait}[[steps]]\naction = "explode"\n`,
    /^bad\.toml: step 2: action: must be one of wait, kill/,
  ],
  ['a missing wait', '[[steps]]\naction = "wait"\n', /^bad\.toml: step 1: ms: is required$/],
  [
    'a node out of range',
    'nodes = 3\n[[steps]]\naction = "kill"\ntarget = 4\n',
    /^bad\.toml: step 1: target: node 4 is not one of 1\.\.3$/,
  ],
  [
    'an unknown role',
    '[[steps]]\naction = "kill"\ntarget = "the boss"\n',
    /^bad\.toml: step 1: target: must be a node id/,
  ],
  [
    'an unknown group',
    '[[steps]]\naction = "kill"\ntarget = "leader of data:user:99"\n',
    /^bad\.toml: step 1: target: unknown group/,
  ],
  ['a missing target', '[[steps]]\naction = "wipe"\n', /^bad\.toml: step 1: target: is required/],
  [
    'a bad signal',
    '[[steps]]\naction = "kill"\ntarget = 1\nsignal = "HUP"\n',
    /^bad\.toml: step 1: signal: must be one of KILL, TERM, STOP, CONT$/,
  ],
  [
    'a loss over 1',
    '[[steps]]\naction = "network"\ntarget = 1\nloss = 2\n',
    /^bad\.toml: step 1: loss: must be a number from 0 to 1$/,
  ],
  [
    'a bad from list',
    '[[steps]]\naction = "partition"\ntarget = 1\nfrom = [9]\n',
    /^bad\.toml: step 1: from: must be a non-empty list/,
  ],
  [
    'sql without statements',
    '[[steps]]\naction = "sql"\nstatements = []\n',
    /^bad\.toml: step 1: statements: must be a non-empty list of SQL statements$/,
  ],
  ['count_rows without a target', '[[steps]]\naction = "count_rows"\n', /^bad\.toml: step 1: target: is required/],
  [
    'a flush wait that is not a boolean',
    '[[steps]]\naction = "flush"\nwait = "yes"\n',
    /^bad\.toml: step 1: wait: must be true or false$/,
  ],
  ['an unknown top key', 'nodez = 3\n', /^bad\.toml: nodez: unknown key/],
  ['an unknown workload key', '[workload]\nclientz = 3\n', /^bad\.toml: workload: clientz: unknown key/],
  ['too few nodes', 'nodes = 1\n', /^bad\.toml: nodes: must be an integer from 3 to 7$/],
  ['bad TOML', 'name = \n', /^bad\.toml:1:\d+: /],
  ['a bad name', 'name = "Has Spaces"\n', /^bad\.toml: name: must be lower-case/],
] as const) {
  test(`refused with one line: ${what}`, () => {
    const err = problem(text);
    assert.equal(err.code, 'DRILL_INVALID');
    assert.equal(err.exitCode, ExitCode.Usage);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  });
}

test('every shipped drill parses, has a fault, and its waits fit its bounds (under 30 s when short)', async () => {
  const { loadDrill } = await import('../src/drill/spec.js');
  const files = readdirSync(DRILLS_DIR).filter((f) => f.endsWith('.toml'));
  assert.ok(files.length >= 9, `drills: ${files.join(', ')}`);
  for (const f of files) {
    const spec = loadDrill(join(DRILLS_DIR, f));
    assert.equal(`${spec.name}.toml`, f);
    // A membership drill moves 36 groups one configuration change at a time per added node (about 15 s each on
    // this machine, far more when it is loaded): it gets twice the others' bound, which CI's per-drill limit covers.
    const membership = spec.steps.some((s) => ['add_node', 'remove_node', 'replace_node'].includes(s.action));
    assert.ok(spec.maxDurationMs <= (membership ? 120_000 : 60_000), f);
    assert.ok(
      spec.steps.some((s) => s.action !== 'wait' && s.action !== 'wait_for' && s.action !== 'check'),
      f,
    );
    const waits = spec.steps.reduce((sum, s) => sum + (s.action === 'wait' ? s.ms : 0), 0);
    assert.ok(waits < 30_000, `${f}: waits ${waits} ms`);
    assert.ok(waits * spec.shortScale < 10_000, `${f}: short waits ${waits * spec.shortScale} ms`);
  }
});
