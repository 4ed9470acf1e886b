/**
 * The tokenizer of Kalam's SQL. It is what splits a batch on `;` (quotes and comments respected), what the
 * hand-written parser of Kalam's own statements reads, and what prepares the text handed to node-sql-parser.
 * Every token records its [start, end) offsets in the source so that errors point at the right character.
 */
import { invalidSqlAt } from './errors.js';

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'param' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /**
   * word: as written; quoted: the identifier without its quotes; string: the unescaped value; number: as written;
   * param: `$3` or `?`; op: the operator or punctuation; eof: ''.
   */
  readonly value: string;
  /** Offsets into the source, [start, end). */
  readonly start: number;
  readonly end: number;
}

const TWO_CHAR_OPS = new Set(['<>', '!=', '<=', '>=', '||', '::']);
const ONE_CHAR_OPS = new Set(['(', ')', ',', ';', '.', '=', '<', '>', '+', '-', '*', '/', '%']);

function isWordStart(ch: string): boolean {
  return /[\p{L}_]/u.test(ch);
}
function isWordPart(ch: string): boolean {
  return /[\p{L}\p{N}_]/u.test(ch);
}
function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

/** Tokenizes the whole source; the last token is always `eof`. Throws INVALID_SQL on a lexical error. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source.charAt(i);
    if (/\s/.test(ch)) {
      i++;
    } else if (source.startsWith('--', i)) {
      const eol = source.indexOf('\n', i);
      i = eol === -1 ? source.length : eol + 1;
    } else if (source.startsWith('/*', i)) {
      const close = source.indexOf('*/', i + 2);
      if (close === -1) throw invalidSqlAt(source, i, 'unterminated comment');
      i = close + 2;
    } else {
      const token = readToken(source, i);
      tokens.push(token);
      i = token.end;
    }
  }
  tokens.push({ kind: 'eof', value: '', start: source.length, end: source.length });
  return tokens;
}

function readToken(source: string, start: number): Token {
  const ch = source.charAt(start);
  if (ch === "'") return readQuoted(source, start, "'", 'string');
  if (ch === '"' || ch === '`') return readQuoted(source, start, ch, 'quoted');
  if (isDigit(ch) || (ch === '.' && isDigit(source[start + 1]))) return readNumber(source, start);
  if (isWordStart(ch)) {
    let end = start + 1;
    while (end < source.length && isWordPart(source.charAt(end))) end++;
    return { kind: 'word', value: source.slice(start, end), start, end };
  }
  if (ch === '?') return { kind: 'param', value: '?', start, end: start + 1 };
  if (ch === '$' && isDigit(source[start + 1])) {
    let end = start + 1;
    while (isDigit(source[end])) end++;
    return { kind: 'param', value: source.slice(start, end), start, end };
  }
  const two = source.slice(start, start + 2);
  if (TWO_CHAR_OPS.has(two)) return { kind: 'op', value: two, start, end: start + 2 };
  if (ONE_CHAR_OPS.has(ch)) return { kind: 'op', value: ch, start, end: start + 1 };
  throw invalidSqlAt(source, start, `unexpected character ${JSON.stringify(ch)}`);
}

/** A quoted string or identifier; the quote character is escaped by doubling it. */
function readQuoted(source: string, start: number, quote: string, kind: 'string' | 'quoted'): Token {
  let value = '';
  let i = start + 1;
  for (;;) {
    const close = source.indexOf(quote, i);
    if (close === -1) {
      throw invalidSqlAt(source, start, kind === 'string' ? 'unterminated string literal' : 'unterminated identifier');
    }
    value += source.slice(i, close);
    if (source.charAt(close + 1) === quote) {
      value += quote;
      i = close + 2;
    } else {
      if (kind === 'quoted' && value.length === 0) throw invalidSqlAt(source, start, 'empty quoted identifier');
      return { kind, value, start, end: close + 1 };
    }
  }
}

function readNumber(source: string, start: number): Token {
  const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(start));
  const text = match?.[0] ?? source.charAt(start);
  const end = start + text.length;
  if (end < source.length && isWordPart(source.charAt(end))) {
    throw invalidSqlAt(source, start, `malformed number ${JSON.stringify(source.slice(start, end + 1))}`);
  }
  return { kind: 'number', value: text, start, end };
}

/** The statements of a batch as [from, to) token index ranges, `;` excluded; empty statements are dropped. */
export function splitStatements(tokens: readonly Token[]): Array<{ from: number; to: number }> {
  const ranges: Array<{ from: number; to: number }> = [];
  let from = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined) break;
    const isEnd = token.kind === 'eof' || (token.kind === 'op' && token.value === ';');
    if (isEnd) {
      if (i > from) ranges.push({ from, to: i });
      from = i + 1;
    }
  }
  return ranges;
}
