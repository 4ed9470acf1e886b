/**
 * The exactly-once drill can fail: the shipped exactly-once.toml, short, against real `kalam serve` processes whose
 * data groups ignore client sessions (the server's test-only planted bug ignore-client-sessions) — a retried write
 * whose first attempt was applied is applied again, and the `exactly-once` check must report increments applied
 * twice. (The shipped drill passing on a correct cluster is `make test`'s drill run, scripts/run-tests.mjs --drills.)
 * The run reaps its cluster itself (runDrill brings it down in a finally); t.after SIGKILLs a supervisor still there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSupervisorInfo } from '../src/cluster/folder.js';
import { DRILLS_DIR } from '../src/commands/drill.js';
import { ExitCode } from '../src/errors.js';
import { runCli } from '../src/main.js';
import { bufferedContext } from './support/fakes.js';

/** A 3-node cluster coming up, three kills and restarts, the heal and checks: generous on a shared 2-core machine. */
const DRILL_TEST_TIMEOUT_MS = 240_000;

test(
  'with the planted bug ignore-client-sessions the exactly-once drill reports doubled increments',
  {
    timeout: DRILL_TEST_TIMEOUT_MS,
  },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kalam-drill-eo-'));
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
    const shipped = readFileSync(join(DRILLS_DIR, 'exactly-once.toml'), 'utf8');
    assert.match(shipped, /^\[workload\]$/m);
    const planted = shipped
      .replace(/^name = "exactly-once"$/m, 'name = "exactly-once-planted"')
      .replace(
        /^\[workload\]$/m,
        '[env]\nKALAM_ALLOW_PLANTED_BUGS = "1"\nKALAM_PLANTED_BUG = "ignore-client-sessions"\n\n[workload]',
      );
    const file = join(dir, 'exactly-once-planted.toml');
    writeFileSync(file, planted);
    const { ctx, buffers } = bufferedContext();
    const code = await runCli(['drill', 'run', file, '--short', '--json', '--report', join(dir, 'report')], ctx);
    assert.equal(code, ExitCode.CheckFailed, buffers.stdout + buffers.stderr);
    const result = JSON.parse(buffers.stdout) as { checks: { name: string; passed: boolean; detail: string }[] };
    const check = result.checks.find((c) => c.name === 'exactly-once');
    assert.ok(check !== undefined, buffers.stdout);
    assert.equal(check.passed, false, check.detail);
    assert.match(check.detail, /^[1-9]\d* increment\(s\) applied twice, 0 lost: /);
    // The answers the drill drops make the doubling certain, however the kills fall.
    assert.match(check.detail, /, [1-9]\d* answer\(s\) dropped by the drill/);
    const outcomes = result.checks.find((c) => c.name === 'exactly-once-outcomes');
    assert.match(outcomes?.detail ?? '', /whose answer was dropped was applied again by its retry \(no replay\)/);
    // The register workload's checks are not what fails: the bug only touches writes that carry a client session.
    for (const name of ['linearizable', 'no-lost-acks', 'converged']) {
      assert.equal(result.checks.find((c) => c.name === name)?.passed, true, name);
    }
  },
);
