// What this proves: LIKE matches exactly what the anchored regular expression it replaced matched (% any run of
// code points, _ exactly one, case-sensitive, everything else literal), on every pattern and text over a small
// alphabet up to a length — and a pattern that made that regex backtrack for minutes ('%a%a…%b' against a run of
// a's; its time grew as the eighth power of the text) is decided at once, since the matcher keeps one backtrack
// point. LIKE runs in apply too (an UPDATE/DELETE filter), where no time budget can stop it.
// How: the regex as the oracle over random cases from a seeded generator; the hostile case on 2,000 characters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate } from '../src/index.js';
import type { Expr } from '../src/index.js';

function like(text: string, pattern: string): unknown {
  const expr: Expr = {
    kind: 'like',
    expr: { kind: 'column', table: null, name: 'v' },
    pattern: { kind: 'literal', value: pattern },
    negated: false,
  };
  return evaluate(expr, { v: text });
}

function oracle(text: string, pattern: string): boolean {
  let source = '';
  for (const ch of pattern) {
    if (ch === '%') source += '[\\s\\S]*';
    else if (ch === '_') source += '[\\s\\S]';
    else source += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'u').test(text);
}

test('LIKE agrees with the regular-expression oracle', () => {
  let seed = 12345;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = (alphabet: readonly string[], max: number): string =>
    Array.from({ length: next(max + 1) }, () => alphabet[next(alphabet.length)]).join('');
  for (let i = 0; i < 20_000; i++) {
    const text = pick(['a', 'b', '🙂', '.'], 8);
    const pattern = pick(['a', 'b', '%', '_', '🙂', '.'], 6);
    assert.equal(like(text, pattern), oracle(text, pattern), `${JSON.stringify(text)} LIKE ${JSON.stringify(pattern)}`);
  }
  assert.equal(like('Abc', 'a%'), false, 'case-sensitive');
  assert.equal(like('a\nb', 'a_b'), true, '_ is any character');
});

test('a pattern that makes a backtracking matcher explode is decided at once', () => {
  const text = 'a'.repeat(2_000);
  assert.equal(like(text, '%a%a%a%a%a%a%a%a%a%a%b'), false);
  assert.equal(like(`${text}b`, '%a%a%a%a%a%a%a%a%a%a%b'), true);
});
