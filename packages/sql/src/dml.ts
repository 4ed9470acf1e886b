/**
 * SELECT, INSERT, UPDATE and DELETE (and the WHERE of SUBSCRIBE TO) go through node-sql-parser's PostgreSQL grammar;
 * this file prepares its input and converts its AST into Kalam's own (ast.ts), so the library's types never leak.
 *
 * The text handed to the library is the statement alone, from its first token: unquoted words are lower-cased in
 * place (so quoted identifiers stay as written), and the only length-changing edits (`?` → `$n`, SUBSCRIBE TO →
 * SELECT * FROM, string literals → stand-ins) are recorded, so that a library offset maps back to the batch's (and so
 * to its line and column). The rest of the batch is left out, not blanked: the library reads whitespace one character
 * at a time, and the statements before it made each statement of a 200-statement batch cost 2 ms, 430 ms in all.
 *
 * String literals reach the library as stand-ins, `'0'`, `'1'`, … (their index among the statement's strings), and
 * the converter puts the lexer's values back: the library's PEG grammar reads a literal one character at a time
 * (a 500-row INSERT of 1 KB values cost 115 ms of CPU there, on the event loop that drives Raft), and the lexer has
 * already read and unescaped them. A string literal can only be an expression in the dialect (never an alias or a
 * name), so every single-quoted string the library hands back is a stand-in.
 *
 * Before the library runs, the statement is measured on its tokens against SQL_LIMITS (bounds.ts): a statement over
 * a bound costs one pass over its tokens, not a parse.
 */
import sqlParser from 'node-sql-parser/build/postgresql.js';
import type { Delete, Expr, Insert, OrderByItem, Select, SelectItem, TableRef, Update } from './ast.js';
import { convertExpr, literalNumber, type LibNode, isNode, locOffset, nodes, text, type Converter } from './convert.js';
import { checkStatementBounds } from './bounds.js';
import { invalidSqlAt, limitExceeded, type SqlError } from './errors.js';
import type { Token } from './lexer.js';
import { describe } from './cursor.js';

const parser = new sqlParser.Parser();
const PARSE_OPTIONS = { database: 'postgresql', trimQuery: false, parseOptions: { includeLocations: true } } as const;

interface Edit {
  readonly libStart: number;
  readonly libEnd: number;
  readonly origStart: number;
  readonly origEnd: number;
}

/** Replace the tokens [from, to) with `text` in the library's input. */
export interface Replacement {
  readonly from: number;
  readonly to: number;
  readonly text: string;
}

export interface LibInput {
  readonly source: string;
  readonly tokens: readonly Token[];
  readonly from: number;
  readonly to: number;
  readonly replacement?: Replacement;
}

/**
 * What node-sql-parser is given: its text, where in the batch it starts, the length-changing edits, and the string
 * literals it stands in for.
 */
interface Prepared {
  readonly text: string;
  /** The batch offset of the text's first character (the statement's first token). */
  readonly base: number;
  readonly edits: Edit[];
  readonly strings: string[];
}

/** Builds the library's text for tokens [from, to), the edits that changed lengths, and the stood-in strings. */
function prepare(input: LibInput): Prepared {
  const { source, tokens, from, to, replacement } = input;
  const first = tokens[from];
  const strings: string[] = [];
  if (first === undefined) return { text: '', base: 0, edits: [], strings };
  const edits: Edit[] = [];
  let text = '';
  let previousEnd = first.start;
  let questionMarks = 0;
  const push = (origStart: number, origEnd: number, piece: string): void => {
    const libStart = text.length;
    text += piece;
    if (piece.length !== origEnd - origStart) edits.push({ libStart, libEnd: text.length, origStart, origEnd });
  };
  for (let i = from; i < to; i++) {
    const token = tokens[i];
    if (token === undefined) break;
    text += source.slice(previousEnd, token.start);
    if (replacement !== undefined && i === replacement.from) {
      const last = tokens[replacement.to - 1] ?? token;
      push(token.start, last.end, replacement.text);
      i = replacement.to - 1;
      previousEnd = last.end;
      continue;
    }
    const raw = source.slice(token.start, token.end);
    if (token.kind === 'word') {
      const lower = raw.toLowerCase();
      push(token.start, token.end, lower.length === raw.length ? lower : raw);
    } else if (token.kind === 'param' && token.value === '?') {
      questionMarks++;
      push(token.start, token.end, `$${questionMarks}`);
    } else if (token.kind === 'string') {
      push(token.start, token.end, `'${strings.length}'`);
      strings.push(token.value);
    } else {
      push(token.start, token.end, raw);
    }
    previousEnd = token.end;
  }
  return { text, base: first.start, edits, strings };
}

/** The batch offset of the library's offset `libOffset`. */
function toOriginal({ base, edits }: Prepared, libOffset: number): number {
  let delta = -base;
  for (const edit of edits) {
    if (libOffset < edit.libStart) break;
    if (libOffset < edit.libEnd) return edit.origStart;
    delta = edit.libEnd - edit.origEnd;
  }
  return libOffset - delta;
}

/** Mixing `$n` and `?` in one statement is ambiguous: refuse it at the first placeholder of the second style. */
function checkPlaceholderStyle(input: LibInput): void {
  let style: string | null = null;
  for (let i = input.from; i < input.to; i++) {
    const token = input.tokens[i];
    if (token?.kind !== 'param') continue;
    const current = token.value === '?' ? '?' : '$';
    if (style !== null && style !== current) {
      throw invalidSqlAt(input.source, token.start, 'cannot mix $n and ? placeholders in one statement');
    }
    style = current;
  }
}

/** Library runs since the process started, and the characters they were given (tests read these). */
export const libraryStats = { runs: 0, chars: 0 };

/** Runs the library on one statement; returns its AST root and a converter that maps locations back. */
function runLibrary(input: LibInput): { root: LibNode; conv: Converter } {
  checkStatementBounds(input);
  checkPlaceholderStyle(input);
  const prepared = prepare(input);
  const { text, strings } = prepared;
  const startOffset = input.tokens[input.from]?.start ?? 0;
  const conv: Converter = {
    fail: (libOffset, message) =>
      invalidSqlAt(input.source, libOffset === null ? startOffset : toOriginal(prepared, libOffset), message),
    limit: (libOffset, name, what) =>
      limitExceeded(input.source, libOffset === null ? startOffset : toOriginal(prepared, libOffset), name, what),
    stringLiteral: (standIn) => {
      const value = /^\d+$/.test(standIn) ? strings[Number(standIn)] : undefined;
      // Every single-quoted string the library returns was put there by prepare().
      if (value === undefined) throw new Error(`dml: no string literal stands behind '${standIn}'`);
      return value;
    },
  };
  let ast: unknown;
  libraryStats.runs++;
  libraryStats.chars += text.length;
  try {
    ast = parser.astify(text, PARSE_OPTIONS);
  } catch (err) {
    throw libraryError(input, prepared, err);
  }
  const root = Array.isArray(ast) ? (ast as unknown[])[0] : ast;
  if (!isNode(root) || (Array.isArray(ast) && ast.length !== 1)) throw conv.fail(null, 'expected one statement');
  return { root, conv };
}

function libraryError(input: LibInput, prepared: Prepared, err: unknown): SqlError {
  if (err instanceof RangeError) {
    // The library's recursive descent ran out of stack (thousands of nested parentheses): say what it means.
    const start = input.tokens[input.from]?.start ?? 0;
    return invalidSqlAt(input.source, start, 'expression nested too deeply to parse', err);
  }
  const location: unknown = isNode(err) && isNode(err['location']) ? err['location']['start'] : undefined;
  const libOffset = isNode(location) && typeof location['offset'] === 'number' ? location['offset'] : null;
  if (libOffset === null) {
    // The library's semantic checks (e.g. a row shorter than the column list) carry no location: blame the statement.
    const message = err instanceof Error ? err.message : String(err);
    return invalidSqlAt(input.source, input.tokens[input.from]?.start ?? 0, message, err);
  }
  const offset = toOriginal(prepared, libOffset);
  const token = input.tokens.slice(input.from, input.to).find((t) => t.end > offset) ?? {
    kind: 'eof' as const,
    value: '',
    start: offset,
    end: offset,
  };
  return invalidSqlAt(input.source, offset, `syntax error near ${describe(input.source, token)}`, err);
}

function tableOf(conv: Converter, value: unknown, fallback: number | null): TableRef {
  const list = nodes(value);
  const table = list[0];
  if (list.length !== 1 || table === undefined) throw conv.fail(fallback, 'expected exactly one table');
  const name = table['table'];
  if (typeof name !== 'string' || table['join'] !== undefined || table['expr'] !== undefined) {
    throw conv.fail(locOffset(table) ?? fallback, 'only a plain table reference is supported here');
  }
  const db = table['db'];
  return { namespace: typeof db === 'string' ? db : null, name };
}

const CLAUSE_NAMES: Readonly<Record<string, string>> = {
  with: 'WITH',
  distinct: 'DISTINCT',
  groupby: 'GROUP BY',
  having: 'HAVING',
  window: 'WINDOW',
  into: 'INTO',
  options: 'options',
  from: 'FROM',
  returning: 'RETURNING',
  orderby: 'ORDER BY',
  limit: 'LIMIT',
  partition: 'PARTITION',
  conflict: 'ON CONFLICT',
  set: 'SET',
};

function rejectPresent(conv: Converter, root: LibNode, keys: readonly string[], what: string): void {
  for (const key of keys) {
    const value = root[key];
    const present = value !== null && value !== undefined && !(isNode(value) && value['type'] === null);
    const emptyInto = key === 'into' && isNode(value) && value['position'] === null;
    if (present && !emptyInto) throw conv.fail(locOffset(root), `${what} does not support ${CLAUSE_NAMES[key] ?? key}`);
  }
}

export function parseSelect(input: LibInput): Select {
  const { root, conv } = runLibrary(input);
  if (root['type'] !== 'select') throw conv.fail(null, 'expected a SELECT statement');
  return convertSelect(conv, root);
}

function convertSelect(conv: Converter, root: LibNode): Select {
  rejectPresent(conv, root, ['with', 'distinct', 'window', 'into', 'options'], 'SELECT');
  if (root['_next'] !== undefined) throw conv.fail(locOffset(root), 'SELECT does not support set operations');
  if (root['from'] === null) throw conv.fail(locOffset(root), 'SELECT needs a FROM clause');
  const from = tableOf(conv, root['from'], locOffset(root));
  const columns = nodes(root['columns']).map((column): '*' | SelectItem => {
    const expr = column['expr'];
    if (isNode(expr) && expr['type'] === 'column_ref' && expr['column'] === '*') {
      if (expr['table'] !== null) throw conv.fail(locOffset(expr), 'qualified * is not supported');
      return '*';
    }
    const alias = column['as'];
    return { expr: convertExpr(conv, expr, locOffset(column)), alias: typeof alias === 'string' ? alias : null };
  });
  const where = root['where'] === null ? null : convertExpr(conv, root['where'], null);
  // node-sql-parser gives GROUP BY as {columns: [...]} (older versions: a bare list).
  const grouping = root['groupby'];
  const groupNodes =
    isNode(grouping) && !Array.isArray(grouping) ? nodes(grouping['columns'] ?? []) : nodes(grouping ?? []);
  const groupBy = groupNodes.map((g) => convertExpr(conv, g, locOffset(g)));
  const having =
    root['having'] === null || root['having'] === undefined ? null : convertExpr(conv, root['having'], null);
  if (having !== null && groupBy.length === 0) throw conv.fail(locOffset(root), 'HAVING needs GROUP BY');
  const orderBy = nodes(root['orderby'] ?? []).map((item): OrderByItem => ({
    expr: convertExpr(conv, item['expr'], locOffset(item)),
    direction: text(item['type']).toUpperCase() === 'DESC' ? 'DESC' : 'ASC',
  }));
  const { limit, offset } = convertLimit(conv, root['limit']);
  return { kind: 'Select', columns, from, where, groupBy, having, orderBy, limit, offset };
}

function convertLimit(conv: Converter, value: unknown): { limit: number | null; offset: number | null } {
  if (!isNode(value)) return { limit: null, offset: null };
  const values = nodes(value['value']).map((node) => literalNumber(conv, node));
  for (const v of values) {
    if (!Number.isSafeInteger(v) || v < 0) throw conv.fail(locOffset(value), 'LIMIT and OFFSET take integers ≥ 0');
  }
  const separator = value['seperator'];
  if (values.length === 2 && separator === ',') return { limit: values[1] ?? null, offset: values[0] ?? null };
  if (values.length === 2) return { limit: values[0] ?? null, offset: values[1] ?? null };
  if (separator === 'offset') return { limit: null, offset: values[0] ?? null };
  return { limit: values[0] ?? null, offset: null };
}

export function parseInsert(input: LibInput): Insert {
  const { root, conv } = runLibrary(input);
  if (root['type'] !== 'insert') throw conv.fail(null, 'expected an INSERT statement');
  rejectPresent(conv, root, ['partition', 'conflict', 'returning', 'set'], 'INSERT');
  const table = tableOf(conv, root['table'], null);
  const columns = root['columns'] === null ? null : nodes(root['columns']).map((column) => text(column['value']));
  const values = root['values'];
  if (!isNode(values) || values['type'] !== 'values') throw conv.fail(null, 'INSERT needs a VALUES list');
  const rows = nodes(values['values']).map((row) =>
    nodes(row['value']).map((expr): Expr => convertExpr(conv, expr, locOffset(row))),
  );
  for (const row of rows) {
    if (columns !== null && row.length !== columns.length) {
      throw conv.fail(null, `INSERT has ${columns.length} columns but a row of ${row.length} values`);
    }
  }
  return { kind: 'Insert', table, columns, rows };
}

export function parseUpdate(input: LibInput): Update {
  const { root, conv } = runLibrary(input);
  if (root['type'] !== 'update') throw conv.fail(null, 'expected an UPDATE statement');
  rejectPresent(conv, root, ['with', 'from', 'returning', 'orderby', 'limit'], 'UPDATE');
  const table = tableOf(conv, root['table'], null);
  const assignments = nodes(root['set']).map((item) => {
    const column = convertExpr(conv, item, locOffset(item));
    if (column.kind !== 'column') throw conv.fail(locOffset(item), 'SET needs a column name');
    return { column: column.name, value: convertExpr(conv, item['value'], locOffset(item)) };
  });
  const where = root['where'] === null ? null : convertExpr(conv, root['where'], null);
  return { kind: 'Update', table, assignments, where };
}

export function parseDelete(input: LibInput): Delete {
  const { root, conv } = runLibrary(input);
  if (root['type'] !== 'delete') throw conv.fail(null, 'expected a DELETE statement');
  rejectPresent(conv, root, ['with', 'returning', 'orderby', 'limit'], 'DELETE');
  const table = tableOf(conv, root['from'], null);
  const where = root['where'] === null ? null : convertExpr(conv, root['where'], null);
  return { kind: 'Delete', table, where };
}

/** SUBSCRIBE TO t [WHERE …]: the caller replaces SUBSCRIBE TO by SELECT * FROM and cuts OPTIONS off. */
export function parseSubscribeQuery(input: LibInput): { table: TableRef; where: Expr | null } {
  const select = parseSelect(input);
  if (select.orderBy.length > 0 || select.limit !== null || select.offset !== null) {
    throw invalidSqlAt(input.source, input.tokens[input.from]?.start ?? 0, 'SUBSCRIBE TO takes only a WHERE clause');
  }
  return { table: select.from, where: select.where };
}
