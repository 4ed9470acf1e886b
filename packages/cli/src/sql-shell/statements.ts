/**
 * Statement boundaries for the REPL, fed line by line: a statement ends at a `;` outside quotes and comments, by
 * the same rules as Kalam's SQL lexer (packages/sql/src/lexer.ts): '…' strings, "…" and `…` identifiers with the
 * quote doubled to escape it, `--` line comments and `/* … *\/` block comments. The splitter is incremental (a
 * string may span lines), which the lexer is not: it refuses an unterminated quote where the REPL must wait for
 * the next line.
 *
 * `isReadOnly` tells whether every statement of a batch only reads (SELECT, SHOW, DESCRIBE), which decides
 * whether a request that got no clear answer may be re-sent to another node.
 */

type State = 'code' | "'" | '"' | '`' | 'line-comment' | 'block-comment';

export class StatementSplitter {
  private buffer = '';
  private state: State = 'code';

  /** Adds one line (without its newline); returns the statements it completed, `;` excluded, trimmed. */
  push(line: string): string[] {
    const text = this.buffer === '' ? line : `${this.buffer}\n${line}`;
    const done: string[] = [];
    let start = 0;
    // The pending text is scanned again from its start on every line: a REPL statement is small.
    this.state = 'code';
    for (let i = 0; i < text.length; i++) {
      const ch = text.charAt(i);
      const next = text.charAt(i + 1);
      switch (this.state) {
        case 'code':
          if (ch === ';') {
            const stmt = text.slice(start, i).trim();
            if (stmt !== '') done.push(stmt);
            start = i + 1;
          } else if (ch === "'" || ch === '"' || ch === '`') {
            this.state = ch;
          } else if (ch === '-' && next === '-') {
            this.state = 'line-comment';
            i++;
          } else if (ch === '/' && next === '*') {
            this.state = 'block-comment';
            i++;
          }
          break;
        case "'":
        case '"':
        case '`':
          if (ch === this.state) {
            if (next === ch) i++;
            else this.state = 'code';
          }
          break;
        case 'line-comment':
          if (ch === '\n') this.state = 'code';
          break;
        case 'block-comment':
          if (ch === '*' && next === '/') {
            this.state = 'code';
            i++;
          }
          break;
      }
    }
    // A line comment ends with its line.
    if (this.state === 'line-comment') this.state = 'code';
    const rest = text.slice(start);
    this.buffer = rest.trim() === '' ? '' : rest;
    return done;
  }

  /** True when nothing but whitespace is waiting for a `;`. */
  get empty(): boolean {
    return this.buffer.trim() === '';
  }

  get length(): number {
    return this.buffer.length;
  }

  /** Hands back what is left (the last statement of a script may lack its `;`) and starts afresh. */
  flush(): string {
    const rest = this.buffer.trim();
    this.buffer = '';
    this.state = 'code';
    return rest;
  }
}

/** Splits a complete batch on `;` the way the REPL would. */
export function splitStatements(sql: string): string[] {
  const splitter = new StatementSplitter();
  const done = splitter.push(sql);
  const rest = splitter.flush();
  return rest === '' ? done : [...done, rest];
}

const READ_KEYWORDS: ReadonlySet<string> = new Set(['SELECT', 'SHOW', 'DESCRIBE', 'DESC']);

/** True when every statement of `sql` is a SELECT, SHOW or DESCRIBE (comments before the keyword skipped). */
export function isReadOnly(sql: string): boolean {
  const statements = splitStatements(sql);
  return statements.length > 0 && statements.every((s) => READ_KEYWORDS.has(firstKeyword(s)));
}

/** `USE ns` / `USE NAMESPACE ns`: the namespace it switches to, or null for any other statement. */
export function useNamespaceOf(statement: string): string | null {
  const m = /^USE\s+(?:NAMESPACE\s+)?("(?:[^"]|"")+"|`(?:[^`]|``)+`|[\p{L}_][\p{L}\p{N}_]*)$/iu.exec(
    stripComments(statement).trim(),
  );
  const ident = m?.[1];
  if (ident === undefined) return null;
  const quote = ident.charAt(0);
  return quote === '"' || quote === '`' ? ident.slice(1, -1).replaceAll(quote + quote, quote) : ident;
}

function firstKeyword(statement: string): string {
  return (/^[\p{L}_]+/u.exec(stripComments(statement).trimStart())?.[0] ?? '').toUpperCase();
}

/** Leading comments only: enough to find the first keyword. */
function stripComments(statement: string): string {
  let s = statement.trimStart();
  for (;;) {
    if (s.startsWith('--')) {
      const end = s.indexOf('\n');
      s = end < 0 ? '' : s.slice(end + 1).trimStart();
    } else if (s.startsWith('/*')) {
      const end = s.indexOf('*/');
      s = end < 0 ? '' : s.slice(end + 2).trimStart();
    } else {
      return s;
    }
  }
}
