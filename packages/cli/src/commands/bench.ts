/**
 * `kalam bench [name…]`: runs the benchmarks under bench/ (all of them by default) and prints a table per
 * benchmark, or with --json one object `{benches: [...]}`. Each benchmark also writes
 * bench/results/<name>.json.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { BenchResult } from '../bench/run.js';
import { listBenches, runBench } from '../bench/run.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import type { Output } from '../output.js';
import { formatTable, printJson } from '../output.js';
import { repoRoot } from '../paths.js';

interface RawBenchOptions {
  readonly json?: boolean;
  readonly quick?: boolean;
  readonly list?: boolean;
}

export function registerBench(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .summary('run the benchmarks under bench/')
    .description('Run the benchmarks under bench/ (all of them unless named) and print their tables.')
    .argument('[names...]', 'benchmarks to run, e.g. raft-core')
    .option('--json', 'print one JSON object with every result')
    .option('--quick', 'short runs, for a smoke test (the figures are not meaningful)')
    .option('--list', 'list the benchmarks and exit')
    .action(async (names: string[], raw: RawBenchOptions) => {
      const benchDir = join(repoRoot, 'bench');
      const known = listBenches(benchDir);
      if (raw.list === true) {
        for (const name of known) ctx.out.line(name);
        return;
      }
      const selected = names.length > 0 ? names : known;
      const unknown = selected.filter((n) => !known.includes(n));
      if (unknown.length > 0 || selected.length === 0) {
        throw new CliError(
          'BENCH_NOT_FOUND',
          `no benchmark ${unknown.join(', ') || 'found'} under ${benchDir} (known: ${known.join(', ') || 'none'})`,
        );
      }
      const results: BenchResult[] = [];
      for (const name of selected) {
        ctx.out.note(`bench: running ${name}${raw.quick === true ? ' (quick)' : ''}`);
        results.push(await runBench(benchDir, name, { quick: raw.quick === true }));
      }
      if (raw.json === true) printJson(ctx.out, { benches: results });
      else for (const result of results) renderBench(ctx.out, result);
    });
}

function renderBench(out: Output, result: BenchResult): void {
  out.line(out.color.bold(`${result.bench}: ${result.title}`));
  const columns = result.columns.map((col) => ({
    title: col.title,
    value: (row: Record<string, unknown>) => formatCell(row[col.key]),
    align: 'right' as const,
  }));
  for (const line of formatTable(columns, result.rows)) out.line(line);
  out.line();
}

function formatCell(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}
