/**
 * The measure of one statement on its tokens, taken before node-sql-parser runs (dml.ts): a statement over a bound
 * of SQL_LIMITS costs one pass over its tokens instead of a parse. Each check is sound — it refuses only what the
 * parse and the conversion would refuse too, or a bound stated on tokens:
 *
 * - statementTokensMax: the tokens of the statement;
 * - statementTermsMax: the tokens other than punctuation, outside INSERT's VALUES rows (every expression node comes
 *   from at least one such token, so their count is never below the nodes');
 * - exprDepthMax: the nesting of parentheses, and the length of an OR chain, of a run of ANDs at one level, or of
 *   a run of NOTs (the library builds chains as left-deep trees: k ORs nest k deep, which the conversion would
 *   refuse, and so do k NOTs);
 * - inListItemsMax: the values of each `IN (…)` list.
 *
 * LIMIT_EXCEEDED points at the first token beyond the bound.
 */
import { limitExceeded, type SqlError, type SqlLimitName } from './errors.js';
import type { Token } from './lexer.js';
import { SQL_LIMITS } from './limits.js';

export interface StatementTokens {
  readonly source: string;
  readonly tokens: readonly Token[];
  /** The statement is tokens [from, to). */
  readonly from: number;
  readonly to: number;
}

/** One level of parentheses (the statement itself is the outermost). */
interface Level {
  /** Values of the IN list this parenthesis opened so far, or -1 when it opened something else. */
  items: number;
  ors: number;
  andRun: number;
  notRun: number;
}

const PUNCTUATION: ReadonlySet<string> = new Set(['(', ')', ',', '.']);

/** Words that end one expression and start another at the same level (a chain does not run across them). */
const CLAUSES: ReadonlySet<string> = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'GROUP',
  'BY',
  'HAVING',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'SET',
  'VALUES',
  'TO',
  'OPTIONS',
]);

function word(token: Token | undefined): string {
  return token?.kind === 'word' ? token.value.toUpperCase() : '';
}

/** Throws LIMIT_EXCEEDED when the statement crosses a bound (see the file comment). */
export function checkStatementBounds(statement: StatementTokens): void {
  const { source, tokens, from, to } = statement;
  const over = (token: Token | undefined, name: SqlLimitName, what: string): SqlError =>
    limitExceeded(source, token?.start ?? null, name, what);
  if (to - from > SQL_LIMITS.statementTokensMax) {
    throw over(
      tokens[from + SQL_LIMITS.statementTokensMax],
      'statementTokensMax',
      `a statement of ${to - from} tokens`,
    );
  }
  const isInsert = word(tokens[from]) === 'INSERT';
  let inValues = false;
  let nodes = 0;
  const levels: Level[] = [{ items: -1, ors: 0, andRun: 0, notRun: 0 }];
  for (let i = from; i < to; i++) {
    const token = tokens[i]!;
    const op = token.kind === 'op' ? token.value : '';
    const level = levels[levels.length - 1]!;
    if (op === '(') {
      levels.push({ items: i > from && word(tokens[i - 1]) === 'IN' ? 1 : -1, ors: 0, andRun: 0, notRun: 0 });
      if (levels.length - 1 > SQL_LIMITS.exprDepthMax) {
        throw over(token, 'exprDepthMax', `parentheses nested more than ${SQL_LIMITS.exprDepthMax} deep`);
      }
    } else if (op === ')') {
      if (levels.length > 1) levels.pop();
    } else if (op === ',') {
      startExpression(level);
      if (level.items > 0 && ++level.items > SQL_LIMITS.inListItemsMax) {
        throw over(token, 'inListItemsMax', `an IN list of more than ${SQL_LIMITS.inListItemsMax} values`);
      }
    }
    checkChains(level, word(token), () => over(token, 'exprDepthMax', 'an expression nested too deeply'));
    if (isInsert && levels.length === 1 && word(token) === 'VALUES') inValues = true;
    if (inValues || PUNCTUATION.has(op)) continue;
    if (++nodes > SQL_LIMITS.statementTermsMax) {
      throw over(token, 'statementTermsMax', `expressions of more than ${SQL_LIMITS.statementTermsMax} terms`);
    }
  }
}

function startExpression(level: Level): void {
  level.ors = 0;
  level.andRun = 0;
  level.notRun = 0;
}

/** k ORs in one expression at one level nest k deep, and so do a run of k ANDs between two ORs and k NOTs in a row. */
function checkChains(level: Level, keyword: string, fail: () => SqlError): void {
  if (CLAUSES.has(keyword)) {
    startExpression(level);
    return;
  }
  if (keyword === 'NOT') {
    if (++level.notRun > SQL_LIMITS.exprDepthMax) throw fail();
    return;
  }
  level.notRun = 0;
  if (keyword === 'OR') {
    level.ors++;
    level.andRun = 0;
  } else if (keyword === 'AND') {
    level.andRun++;
  } else {
    return;
  }
  if (Math.max(level.ors, level.andRun) > SQL_LIMITS.exprDepthMax) throw fail();
}
