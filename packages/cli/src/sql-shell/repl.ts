/**
 * The `kalam sql` REPL, over a terminal or a pipe. Lines are read with node:readline; a statement ends at a `;`
 * outside quotes and comments (statements.ts), may span lines, and is sent on its own, so one failing
 * statement prints `error: CODE: message` on stderr and the session goes on. At the end of a piped script a last
 * statement without its `;` is run too. `USE ns` (when it succeeds) becomes the namespace of later statements.
 *
 * Meta commands, on a line of their own while no statement is pending:
 *   \dt [NS]   tables (SHOW TABLES [IN NS])         \d [TABLE]  SHOW TABLES, or DESCRIBE TABLE TABLE
 *   \dn        namespaces (SHOW NAMESPACES)         \q          quit (so does end of input)
 *   \?         this list
 *
 * On a terminal: prompt `kalam> ` (`kalam:NS> ` inside a namespace, `    -> ` while a statement continues),
 * Ctrl-C drops the pending statement, and the history is loaded from and saved to `historyPath` (bounded).
 * A pipe gets no prompts and touches no history.
 */
import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { CliError } from '../errors.js';
import type { Output } from '../output.js';
import type { SqlClient } from './client.js';
import { loadHistory, saveHistory } from './history.js';
import { SQL_SHELL_LIMITS } from './limits.js';
import { printResponse } from './render.js';
import { StatementSplitter, useNamespaceOf } from './statements.js';

export interface ReplOptions {
  readonly input: Readable;
  /** A terminal: prompts, line editing and history. Needs `terminalOutput`. */
  readonly interactive: boolean;
  readonly terminalOutput?: Writable;
  readonly json: boolean;
  readonly namespace: string | null;
  /** null: no history file. */
  readonly historyPath: string | null;
}

export interface ReplSummary {
  /** Statements and meta commands run (an unknown meta command counts, as a failure). */
  readonly ran: number;
  readonly failed: number;
}

export const REPL_HELP: readonly string[] = [
  'Statements end with ;  and may span lines.',
  '  \\dt [NS]    list tables (in namespace NS)',
  '  \\d [TABLE]  describe TABLE (without it: list tables)',
  '  \\dn         list namespaces',
  '  \\?          this help',
  '  \\q          quit (Ctrl-D too)',
];

type Meta =
  | { readonly kind: 'quit' }
  | { readonly kind: 'help' }
  | { readonly kind: 'sql'; readonly sql: string }
  | { readonly kind: 'unknown'; readonly text: string };

/** A meta command line (it starts with a backslash), as what to do. */
export function parseMeta(line: string): Meta {
  const [name = '', ...args] = line.trim().replace(/;+$/, '').split(/\s+/);
  const arg = args.join(' ');
  switch (name) {
    case '\\q':
    case '\\quit':
      return { kind: 'quit' };
    case '\\?':
    case '\\h':
    case '\\help':
      return { kind: 'help' };
    case '\\dt':
      return { kind: 'sql', sql: arg === '' ? 'SHOW TABLES' : `SHOW TABLES IN ${arg}` };
    case '\\dn':
      return { kind: 'sql', sql: 'SHOW NAMESPACES' };
    case '\\d':
      return { kind: 'sql', sql: arg === '' ? 'SHOW TABLES' : `DESCRIBE TABLE ${arg}` };
    default:
      return { kind: 'unknown', text: name };
  }
}

export async function runRepl(client: SqlClient, out: Output, opts: ReplOptions): Promise<ReplSummary> {
  const session = new Session(client, out, opts);
  const rl = createInterface({
    input: opts.input,
    crlfDelay: Infinity,
    ...(opts.interactive && opts.terminalOutput !== undefined
      ? {
          output: opts.terminalOutput,
          terminal: true,
          history: session.loadHistory(),
          historySize: SQL_SHELL_LIMITS.historyMax,
          removeHistoryDuplicates: true,
        }
      : { terminal: false }),
  });
  return session.run(rl);
}

class Session {
  private readonly splitter = new StatementSplitter();
  private namespace: string | null;
  private ran = 0;
  private failed = 0;
  private historyWarned = false;

  constructor(
    private readonly client: SqlClient,
    private readonly out: Output,
    private readonly opts: ReplOptions,
  ) {
    this.namespace = opts.namespace;
  }

  private get terminal(): boolean {
    return this.opts.interactive && this.opts.terminalOutput !== undefined;
  }

  loadHistory(): string[] {
    if (this.opts.historyPath === null) return [];
    try {
      return loadHistory(this.opts.historyPath);
    } catch (err) {
      this.warn(`history not loaded: ${err instanceof Error ? err.message : String(err)}`);
      return [];
    }
  }

  async run(rl: Interface): Promise<ReplSummary> {
    if (this.terminal) {
      rl.on('history', (entries: string[]) => this.saveHistory(entries));
      rl.on('SIGINT', () => {
        this.splitter.flush();
        this.out.stdout.write('^C\n');
        this.prompt(rl);
      });
      this.prompt(rl);
    }
    try {
      for await (const line of rl) {
        const quit = await this.onLine(line);
        if (quit) break;
        if (this.terminal) this.prompt(rl);
      }
      const rest = this.splitter.flush();
      if (rest !== '') await this.runSql(rest);
    } finally {
      rl.close();
    }
    return { ran: this.ran, failed: this.failed };
  }

  /** Handles one input line; true when the session should end. */
  private async onLine(line: string): Promise<boolean> {
    if (this.splitter.empty && line.trimStart().startsWith('\\')) {
      this.splitter.flush();
      return this.onMeta(parseMeta(line));
    }
    if (this.splitter.length + line.length > SQL_SHELL_LIMITS.statementMaxChars) {
      this.splitter.flush();
      this.error(`the statement is longer than ${SQL_SHELL_LIMITS.statementMaxChars} characters: dropped`);
      return false;
    }
    for (const sql of this.splitter.push(line)) await this.runSql(sql);
    return false;
  }

  private async onMeta(meta: Meta): Promise<boolean> {
    switch (meta.kind) {
      case 'quit':
        return true;
      case 'help':
        for (const line of REPL_HELP) this.out.line(line);
        return false;
      case 'sql':
        await this.runSql(meta.sql);
        return false;
      case 'unknown':
        // Counted as a failure: a piped script with a typo in a command must not exit 0.
        this.ran++;
        this.failed++;
        this.error(`unknown command ${meta.text} (\\? lists them)`);
        return false;
    }
  }

  private async runSql(sql: string): Promise<void> {
    this.ran++;
    let answer;
    try {
      answer = await this.client.execute(sql, this.namespace);
    } catch (err) {
      // No node answered, or the answer was not Kalam's: one line, and the session goes on.
      if (!(err instanceof CliError)) throw err;
      this.failed++;
      this.error(err.message);
      return;
    }
    if (this.opts.json) this.out.line(answer.body.trim());
    const { response } = answer;
    if (response.status === 'error') {
      this.failed++;
      this.error(`${response.error?.code ?? 'ERROR'}: ${response.error?.message ?? 'the server gave no message'}`);
      return;
    }
    if (!this.opts.json) printResponse(this.out, response);
    const namespace = useNamespaceOf(sql);
    if (namespace !== null) this.namespace = namespace;
  }

  private prompt(rl: Interface): void {
    const base = this.namespace === null ? 'kalam' : `kalam:${this.namespace}`;
    rl.setPrompt(this.splitter.empty ? `${base}> ` : `${' '.repeat(base.length - 1)}-> `);
    rl.prompt();
  }

  private saveHistory(entries: readonly string[]): void {
    if (this.opts.historyPath === null) return;
    try {
      saveHistory(this.opts.historyPath, entries);
    } catch (err) {
      if (this.historyWarned) return;
      this.historyWarned = true;
      this.warn(`history not saved: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private error(message: string): void {
    this.out.note(this.out.noteColor.red(`error: ${message}`));
  }

  private warn(message: string): void {
    this.out.note(this.out.noteColor.yellow(message));
  }
}
