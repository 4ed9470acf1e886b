/**
 * The tokenizer of Kalam's SQL. It is what splits a batch on `;` (quotes and comments respected), what the
 * hand-written parser of Kalam's own statements reads, and what prepares the text handed to node-sql-parser.
 * Every token records its [start, end) offsets in the source so that errors point at the right character.
 *
 * It enforces the bounds a token can cross on its own (SQL_LIMITS.identifierCharsMax, stringLiteralCharsMax) and
 * the number of tokens of a batch (batchTokensMax), as it reads: a hostile text costs at most that many tokens.
 * ASCII, which nearly every SQL text is, is classified by character code; other characters by Unicode class.
 */
import { invalidSqlAt, limitExceeded } from './errors.js';
import { SQL_LIMITS } from './limits.js';

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

const ASCII_MAX = 0x7f;

function isAsciiLetter(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f; // a-z A-Z _
}
function isWordStart(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return code <= ASCII_MAX ? isAsciiLetter(code) : /[\p{L}_]/u.test(ch);
}
function isWordPart(ch: string): boolean {
  const code = ch.charCodeAt(0);
  if (code <= ASCII_MAX) return isAsciiLetter(code) || (code >= 0x30 && code <= 0x39);
  return /[\p{L}\p{N}_]/u.test(ch);
}
function isSpace(ch: string): boolean {
  const code = ch.charCodeAt(0);
  if (code <= ASCII_MAX) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  return /\s/.test(ch);
}
function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

/**
 * Tokenizes the whole source; the last token is always `eof`. Throws INVALID_SQL on a lexical error, and
 * LIMIT_EXCEEDED at the first token beyond batchTokensMax or at an identifier or literal over its bound.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source.charAt(i);
    if (isSpace(ch)) {
      i++;
    } else if (source.startsWith('--', i)) {
      const eol = source.indexOf('\n', i);
      i = eol === -1 ? source.length : eol + 1;
    } else if (source.startsWith('/*', i)) {
      const close = source.indexOf('*/', i + 2);
      if (close === -1) throw invalidSqlAt(source, i, 'unterminated comment');
      i = close + 2;
    } else {
      if (tokens.length === SQL_LIMITS.batchTokensMax) {
        throw limitExceeded(source, i, 'batchTokensMax', `the SQL text has more than ${tokens.length} tokens`);
      }
      const token = readToken(source, i);
      checkLength(source, token);
      tokens.push(token);
      i = token.end;
    }
  }
  tokens.push({ kind: 'eof', value: '', start: source.length, end: source.length });
  return tokens;
}

function checkLength(source: string, token: Token): void {
  const name = token.kind === 'string' ? 'stringLiteralCharsMax' : 'identifierCharsMax';
  if (token.kind !== 'string' && token.kind !== 'word' && token.kind !== 'quoted') return;
  if (token.value.length <= SQL_LIMITS[name]) return;
  const what = token.kind === 'string' ? 'a string literal' : 'an identifier';
  throw limitExceeded(source, token.start, name, `${what} of ${token.value.length} characters`);
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
