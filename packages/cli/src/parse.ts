/**
 * Option value parsers for commander. Each throws InvalidArgumentError, which commander turns into one line
 * on stderr ("error: option '--seeds <count>' argument 'x' is invalid. …") and the top-level handler into
 * exit code 2.
 */
import { corsOriginProblem } from '@kalam/server';
import { InvalidArgumentError } from 'commander';

/** A parser for an integer in [min, max]. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const trimmed = value.trim();
    const n = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

export function clusterSize(value: string): 3 | 5 {
  if (value === '3') return 3;
  if (value === '5') return 5;
  throw new InvalidArgumentError('Expected 3 or 5.');
}

/** A repeatable `--cors-origin`: scheme://host[:port] or `*` (the rule of the nodes' `[server] cors_origins`). */
export function corsOrigins(value: string, previous: readonly string[] = []): string[] {
  const origin = value.trim().replace(/\/$/, '');
  const problem = corsOriginProblem(origin);
  if (problem !== undefined) throw new InvalidArgumentError(`${problem}.`);
  return [...previous, origin];
}
