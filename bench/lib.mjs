// Helpers shared by the benchmark scripts under bench/: the machine they ran on, a percentile, a plain-text table, and
// the results file bench/results/<name>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';

/** What a figure is worth only with: the machine it was measured on. */
export function machine() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cpus: list.length,
    platform: platform(),
    arch: arch(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** The value at rank floor(p% of n) of an ascending array, null when it is empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A number with `digits` decimals (fewer above 10), integers and text as they are, '-' for nothing. */
export function formatCell(value, digits = 2) {
  if (value === null || value === undefined) return '-';
  if (typeof value !== 'number' || Number.isInteger(value)) return String(value);
  return value.toFixed(value < 10 ? digits : 1);
}

/** Prints `rows` under `columns` ([{key, title}]), numbers right-aligned, the first column left-aligned. */
export function printTable(columns, rows, digits = 2) {
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c.key], digits)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const line = (r) => r.map((text, i) => (i === 0 ? text.padEnd(widths[i]) : text.padStart(widths[i]))).join('  ');
  process.stdout.write(`${line(columns.map((c) => c.title))}\n`);
  for (const r of cells) process.stdout.write(`${line(r)}\n`);
}

/** Writes bench/results/<name>.json and returns its path relative to the repository. */
export function writeResults(name, result) {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${name}.json`, dir), `${JSON.stringify(result, null, 2)}\n`);
  return `bench/results/${name}.json`;
}
