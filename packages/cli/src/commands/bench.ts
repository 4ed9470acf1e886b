/**
 * `kalam bench [name…]`: runs the benchmarks under bench/ (all of them by default) and prints a table per
 * benchmark, or with --json one object `{benches: [...]}`. Each benchmark also writes
 * bench/results/<name>.json. `kalam bench sql --vs etcd` runs bench/etcd instead: the SQL load beside a local etcd
 * cluster, interleaved. That one needs a system package, so running every benchmark leaves it out.
 */
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { BenchResult } from '../bench/run.js';
import { listBenches, runBench } from '../bench/run.js';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import type { Output } from '../output.js';
import { formatTable, printJson } from '../output.js';
import { repoRoot } from '../paths.js';

interface RawBenchOptions {
  readonly json?: boolean;
  readonly quick?: boolean;
  readonly list?: boolean;
  readonly vs?: string;
  readonly reps?: string;
  readonly duration?: string;
  readonly clients?: string;
}

/**
 * Comparisons: `kalam bench <of> --vs <name>` runs bench/<name>. They need software from outside the repository, so
 * `kalam bench` without names does not run them.
 */
const COMPARISONS: Readonly<Record<string, { readonly of: string }>> = { etcd: { of: 'sql' } };

/** Options passed on to a comparison's script as they are; the script checks their values (exit 2 when bad). */
const COMPARISON_OPTIONS = ['reps', 'duration', 'clients'] as const;

export function registerBench(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .summary('run the benchmarks under bench/')
    .description('Run the benchmarks under bench/ (all of them unless named) and print their tables.')
    .argument('[names...]', 'benchmarks to run, e.g. raft-core')
    .option('--json', 'print one JSON object with every result')
    .option('--quick', 'short runs, for a smoke test (the figures are not meaningful)')
    .option('--list', 'list the benchmarks and exit')
    .addOption(
      new Option('--vs <system>', 'run sql beside another system, interleaved (bench/etcd)').choices(
        Object.keys(COMPARISONS),
      ),
    )
    .option('--reps <n>', 'with --vs: repetitions, the median is reported (default 3)')
    .option('--duration <seconds>', 'with --vs: each measured window (default 5)')
    .option('--clients <list>', 'with --vs: client counts (default 1,16,64)')
    .action(async (names: string[], raw: RawBenchOptions) => {
      const benchDir = join(repoRoot, 'bench');
      const known = listBenches(benchDir);
      if (raw.list === true) {
        for (const name of known) ctx.out.line(name);
        return;
      }
      const selected = selectBenches(names, raw, known);
      const unknown = selected.filter((n) => !known.includes(n));
      if (unknown.length > 0 || selected.length === 0) {
        throw new CliError(
          'BENCH_NOT_FOUND',
          `no benchmark ${unknown.join(', ') || 'found'} under ${benchDir} (known: ${known.join(', ') || 'none'})`,
        );
      }
      const args = comparisonArgs(raw, selected);
      const results: BenchResult[] = [];
      for (const name of selected) {
        ctx.out.note(`bench: running ${name}${raw.quick === true ? ' (quick)' : ''}`);
        const onProgress = (line: string) => ctx.out.note(line);
        results.push(await runBench(benchDir, name, { quick: raw.quick === true, args, onProgress }));
      }
      if (raw.json === true) printJson(ctx.out, { benches: results });
      else for (const result of results) renderBench(ctx.out, result);
    });
}

/** The names asked for; `--vs X` turns `X`'s base benchmark into the comparison; none: all but the comparisons. */
function selectBenches(names: readonly string[], raw: RawBenchOptions, known: readonly string[]): string[] {
  if (raw.vs !== undefined) {
    const comparison = COMPARISONS[raw.vs];
    if (comparison === undefined) throw usageError(`--vs: no comparison with ${raw.vs}`);
    if (names.some((n) => n !== comparison.of)) {
      throw usageError(
        `--vs ${raw.vs} compares the ${comparison.of} benchmark: kalam bench ${comparison.of} --vs ${raw.vs}`,
      );
    }
    return [raw.vs];
  }
  return names.length > 0 ? [...names] : known.filter((n) => COMPARISONS[n] === undefined);
}

/** --reps, --duration and --clients as script arguments; they mean something only to a comparison. */
function comparisonArgs(raw: RawBenchOptions, selected: readonly string[]): string[] {
  const given = COMPARISON_OPTIONS.filter((key) => raw[key] !== undefined);
  if (given.length > 0 && selected.some((n) => COMPARISONS[n] === undefined)) {
    throw usageError(`${given.map((key) => `--${key}`).join(', ')}: only with --vs etcd`);
  }
  return given.flatMap((key) => [`--${key}`, String(raw[key])]);
}

function renderBench(out: Output, result: BenchResult): void {
  out.line(out.color.bold(`${result.bench}: ${result.title}`));
  const columns = result.columns.map((col) => ({
    title: col.title,
    value: (row: Record<string, unknown>) => formatCell(row[col.key]),
    align: 'right' as const,
  }));
  for (const line of formatTable(columns, result.rows)) out.line(line);
  // A script may add lines that the table needs to be read right (what each op is, the machine's load).
  const notes = Array.isArray(result['notes']) ? result['notes'] : [];
  for (const note of notes) if (typeof note === 'string') out.line(note);
  out.line();
}

function formatCell(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}
