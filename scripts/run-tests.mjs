#!/usr/bin/env node
// Runs every compiled test file with Node's own test runner and ends with exactly one line
// `N passed, N failed` (`, N skipped` appended when tests were skipped or marked todo).
//
// Test files: packages/*/dist/test/**/*.test.js, and a top-level dist/test/ or test/dist/ when a root test
// project is compiled there. Node 20 has no glob support in `node --test`, so the files are found here and
// passed by name. Exit status: 0 only when at least one test ran and none failed or was cancelled.
//
// Usage: node scripts/run-tests.mjs [--drills] [FILTER…]   (run only the files whose path contains a FILTER)
// --drills: after the tests, run every shipped drill (cluster-configs/drills/*.toml) in its short version, one
// after another, through `kalam drill run FILE --short --json`; each drill counts as one passed or failed item.
// Their reports go to a temp folder, removed when the drill passed and kept (and named) when it failed.
// Solo files (SOLO below) run after the others, one at a time: they assert that a 3-node cluster keeps its leaders
// (no election) under the load the test itself makes, on 2 cores; a second test file's cluster beside them takes the
// CPU that claim is about (CI at b7b30de: one election in `bounds-cluster` with auth-throttle's scrypt beside it).
// Also alone: `membership-removal-cluster` (four nodes; its first step holds only while meta:system keeps its leader)
// and the two browser tests (Chromium and three nodes, a SIGKILL's failover within bounds): official CI failed all
// three at d7d8e5d, each beside another file's cluster, and they never failed here — the cause was not seen.
// Environment: TEST_CONCURRENCY (default: one test file per core); TEST_TIMEOUT_MS (default 10 minutes per test
// file: a long run such as `TEST_TIMEOUT_MS=7200000 KALAM_FUZZ_STATEMENTS=200000 node scripts/run-tests.mjs fuzz-sql`).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** A hung test fails after this long instead of hanging CI. */
const TEST_TIMEOUT_MS = 10 * 60 * 1000;
/** Test files that run alone, after the rest (see the header). */
const SOLO = [
  'server/dist/test/bounds-cluster.test.js',
  'server/dist/test/bulk-load-cluster.test.js',
  'server/dist/test/membership-removal-cluster.test.js',
  'cli/dist/test/todo-browser.test.js',
  'cli/dist/test/console-browser.test.js',
];
/** One short drill runs well under a minute; a drill still running after this is stopped and counted failed. */
const DRILL_TIMEOUT_MS = 3 * 60 * 1000;

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') found.push(...findTests(path));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

function testFiles(filters) {
  const dirs = [join(root, 'dist', 'test'), join(root, 'test', 'dist')];
  const packages = join(root, 'packages');
  if (existsSync(packages)) {
    for (const entry of readdirSync(packages, { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.push(join(packages, entry.name, 'dist', 'test'));
    }
  }
  const files = dirs.flatMap(findTests).map((path) => relative(root, path));
  return files.filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter))).sort();
}

function testTimeoutMs() {
  const fromEnv = Number(process.env.TEST_TIMEOUT_MS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : TEST_TIMEOUT_MS;
}

function concurrency() {
  const fromEnv = Number(process.env.TEST_CONCURRENCY);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

/** The counts in the spec reporter's closing lines (`ℹ pass 12`), the last of each. */
function parseCounts(output) {
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const counts = {};
  for (const match of plain.matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$/gm)) {
    counts[match[1]] = Number(match[2]);
  }
  return counts.tests === undefined ? undefined : counts;
}

function summaryLine({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

function run(files, filesAtOnce = concurrency()) {
  const args = [
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${filesAtOnce}`,
    `--test-timeout=${testTimeoutMs()}`,
    ...files,
  ];
  const env = { ...process.env };
  // The reporter writes to a pipe here; keep its colours when our own output is a terminal.
  if (process.stdout.isTTY && env.NO_COLOR === undefined && env.FORCE_COLOR === undefined) env.FORCE_COLOR = '1';
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
}

/** Runs every shipped drill, short, one at a time; resolves with the number that passed and failed. */
async function runDrills() {
  const dir = join(root, 'cluster-configs', 'drills');
  const drills = readdirSync(dir)
    .filter((f) => f.endsWith('.toml'))
    .sort();
  const reports = mkdtempSync(join(tmpdir(), 'kalam-drills-'));
  let passed = 0;
  let failed = 0;
  for (const file of drills) {
    const name = file.slice(0, -'.toml'.length);
    const report = join(reports, name);
    const started = Date.now();
    const { code, stdout, stderr } = await runDrill(join(dir, file), report);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    let result;
    try {
      result = JSON.parse(stdout);
    } catch {
      result = undefined;
    }
    if (code === 0 && result?.passed === true) {
      passed++;
      console.log(`drill ${name}: ok (${seconds} s, ${result.counts?.calls ?? '?'} calls)`);
      rmSync(report, { recursive: true, force: true });
    } else {
      failed++;
      const failing = result?.checks
        ?.filter((c) => !c.passed)
        .map((c) => `${c.name}: ${c.detail}`)
        .join('; ');
      const lastErr = stderr.trim().split('\n').slice(-1)[0] ?? '';
      console.log(`drill ${name}: FAILED, exit ${code} (${seconds} s) ${failing ?? lastErr}; report kept in ${report}`);
    }
  }
  if (failed === 0) rmSync(reports, { recursive: true, force: true });
  return { passed, failed };
}

function runDrill(file, report) {
  const args = [join(root, 'bin', 'kalam'), 'drill', 'run', file, '--short', '--json', '--report', report];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // The drill did not bring its cluster down: SIGKILL its supervisor, whose nodes exit when their stdin closes.
      try {
        const { pid } = JSON.parse(readFileSync(join(report, 'cluster', 'supervisor.json'), 'utf8'));
        process.kill(pid, 'SIGKILL');
      } catch {
        // No supervisor file, or the supervisor is gone already.
      }
    }, DRILL_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const argv = process.argv.slice(2);
const withDrills = argv.includes('--drills');
const filters = argv.filter((a) => a !== '--drills');
const files = testFiles(filters);
if (files.length === 0) {
  console.error(
    filters.length > 0
      ? `run-tests: no compiled test file matches ${filters.join(' or ')}`
      : 'run-tests: no compiled test files (packages/*/dist/test/**/*.test.js): run `make build` first',
  );
  console.log(summaryLine({ passed: 0, failed: 0, skipped: 0 }));
  process.exit(1);
}
const solo = files.filter((f) => SOLO.some((s) => f.endsWith(s)));
const shared = files.filter((f) => !solo.includes(f));
console.error(
  `run-tests: ${files.length} test files, ${concurrency()} at a time` +
    (solo.length > 0 ? `; then ${solo.length} alone (${solo.map((f) => f.split('/').pop()).join(', ')})` : ''),
);
let passed = 0;
let failed = 0;
let skipped = 0;
let ran = 0;
let code = 0;
for (const [batch, atOnce] of [
  [shared, concurrency()],
  [solo, 1],
]) {
  if (batch.length === 0) continue;
  const result = await run(batch, atOnce);
  const counts = parseCounts(result.output);
  if (counts === undefined) {
    console.error(
      `run-tests: the test runner ended (code ${result.code}, signal ${result.signal}) without its summary`,
    );
    process.exit(1);
  }
  passed += counts.pass ?? 0;
  failed += (counts.fail ?? 0) + (counts.cancelled ?? 0);
  skipped += (counts.skipped ?? 0) + (counts.todo ?? 0);
  ran += counts.tests;
  if (result.code !== 0) code = result.code ?? 1;
}
if (ran === 0) console.error('run-tests: no test ran');
if (failed === 0 && code !== 0) console.error(`run-tests: the test runner exited with code ${code}`);
if (withDrills) {
  console.log(`\nrun-tests: tests: ${summaryLine({ passed, failed, skipped })}; now the shipped drills (short)`);
  const drills = await runDrills();
  passed += drills.passed;
  failed += drills.failed;
}
console.log(summaryLine({ passed, failed, skipped }));
process.exit(failed > 0 || ran === 0 || code !== 0 ? 1 : 0);
