/**
 * Drills against real `kalam serve` processes under the supervisor: the shipped leader-failover drill passes,
 * and a cluster whose nodes acknowledge some UPDATEs without proposing them (the server's test-only
 * ack-without-commit planted bug) fails the drill. Each run reaps its cluster itself (runDrill brings it down in a
 * finally), and t.after SIGKILLs a supervisor that is still there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSupervisorInfo } from '../src/cluster/folder.js';
import { DRILLS_DIR } from '../src/commands/drill.js';
import { ExitCode } from '../src/errors.js';
import { runCli } from '../src/main.js';
import { bufferedContext } from './support/fakes.js';

/** A 3-node cluster coming up, the drill, its heal and checks: generous on a shared 2-core machine. */
const DRILL_TEST_TIMEOUT_MS = 180_000;

interface JsonResult {
  passed: boolean;
  checks: { name: string; passed: boolean; detail: string }[];
  availability: unknown[];
}

/**
 * A temp folder removed after the test. Should the drill not bring its cluster down (a failure, a timeout), the
 * supervisor is SIGKILLed by the pid in its supervisor.json: its nodes see their stdin close and exit with it.
 */
function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-drill-real-'));
  t.after(() => {
    const supervisor = readSupervisorInfo(join(dir, 'report', 'cluster'));
    if (supervisor !== undefined) {
      try {
        process.kill(supervisor.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test('leader-failover --short passes against a real cluster', { timeout: DRILL_TEST_TIMEOUT_MS }, async (t) => {
  const dir = tempDir(t);
  const { ctx, buffers } = bufferedContext();
  const file = join(DRILLS_DIR, 'leader-failover.toml');
  const code = await runCli(['drill', 'run', file, '--short', '--json', '--report', join(dir, 'report')], ctx);
  assert.equal(code, ExitCode.Ok, buffers.stdout + buffers.stderr);
  const result = JSON.parse(buffers.stdout) as JsonResult;
  assert.equal(result.passed, true);
  assert.ok(result.availability.length > 0);
  assert.ok(existsSync(join(dir, 'report', 'report.html')));
});

test('a node that acknowledges without committing fails the drill', { timeout: DRILL_TEST_TIMEOUT_MS }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'planted-ack.toml');
  writeFileSync(
    file,
    [
      'name = "planted-ack"',
      'description = "every node acknowledges some UPDATEs without proposing them"',
      'nodes = 3',
      '[env]',
      'KALAM_ALLOW_PLANTED_BUGS = "1"',
      'KALAM_PLANTED_BUG = "ack-without-commit"',
      '[workload]',
      'clients = 4',
      'users = 8',
      'shared_keys = 4',
      '[[steps]]',
      'action = "wait"',
      'ms = 3000',
      '',
    ].join('\n'),
  );
  const { ctx, buffers } = bufferedContext();
  const code = await runCli(['drill', 'run', file, '--json', '--report', join(dir, 'report')], ctx);
  assert.equal(code, ExitCode.CheckFailed, buffers.stdout + buffers.stderr);
  const result = JSON.parse(buffers.stdout) as JsonResult;
  assert.equal(result.passed, false);
  const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
  assert.ok(failed.includes('no-lost-acks') || failed.includes('linearizable'), failed.join(', '));
  assert.match(buffers.stderr, /error: drill planted-ack failed: /);
});
