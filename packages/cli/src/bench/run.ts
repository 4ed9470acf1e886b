/**
 * Runs the benchmarks under bench/: each is a script `bench/<name>/run.mjs` that takes `--json` (print one
 * JSON object on stdout) and `--quick` (a short run), writes its own bench/results/<name>.json, and reports
 * progress on stderr, which is passed on line by line. A script that exits 2 could not run here (bad options, a
 * missing build, a missing system package such as etcd) and says why in one line. Nothing here times anything: the
 * scripts measure, this collects and renders.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CliError } from '../errors.js';

export interface BenchColumn {
  readonly key: string;
  readonly title: string;
}

/** What a bench script prints with --json. Fields beyond these are kept as they are. */
export interface BenchResult {
  readonly bench: string;
  readonly title: string;
  readonly columns: readonly BenchColumn[];
  readonly rows: readonly Record<string, unknown>[];
  readonly [key: string]: unknown;
}

export function listBenches(benchDir: string): string[] {
  if (!existsSync(benchDir)) return [];
  return readdirSync(benchDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(benchDir, d.name, 'run.mjs')))
    .map((d) => d.name)
    .sort();
}

export interface RunBenchOptions {
  readonly quick: boolean;
  /** More arguments for the script, after --json and --quick (e.g. `--reps 3` for bench/etcd). */
  readonly args?: readonly string[];
  /** Each line the script writes to stderr (its progress, or why it could not run). */
  readonly onProgress: (line: string) => void;
}

/** The exit code with which a bench script says it cannot run here; any other non-zero code is a failed run. */
const EXIT_CANNOT_RUN = 2;

export async function runBench(benchDir: string, name: string, options: RunBenchOptions): Promise<BenchResult> {
  const script = join(benchDir, name, 'run.mjs');
  const args = [script, '--json', ...(options.quick ? ['--quick'] : []), ...(options.args ?? [])];
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    forwardLines(child.stderr, options.onProgress);
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: Buffer.concat(chunks).toString('utf8') }));
  });
  if (code === EXIT_CANNOT_RUN) {
    throw new CliError('BENCH_CANNOT_RUN', `bench ${name} could not run here (exit 2): its reason is the line above`);
  }
  if (code !== 0) throw new CliError('BENCH_FAILED', `bench ${name} exited with code ${String(code)}`);
  return parseResult(name, stdout);
}

/** Calls `onLine` with each complete line of `stream`, and with the unterminated rest when it ends. */
function forwardLines(stream: Readable, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
  });
}

function parseResult(name: string, stdout: string): BenchResult {
  const last = stdout.trimEnd().split('\n').pop() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(last);
  } catch (cause) {
    throw new CliError('BENCH_FAILED', `bench ${name} did not print a JSON object with --json`, { cause });
  }
  if (!isBenchResult(value)) {
    throw new CliError('BENCH_FAILED', `bench ${name} printed JSON without bench, title, columns and rows`);
  }
  return value;
}

function isBenchResult(value: unknown): value is BenchResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['bench'] === 'string' &&
    typeof v['title'] === 'string' &&
    Array.isArray(v['columns']) &&
    Array.isArray(v['rows'])
  );
}
