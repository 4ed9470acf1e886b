/**
 * `kalam sim` through `runCli`, with a scripted simulator: what each option expands to, what --json holds,
 * that a violation names its seed and replay command and exits 1, that bad input exits 2 with one line on
 * stderr and nothing on stdout, and that an unexpected error exits 3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIM_DEFAULTS } from '@kalam/sim';
import { ExitCode } from '../src/errors.js';
import { runCli } from '../src/main.js';
import type { SimReport } from '../src/sim/report.js';
import { KALAM_GROUPS } from '../src/sim/plan.js';
import { bufferedContext, failingSeeds, passingRun } from './support/fakes.js';

test('--seeds N runs seeds 1..N, alternating 3 and 5 nodes, with the default groups and ticks', async () => {
  const { ctx, buffers, runs } = bufferedContext();
  const code = await runCli(['sim', '--seeds', '4', '--json'], ctx);
  assert.equal(code, ExitCode.Ok);
  assert.deepEqual(
    runs.map((r) => [r.seed, r.nodes, r.groups, r.ticks]),
    [1, 2, 3, 4].map((seed) => [seed, seed % 2 === 1 ? 3 : 5, SIM_DEFAULTS.groups, SIM_DEFAULTS.ticks]),
  );
  const report = JSON.parse(buffers.stdout) as SimReport;
  assert.equal(report.ok, true);
  assert.equal(report.seeds, 4);
  assert.equal(report.violations, 0);
  assert.deepEqual(report.failures, []);
  assert.deepEqual(report.nodes, [3, 5]);
  assert.equal(typeof report.durationMs, 'number');
  assert.equal(report.stats['proposals'], 40);
  assert.equal(report.stats.livenessTicksMax, 4, 'the worst run, not a sum');
  assert.equal(report.traceHash, undefined, 'only a replay reports one trace hash');
  assert.deepEqual(
    report.runs.map((r) => r.traceHash),
    ['hash-1', 'hash-2', 'hash-3', 'hash-4'],
  );
});

test('--first-seed, --nodes, --groups, --ticks and --plant-bug reach every run', async () => {
  const { ctx, runs } = bufferedContext();
  const argv = ['sim', '--seeds', '2', '--first-seed', '10', '--nodes', '5', '--groups', '2', '--ticks', '300'];
  const code = await runCli([...argv, '--plant-bug', 'grantSecondVote', '--json'], ctx);
  assert.equal(code, ExitCode.Ok);
  assert.deepEqual(runs, [
    { seed: 10, nodes: 5, groups: 2, ticks: 300, plantedBug: 'grantSecondVote' },
    { seed: 11, nodes: 5, groups: 2, ticks: 300, plantedBug: 'grantSecondVote' },
  ]);
});

test('--seed S replays one run and reports its trace hash', async () => {
  const { ctx, buffers, runs } = bufferedContext();
  assert.equal(await runCli(['sim', '--seed', '7', '--json'], ctx), ExitCode.Ok);
  assert.deepEqual(
    runs.map((r) => [r.seed, r.nodes]),
    [[7, 3]],
  );
  const report = JSON.parse(buffers.stdout) as SimReport;
  assert.equal(report.seed, 7);
  assert.equal(report.traceHash, 'hash-7');
});

test('the human summary of a replay shows the trace hash on stdout and nothing on stderr', async () => {
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['sim', '--seed', '8'], ctx), ExitCode.Ok);
  assert.match(buffers.stdout, /trace hash\s+hash-8/);
  assert.match(buffers.stdout, /OK: no invariant violated in 1 seed/);
  assert.equal(buffers.stderr, '');
});

test('a violation exits 1 and names the seed, the first invariant and the replay command', async () => {
  const { ctx, buffers } = bufferedContext(failingSeeds(4));
  const code = await runCli(['sim', '--seeds', '5', '--ticks', '500', '--json'], ctx);
  assert.equal(code, ExitCode.CheckFailed);
  const report = JSON.parse(buffers.stdout) as SimReport;
  assert.equal(report.ok, false);
  assert.equal(report.violations, 2);
  assert.deepEqual(report.failures, [
    {
      seed: 4,
      nodes: 5,
      invariant: 'election-safety',
      detail: 'nodes 1 and 2 both lead term 3',
      tick: 42,
      group: 1,
      violations: 2,
      replay: 'kalam sim --seed 4 --nodes 5 --ticks 500',
    },
  ]);
  assert.match(buffers.stderr, /error: 1 of 5 seeds violated an invariant; first: seed 4 \(election-safety\)/);
});

test('the human report of a failure lists the failing seed with its replay command', async () => {
  const { ctx, buffers } = bufferedContext(failingSeeds(2, 3));
  assert.equal(await runCli(['sim', '--seeds', '3', '--plant-bug', 'skipUpToDateCheck'], ctx), ExitCode.CheckFailed);
  assert.match(buffers.stdout, /FAILED: 2 of 3 seeds violated an invariant/);
  assert.match(buffers.stdout, /kalam sim --seed 2 --nodes 5 --plant-bug skipUpToDateCheck/);
  assert.match(buffers.stdout, /kalam sim --seed 3 --nodes 3 --plant-bug skipUpToDateCheck/);
  assert.match(buffers.stdout, /seed 2: nodes 1 and 2 both lead term 3/);
});

test('a run that throws fails its seed as uncaught-error and the other seeds still run', async () => {
  const { ctx, buffers, runs } = bufferedContext((options) => {
    if (options.seed === 2) throw new RangeError('boom');
    return failingSeeds()(options);
  });
  assert.equal(await runCli(['sim', '--seeds', '3', '--json'], ctx), ExitCode.CheckFailed);
  assert.equal(runs.length, 3);
  const report = JSON.parse(buffers.stdout) as SimReport;
  assert.equal(report.failures[0]?.invariant, 'uncaught-error');
  assert.equal(report.failures[0]?.detail, 'RangeError: boom');
  assert.equal(report.runs[1]?.traceHash, null);
});

test('--kalam runs Kalam-level simulations and reports the linearizability verdicts', async () => {
  const { ctx, buffers, runs } = bufferedContext((options) => ({
    ...passingRun(options),
    linearizability: { verdict: 'linearizable', keys: 15, operations: 100 },
  }));
  assert.equal(await runCli(['sim', '--kalam', '--seeds', '2', '--json'], ctx), ExitCode.Ok);
  assert.deepEqual(
    runs.map((r) => [r.seed, r.nodes, r.groups, r.kalam]),
    [
      [1, 3, KALAM_GROUPS, true],
      [2, 5, KALAM_GROUPS, true],
    ],
  );
  const report = JSON.parse(buffers.stdout) as SimReport;
  assert.equal(report.kalam, true);
  assert.deepEqual(report.linearizability, { verdicts: { linearizable: 2 }, operations: 200, keys: 30 });
  assert.deepEqual(
    report.runs.map((r) => r.linearizability),
    ['linearizable', 'linearizable'],
  );
});

test('a failing --kalam seed replays with --kalam, and the summary shows the verdicts', async () => {
  const { ctx, buffers } = bufferedContext((options) => ({
    ...failingSeeds(2)(options),
    linearizability: { verdict: options.seed === 2 ? 'not-linearizable' : 'linearizable', keys: 1, operations: 1 },
  }));
  assert.equal(await runCli(['sim', '--kalam', '--seeds', '2'], ctx), ExitCode.CheckFailed);
  assert.match(buffers.stdout, /linearizability\s+1 linearizable, 1 not-linearizable/);
  assert.match(buffers.stdout, /kalam sim --seed 2 --nodes 5 --kalam/);
});

const badInputs: [string, string[], RegExp][] = [
  ['zero seeds', ['--seeds', '0'], /--seeds <count>.*argument '0' is invalid/],
  ['a seeds count that is not a number', ['--seeds', 'ten'], /argument 'ten' is invalid/],
  ['a fractional seed', ['--seed', '1.5'], /--seed <seed>.*is invalid/],
  ['a negative first seed', ['--first-seed', '-1'], /--first-seed/],
  ['four nodes', ['--nodes', '4'], /Expected 3 or 5/],
  ['zero groups', ['--groups', '0'], /--groups/],
  ['too many ticks', ['--ticks', '99999999'], /--ticks/],
  ['an unknown planted bug', ['--plant-bug', 'nope'], /Allowed choices are commitOldTermByCount/],
  ['--seed with --seeds', ['--seed', '1', '--seeds', '2'], /cannot be used with option '--seeds/],
  ['a seed range past 2^32', ['--first-seed', '4294967295', '--seeds', '2'], /go past the largest seed/],
  ['an unknown option', ['--bogus'], /unknown option '--bogus'/],
  ['an extra argument', ['extra'], /too many arguments/],
  ['--kalam with --groups', ['--kalam', '--groups', '2'], /cannot be used with option '--groups/],
  ['a state-machine bug without --kalam', ['--plant-bug', 'uncheckedCommands'], /plants a bug in the state machines/],
];

for (const [what, args, message] of badInputs) {
  test(`bad input exits 2 with one line on stderr: ${what}`, async () => {
    const { ctx, buffers, runs } = bufferedContext();
    assert.equal(await runCli(['sim', ...args], ctx), ExitCode.Usage);
    assert.match(buffers.stderr, message);
    assert.equal(buffers.stderr.trimEnd().split('\n').length, 1, buffers.stderr);
    assert.equal(buffers.stdout, '');
    assert.equal(runs.length, 0);
  });
}

test('--list-bugs lists every plantable bug with its layer, and runs nothing', async () => {
  const { ctx, buffers, runs } = bufferedContext();
  assert.equal(await runCli(['sim', '--list-bugs'], ctx), ExitCode.Ok);
  for (const [name, layer] of [
    ['grantSecondVote', 'core'],
    ['jointCommitIncomingOnly', 'core'],
    ['ackBeforeWrite', 'driver'],
    ['applyForwardedTwice', 'driver'],
    ['restoreDropsOtherTables', 'state machine, --kalam only'],
    ['uncheckedCommands', 'state machine, --kalam only'],
    ['ignoreClientSessions', 'state machine, --kalam only'],
  ]) {
    assert.match(buffers.stdout, new RegExp(`${name}\\s+${layer}`), name);
  }
  assert.equal(runs.length, 0);
  const json = bufferedContext();
  assert.equal(await runCli(['sim', '--list-bugs', '--json'], json.ctx), ExitCode.Ok);
  const listed = (JSON.parse(json.buffers.stdout) as { bugs: { name: string }[] }).bugs.map((b) => b.name);
  assert.equal(listed.length, 13);
});

test('--kalam --plant-bug reaches the Kalam-level run, any layer', async () => {
  const { ctx, runs } = bufferedContext((options) => ({
    ...passingRun(options),
    linearizability: { verdict: 'linearizable', keys: 1, operations: 1 },
  }));
  assert.equal(
    await runCli(['sim', '--kalam', '--seeds', '1', '--plant-bug', 'restoreDropsOtherTables'], ctx),
    ExitCode.Ok,
  );
  assert.equal(runs[0]?.plantedBug, 'restoreDropsOtherTables');
  assert.equal(runs[0]?.kalam, true);
});

test('an unexpected error is an internal error: exit 3 with its stack', async () => {
  const { ctx, buffers } = bufferedContext();
  const broken = { ...ctx, simRunner: () => ({ run: () => Promise.reject(new TypeError('wires crossed')) }) };
  assert.equal(await runCli(['sim', '--seeds', '2'], broken), ExitCode.Internal);
  assert.match(buffers.stderr, /internal error \(a bug in kalam\): TypeError: wires crossed\n\s+at /);
});

test('--help and --version exit 0; no command is a usage error', async () => {
  const help = bufferedContext();
  assert.equal(await runCli(['sim', '--help'], help.ctx), ExitCode.Ok);
  assert.match(help.buffers.stdout, /Usage: kalam sim \[options\]/);
  const version = bufferedContext();
  assert.equal(await runCli(['--version'], version.ctx), ExitCode.Ok);
  assert.match(version.buffers.stdout, /^\d+\.\d+\.\d+\n$/);
  const none = bufferedContext();
  assert.equal(await runCli([], none.ctx), ExitCode.Usage);
  assert.match(none.buffers.stderr, /Usage: kalam/);
});
