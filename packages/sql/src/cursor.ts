/**
 * A cursor over the tokens of one statement, [from, to): the small toolkit of the recursive-descent parser of
 * Kalam's own statements. Reading past `to` yields an `eof` token placed where the statement ends.
 */
import type { TableRef } from './ast.js';
import { invalidSqlAt, type SqlError } from './errors.js';
import type { Token } from './lexer.js';

export class Cursor {
  pos: number;
  constructor(
    readonly source: string,
    readonly tokens: readonly Token[],
    from: number,
    readonly to: number,
  ) {
    this.pos = from;
  }

  peek(ahead = 0): Token {
    const index = this.pos + ahead;
    const token = index < this.to ? this.tokens[index] : undefined;
    if (token !== undefined) return token;
    const end = this.tokens[this.to]?.start ?? this.source.length;
    return { kind: 'eof', value: '', start: end, end };
  }

  next(): Token {
    const token = this.peek();
    if (this.pos < this.to) this.pos++;
    return token;
  }

  atEnd(): boolean {
    return this.pos >= this.to;
  }

  error(token: Token, message: string): SqlError {
    return invalidSqlAt(this.source, token.start, message);
  }

  /** `expected X but found "Y"` at the current token. */
  expected(what: string): SqlError {
    const token = this.peek();
    return this.error(token, `expected ${what} but found ${describe(this.source, token)}`);
  }

  isKeyword(keyword: string, ahead = 0): boolean {
    const token = this.peek(ahead);
    return token.kind === 'word' && token.value.toUpperCase() === keyword;
  }

  /** Consumes the keywords when all of them come next, in order. */
  acceptKeywords(...keywords: string[]): boolean {
    if (!keywords.every((keyword, i) => this.isKeyword(keyword, i))) return false;
    this.pos += keywords.length;
    return true;
  }

  expectKeywords(...keywords: string[]): void {
    for (const keyword of keywords) {
      if (!this.acceptKeywords(keyword)) throw this.expected(keyword);
    }
  }

  isOp(op: string): boolean {
    const token = this.peek();
    return token.kind === 'op' && token.value === op;
  }

  acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.pos++;
    return true;
  }

  expectOp(op: string): void {
    if (!this.acceptOp(op)) throw this.expected(`"${op}"`);
  }

  /** An identifier: unquoted words are lower-cased, quoted ones kept as written. */
  identifier(what: string): string {
    const token = this.peek();
    if (token.kind === 'word') {
      this.pos++;
      return token.value.toLowerCase();
    }
    if (token.kind === 'quoted') {
      this.pos++;
      return token.value;
    }
    throw this.expected(what);
  }

  /** `ns.t` or `t`. */
  tableRef(): TableRef {
    const first = this.identifier('a table name');
    if (!this.acceptOp('.')) return { namespace: null, name: first };
    return { namespace: first, name: this.identifier('a table name') };
  }

  stringLiteral(what: string): string {
    const token = this.peek();
    if (token.kind !== 'string') throw this.expected(what);
    this.pos++;
    return token.value;
  }

  /** A name given either as a string literal (kept as written) or as an identifier. */
  nameOrString(what: string): string {
    return this.peek().kind === 'string' ? this.stringLiteral(what) : this.identifier(what);
  }

  /** A non-negative integer literal no larger than Number.MAX_SAFE_INTEGER. */
  integer(what: string): number {
    const token = this.peek();
    const value = token.kind === 'number' && /^\d+$/.test(token.value) ? Number(token.value) : NaN;
    if (!Number.isSafeInteger(value)) throw this.expected(what);
    this.pos++;
    return value;
  }

  expectEnd(): void {
    if (!this.atEnd()) throw this.expected('the end of the statement');
  }
}

export function describe(source: string, token: Token): string {
  return token.kind === 'eof' ? 'the end of the statement' : JSON.stringify(source.slice(token.start, token.end));
}
