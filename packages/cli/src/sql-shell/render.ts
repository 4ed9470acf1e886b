/**
 * How `kalam sql` prints an answer on stdout: each result set as an aligned table (headers from the result's
 * schema, NULL shown as NULL, numeric columns right-aligned, timestamps (ms since the epoch) as ISO
 * 8601 in UTC) with a `(N rows)` footer, a statement without a result
 * set as its message (DDL: "Namespace app created"; DML: "2 row(s) inserted"), and the request's `took`.
 *
 * Cells never break a line: control characters are shown escaped (\n, \t). On a terminal only, a cell longer
 * than cellMaxChars is cut with an ellipsis and a table wider than the terminal has its widest columns narrowed
 * (never below cellMinChars); a pipe gets every value in full. `--json` bypasses all of this.
 */
import type { Output } from '../output.js';
import type { SqlResponse, SqlResult } from './client.js';
import { SQL_SHELL_LIMITS } from './limits.js';

const SEPARATOR = ' | ';
const ELLIPSIS = '…';

interface Cell {
  readonly text: string;
  readonly isNull: boolean;
}

/** Prints every result of a successful answer, then the time the server took. */
export function printResponse(out: Output, response: SqlResponse): void {
  const results = response.results ?? [];
  results.forEach((result, i) => {
    if (i > 0) out.line();
    for (const line of renderResult(out, result)) out.line(line);
  });
  if (response.took !== undefined) out.line(out.color.dim(`took ${response.took.toFixed(2)} ms`));
}

export function renderResult(out: Output, result: SqlResult): string[] {
  const lines = result.schema.length > 0 ? renderTable(out, result) : [];
  const count = result.schema.length > 0 ? result.rows.length : result.row_count;
  const asUser = result.as_user !== undefined ? ` as user ${result.as_user}` : '';
  if (result.message !== undefined && result.message !== '') {
    lines.push(`${result.message}${asUser}`);
  } else if (result.schema.length > 0) {
    lines.push(out.color.dim(`(${count} ${count === 1 ? 'row' : 'rows'}${asUser})`));
  } else {
    lines.push(`OK, ${count} ${count === 1 ? 'row' : 'rows'} affected${asUser}`);
  }
  return lines;
}

function renderTable(out: Output, result: SqlResult): string[] {
  const tty = out.stdout.isTTY === true;
  const columns = result.schema.map((c) => c.name);
  const types = result.schema.map((c) => c.data_type);
  const cells: Cell[][] = result.rows.map((row) => columns.map((_, i) => cellOf(row[i], types[i])));
  const rightAligned = columns.map((_, i) => types[i] !== TIMESTAMP_TYPE && isNumericColumn(result.rows, i));
  // A loop, not Math.max(...cells): a result may have more rows than a call may have arguments.
  const widths = columns.map((name) => name.length);
  for (const row of cells) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.text.length)));
  if (tty) fitWidths(widths, out.stdout.columns);

  const pad = (text: string, i: number, right = rightAligned[i] === true): string => {
    const width = widths[i] ?? 0;
    const cut = text.length > width ? `${text.slice(0, Math.max(0, width - ELLIPSIS.length))}${ELLIPSIS}` : text;
    return right ? cut.padStart(width) : cut.padEnd(width);
  };
  // Headers are left-aligned over every column, values as their type reads best.
  // The last header is not padded, so that no styled trailing blanks end the line.
  const header = columns
    .map((name, i) => out.color.bold(i === columns.length - 1 ? name : pad(name, i, false)))
    .join(SEPARATOR);
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-');
  const body = cells.map((row) =>
    row
      .map((cell, i) => {
        const text = pad(cell.text, i);
        return cell.isNull ? out.color.dim(text) : text;
      })
      .join(SEPARATOR)
      .trimEnd(),
  );
  return [` ${header}`.trimEnd(), `-${rule}-`, ...body.map((line) => ` ${line}`)];
}

/** Caps every column at cellMaxChars, then narrows the widest until the table fits `terminalColumns`. */
function fitWidths(widths: number[], terminalColumns: number | undefined): void {
  const { cellMaxChars, cellMinChars } = SQL_SHELL_LIMITS;
  for (let i = 0; i < widths.length; i++) widths[i] = Math.min(widths[i] ?? 0, cellMaxChars);
  if (terminalColumns === undefined || terminalColumns <= 0) return;
  const total = (): number => widths.reduce((a, b) => a + b, 0) + SEPARATOR.length * (widths.length - 1) + 2;
  // Each pass narrows one column by one character, so this ends within sum(widths) passes.
  while (total() > terminalColumns) {
    const widest = widths.reduce((best, w, i) => (w > (widths[best] ?? 0) ? i : best), 0);
    const w = widths[widest] ?? 0;
    if (w <= cellMinChars) return;
    widths[widest] = w - 1;
  }
}

/** The schema's name for TIMESTAMP columns, whose values the API sends as ms since the epoch. */
const TIMESTAMP_TYPE = 'Timestamp';

function cellOf(value: unknown, dataType: string | undefined): Cell {
  if (value === null || value === undefined) return { text: 'NULL', isNull: true };
  if (dataType === TIMESTAMP_TYPE && typeof value === 'number' && Number.isFinite(value)) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return { text: date.toISOString(), isNull: false };
  }
  // The API sends strings, numbers and booleans; anything else is shown as its JSON.
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : JSON.stringify(value);
  return { text: escapeControl(text), isNull: false };
}

const CONTROL_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeControl(text: string): string {
  return text.replaceAll(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/g,
    (ch) => CONTROL_ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function isNumericColumn(rows: readonly (readonly unknown[])[], i: number): boolean {
  let numbers = 0;
  for (const row of rows) {
    const v = row[i];
    if (v === null || v === undefined) continue;
    if (typeof v !== 'number') return false;
    numbers++;
  }
  return numbers > 0;
}
