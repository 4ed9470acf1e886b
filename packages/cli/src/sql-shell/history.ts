/**
 * The REPL's history file: one entry per line, oldest first, at most historyMax lines, mode 0600 (statements
 * may hold passwords: CREATE USER … WITH PASSWORD). node:readline keeps its history newest first; these
 * functions convert. A file that cannot be read or written costs the history, never the session.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { SQL_SHELL_LIMITS } from './limits.js';

/** Newest first, as readline's `history` option wants; [] when the file does not exist yet. */
export function loadHistory(path: string, max: number = SQL_SHELL_LIMITS.historyMax): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-max)
    .reverse();
}

/** Writes `newestFirst` (readline's order), keeping the newest `max` entries. */
export function saveHistory(
  path: string,
  newestFirst: readonly string[],
  max: number = SQL_SHELL_LIMITS.historyMax,
): void {
  const lines = newestFirst.slice(0, max).reverse();
  writeFileSync(path, lines.length === 0 ? '' : `${lines.join('\n')}\n`, { mode: 0o600 });
  // writeFileSync's mode applies only when it creates the file.
  chmodSync(path, 0o600);
}
