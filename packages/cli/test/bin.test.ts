/**
 * End to end through bin/kalam with the real simulator, in a child process: a replay is exact (the same
 * trace hash twice, and the same as in a multi-seed run on worker threads), a planted bug makes the command
 * exit 1 and name a failing seed, and a missing build is one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SimReport } from '../src/sim/report.js';

const kalam = fileURLToPath(new URL('../../../../bin/kalam', import.meta.url));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(bin: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Small runs: these tests check the command, not the simulator's reach. */
const SMALL = ['--groups', '2', '--ticks', '300'];

test('a replay is exact: one seed, twice, and inside a multi-seed run on worker threads', async () => {
  const [first, second, batch] = await Promise.all([
    run(kalam, ['sim', '--seed', '3', ...SMALL, '--json']),
    run(kalam, ['sim', '--seed', '3', ...SMALL, '--json']),
    run(kalam, ['sim', '--seeds', '4', '--jobs', '2', ...SMALL, '--json']),
  ]);
  for (const r of [first, second, batch]) assert.equal(r.code, 0, r.stderr);
  const a = JSON.parse(first.stdout) as SimReport;
  const b = JSON.parse(second.stdout) as SimReport;
  const all = JSON.parse(batch.stdout) as SimReport;
  assert.match(a.traceHash ?? '', /^[0-9a-f]{8,}$/);
  assert.equal(b.traceHash, a.traceHash);
  assert.equal(all.runs.find((r) => r.seed === 3)?.traceHash, a.traceHash);
  assert.equal(all.violations, 0);
});

test('with a planted bug the command exits 1 and names a failing seed with its replay', async () => {
  const r = await run(kalam, ['sim', '--seeds', '10', '--plant-bug', 'grantSecondVote', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as SimReport;
  assert.ok(report.violations > 0);
  const failure = report.failures[0];
  assert.ok(failure !== undefined);
  assert.match(failure.replay, new RegExp(`^kalam sim --seed ${failure.seed} --nodes ${failure.nodes} `));
  assert.match(failure.replay, /--plant-bug grantSecondVote$/);
  assert.match(r.stderr, new RegExp(`first: seed ${failure.seed} `));
});

test('bad usage through the binary is one line on stderr and exit 2', async () => {
  const r = await run(kalam, ['sim', '--nodes', '4']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
});

test('without a build, bin/kalam says to run make build and exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-bin-'));
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(kalam, join(dir, 'bin', 'kalam'));
    const r = await run(join(dir, 'bin', 'kalam'), ['sim']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^kalam: the CLI is not built .*run `make build` first\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Runs bin/kalam with a module hook that records every module URL it resolves (module.register, off-thread in Node
 * 20), and returns those of the CLI and the simulator.
 */
async function loadedModules(args: readonly string[]): Promise<{ run: Run; urls: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-bin-loaded-'));
  try {
    const log = join(dir, 'loaded.txt');
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    const r = await new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        ['--import', register, kalam, ...args],
        { env: { ...process.env, NO_COLOR: '1' } },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
    const urls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((u) => /\/packages\/(cli|sim|check)\/dist\//.test(u));
    return { run: r, urls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('kalam serve loads its own command only: not the rest of the CLI, the simulator or the checker', async () => {
  const serve = await loadedModules(['serve', '--help']);
  assert.equal(serve.run.code, 0, serve.run.stderr);
  assert.match(serve.run.stdout, /Usage: kalam serve/);
  assert.ok(
    serve.urls.some((u) => u.endsWith('/cli/dist/src/commands/serve.js')),
    serve.urls.join('\n'),
  );
  const heavy = serve.urls.filter((u) =>
    /\/(sim|check)\/dist\/|\/cli\/dist\/src\/(program|sim\/|drill\/|bench\/|commands\/(sim|drill|bench|cluster|node|sql)\.)/.test(
      u,
    ),
  );
  assert.deepEqual(heavy, []);
  // The check can fail: any other command loads the whole CLI.
  const other = await loadedModules(['--help']);
  assert.equal(other.run.code, 0, other.run.stderr);
  assert.ok(other.urls.some((u) => u.endsWith('/cli/dist/src/program.js')));
  assert.ok(other.urls.some((u) => /\/sim\/dist\//.test(u)));
});
