/**
 * Where the CLI writes: results on stdout, progress and errors on stderr. Colour is off when NO_COLOR is
 * set (https://no-color.org) or the stream is not a TTY; FORCE_COLOR turns it on for a pipe.
 */
import { Chalk } from 'chalk';
import type { ChalkInstance } from 'chalk';

/** The part of a stream the CLI uses, so tests can pass a string buffer. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface Output {
  /** Write one result line (a newline is added) to stdout. */
  line(text?: string): void;
  /** Write one progress or error line (a newline is added) to stderr. */
  note(text?: string): void;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Colours for text written to stdout. */
  readonly color: ChalkInstance;
  /** Colours for text written to stderr. */
  readonly noteColor: ChalkInstance;
}

export interface OutputOptions {
  readonly stdout?: TextSink;
  readonly stderr?: TextSink;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function createOutput(options: OutputOptions = {}): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  return {
    stdout,
    stderr,
    color: new Chalk({ level: colorLevel(stdout, env) }),
    noteColor: new Chalk({ level: colorLevel(stderr, env) }),
    line: (text = '') => void stdout.write(`${text}\n`),
    note: (text = '') => void stderr.write(`${text}\n`),
  };
}

/** 0 = no colour, 1 = the 16 basic colours: all the CLI uses. */
function colorLevel(sink: TextSink, env: Readonly<Record<string, string | undefined>>): 0 | 1 {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return 0;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return 1;
  if (env['TERM'] === 'dumb') return 0;
  return sink.isTTY === true ? 1 : 0;
}

/** Writes a value as one line of JSON on stdout. */
export function printJson(out: Output, value: unknown): void {
  out.line(JSON.stringify(value));
}

export interface Column<Row> {
  readonly title: string;
  readonly value: (row: Row) => string;
  readonly align?: 'left' | 'right';
}

/** A plain text table: a header, then one line per row, columns padded to their widest cell. */
export function formatTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string[] {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => (r[i] ?? '').length)));
  const pad = (text: string, i: number): string => {
    const width = widths[i] ?? 0;
    return columns[i]?.align === 'right' ? text.padStart(width) : text.padEnd(width);
  };
  const render = (r: readonly string[]): string =>
    r
      .map((text, i) => pad(text, i))
      .join('  ')
      .trimEnd();
  return [render(columns.map((c) => c.title)), ...cells.map(render)];
}

/** Key/value lines with the keys padded to one width. */
export function formatPairs(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * A progress line on stderr: redrawn in place on a TTY, otherwise printed at each quarter so that a CI log
 * stays short. `update` is cheap to call after every item.
 */
export interface Progress {
  update(done: number, suffix?: string): void;
  finish(): void;
}

export function createProgress(out: Output, label: string, total: number): Progress {
  const tty = out.stderr.isTTY === true;
  const barWidth = 24;
  let lastQuarter = 0;
  let lastDrawMs = 0;
  let drawn = false;
  return {
    update(done, suffix = '') {
      const text = `${label} ${done}/${total}${suffix === '' ? '' : `  ${suffix}`}`;
      if (tty) {
        const now = performance.now();
        if (done < total && now - lastDrawMs < 50) return;
        lastDrawMs = now;
        const filled = total === 0 ? barWidth : Math.round((done / total) * barWidth);
        const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
        out.stderr.write(`\r\x1b[2K${bar} ${text}`);
        drawn = true;
        return;
      }
      const quarter = total === 0 ? 4 : Math.floor((done * 4) / total);
      if (quarter > lastQuarter) {
        lastQuarter = quarter;
        out.note(text);
      }
    },
    finish() {
      if (drawn) out.stderr.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
