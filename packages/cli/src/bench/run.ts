/**
 * Runs the benchmarks under bench/: each is a script `bench/<name>/run.mjs` that takes `--json` (print one
 * JSON object on stdout) and `--quick` (a short run), writes its own bench/results/<name>.json, and reports
 * progress on stderr. Nothing here times anything: the scripts measure, this collects and renders.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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

export async function runBench(
  benchDir: string,
  name: string,
  options: { readonly quick: boolean },
): Promise<BenchResult> {
  const script = join(benchDir, name, 'run.mjs');
  const args = [script, '--json', ...(options.quick ? ['--quick'] : [])];
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: Buffer.concat(chunks).toString('utf8') }));
  });
  if (code !== 0) throw new CliError('BENCH_FAILED', `bench ${name} exited with code ${String(code)}`);
  return parseResult(name, stdout);
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
