/**
 * `kalam bench` finds the scripts under bench/, runs one in quick mode (which writes no results file) and
 * renders its table or JSON — floors too, whose output it once could not read; an unknown name is a usage error. No figure is asserted: timings belong in
 * bench/results, never in a test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitCode } from '../src/errors.js';
import { runCli } from '../src/main.js';
import { bufferedContext } from './support/fakes.js';

test('--list names raft-core', async () => {
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['bench', '--list'], ctx), ExitCode.Ok);
  assert.match(buffers.stdout, /^raft-core$/m);
});

test('raft-core --quick --json prints one object with a row per window', async () => {
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['bench', 'raft-core', '--quick', '--json'], ctx), ExitCode.Ok);
  const { benches } = JSON.parse(buffers.stdout) as { benches: { bench: string; rows: { window: number }[] }[] };
  assert.equal(benches.length, 1);
  assert.equal(benches[0]?.bench, 'raft-core');
  assert.deepEqual(
    benches[0]?.rows.map((r) => r.window),
    [1, 16, 64],
  );
});

test('floors --quick --json through kalam bench: one row per floor (it once printed JSON kalam bench could not read)', async () => {
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['bench', 'floors', '--quick', '--json'], ctx), ExitCode.Ok, buffers.stderr);
  const { benches } = JSON.parse(buffers.stdout) as {
    benches: { bench: string; resultsFile: string | null; rows: { floor: string; opsPerS: number }[] }[];
  };
  assert.equal(benches[0]?.bench, 'floors');
  assert.equal(benches[0]?.resultsFile, null, '--quick writes no results file');
  assert.equal(benches[0]?.rows.length, 5);
  for (const row of benches[0]?.rows ?? []) assert.ok(row.opsPerS > 0, row.floor);
});

test('an unknown benchmark exits 2', async () => {
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['bench', 'no-such-bench'], ctx), ExitCode.Usage);
  assert.match(buffers.stderr, /error: no benchmark no-such-bench under .*\(known: [a-z-]+(, [a-z-]+)*\)/);
});
