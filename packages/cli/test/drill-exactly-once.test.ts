/**
 * The `[exactly_once]` part of drills: the section parses into an ExactlyOnceSpec (defaults, the shipped
 * exactly-once.toml) and each mistake is one DRILL_INVALID line; `checkExactlyOnce` passes counters that equal their
 * answered increments and fails doctored ones — an increment applied twice, one lost, a counter missing, an unknown
 * outcome left unresolved, a run in which no write was ever retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DRILLS_DIR } from '../src/commands/drill.js';
import type { CounterTally, ExactlyOnceInput } from '../src/drill/exactly-once.js';
import { checkExactlyOnce, emptyTally, mergeTallies } from '../src/drill/exactly-once.js';
import { loadDrill, parseDrill } from '../src/drill/spec.js';
import { CliError } from '../src/errors.js';

test('[exactly_once] parses with its defaults and as written', () => {
  assert.equal(parseDrill('nodes = 3\n', 'x.toml').exactlyOnce, null);
  assert.deepEqual(parseDrill('[exactly_once]\n', 'x.toml').exactlyOnce, {
    clients: 4,
    keysPerClient: 2,
    shared: true,
    sessions: true,
    callDeadlineMs: 30_000,
    attemptTimeoutMs: 3_000,
    writeEveryMs: 5,
    dropAnswerEvery: 0,
  });
  const spec = parseDrill(
    '[exactly_once]\nclients = 2\nkeys_per_client = 3\nshared = false\nsessions = false\ncall_deadline_ms = 9000\nattempt_timeout_ms = 800\nwrite_every_ms = 0\ndrop_answer_every = 7\n',
    'x.toml',
  );
  assert.deepEqual(spec.exactlyOnce, {
    clients: 2,
    keysPerClient: 3,
    shared: false,
    sessions: false,
    callDeadlineMs: 9_000,
    attemptTimeoutMs: 800,
    writeEveryMs: 0,
    dropAnswerEvery: 7,
  });
});

test('the shipped exactly-once drill SIGKILLs the busiest node several times with sessions on', () => {
  const spec = loadDrill(join(DRILLS_DIR, 'exactly-once.toml'));
  assert.ok(spec.exactlyOnce !== null);
  assert.equal(spec.exactlyOnce.sessions, true);
  // Answers lost after the apply in every run, not only where a kill happens to catch a write in flight.
  assert.ok(spec.exactlyOnce.dropAnswerEvery > 0);
  assert.equal(spec.nodes, 3);
  const kills = spec.steps.filter((s) => s.action === 'kill');
  assert.ok(kills.length >= 2);
  for (const k of kills) {
    assert.ok(k.action === 'kill');
    assert.equal(k.signal, 'KILL');
    assert.deepEqual(k.target, { kind: 'most-leader' });
  }
  assert.equal(spec.steps.filter((s) => s.action === 'start').length, kills.length);
});

for (const [what, text, message] of [
  ['an unknown key', '[exactly_once]\nclient = 3\n', /^bad\.toml: exactly_once: client: unknown key/],
  [
    'too many clients',
    '[exactly_once]\nclients = 99\n',
    /^bad\.toml: exactly_once: clients: must be an integer from 1 to 16$/,
  ],
  [
    'sessions not a boolean',
    '[exactly_once]\nsessions = "on"\n',
    /^bad\.toml: exactly_once: sessions: must be true or false$/,
  ],
  [
    'an attempt longer than the call',
    '[exactly_once]\ncall_deadline_ms = 2000\nattempt_timeout_ms = 3000\n',
    /^bad\.toml: exactly_once: attempt_timeout_ms: must not exceed call_deadline_ms \(2000\)$/,
  ],
  [
    'a negative drop_answer_every',
    '[exactly_once]\ndrop_answer_every = -1\n',
    /^bad\.toml: exactly_once: drop_answer_every: must be an integer from 0 to 1000000$/,
  ],
  ['exactly_once not a table', 'exactly_once = 3\n', /^bad\.toml: exactly_once: must be a table$/],
  [
    'with a destroy step',
    '[exactly_once]\n[[steps]]\naction = "backup"\n[[steps]]\naction = "destroy"\n[[steps]]\naction = "restore"\n',
    /^bad\.toml: step 2: action: a drill with \[exactly_once\] cannot destroy its cluster/,
  ],
] as const) {
  test(`[exactly_once] refused with one line: ${what}`, () => {
    assert.throws(
      () => parseDrill(text, 'bad.toml'),
      (err: unknown) => {
        assert.ok(err instanceof CliError);
        assert.equal(err.code, 'DRILL_INVALID');
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  });
}

function tally(key: string, fields: Partial<Omit<CounterTally, 'key'>>): CounterTally {
  return { ...emptyTally(key), ...fields };
}

/** Two clients' counters and the shared one (incremented by both), read back faithfully. */
function faithful(): ExactlyOnceInput {
  const tallies = mergeTallies([
    tally('user/a/k0', { answered: 10, retried: 2, replayed: 1 }),
    tally('shared/all', { answered: 5, retried: 1 }),
    tally('user/b/k0', { answered: 7, resolved: 1, failed: 1 }),
    tally('shared/all', { answered: 6, replayed: 1 }),
  ]);
  return {
    sessions: true,
    tallies,
    values: new Map([
      ['user/a/k0', 10],
      ['user/b/k0', 8],
      ['shared/all', 11],
    ]),
    errors: [],
    attemptsByNode: new Map([
      [1, 20],
      [2, 9],
      [3, 4],
    ]),
  };
}

function byName(input: ExactlyOnceInput): Map<string, { passed: boolean; detail: string }> {
  return new Map(checkExactlyOnce(input).map((c) => [c.name, c]));
}

test('checkExactlyOnce passes counters equal to their answered (and resolved) increments, and reports the counts', () => {
  const input = faithful();
  assert.deepEqual(
    input.tallies.find((t) => t.key === 'shared/all'),
    tally('shared/all', { answered: 11, retried: 1, replayed: 1 }),
  );
  const checks = byName(input);
  const counters = checks.get('exactly-once');
  const outcomes = checks.get('exactly-once-outcomes');
  assert.ok(counters?.passed, counters?.detail);
  assert.ok(outcomes?.passed, outcomes?.detail);
  assert.match(counters.detail, /3 counter\(s\).*28 increment\(s\) answered, 3 retried, 2 answer\(s\) were replays/);
  assert.match(outcomes.detail, /1 escaped unknown and resolved by resending their seq, 1 failed without effect/);
  assert.match(outcomes.detail, /attempts per node: node 1 20, node 2 9, node 3 4$/);
});

test('checkExactlyOnce counts the answers the drill dropped', () => {
  const input = faithful();
  const withDrops = {
    ...input,
    tallies: input.tallies.map((t) => (t.key === 'user/a/k0' ? { ...t, dropped: 2, replayed: 3 } : t)),
  };
  const counters = byName(withDrops).get('exactly-once');
  assert.ok(counters?.passed, counters?.detail);
  assert.match(counters.detail, /4 answer\(s\) were replays, 2 answer\(s\) dropped by the drill/);
});

test('checkExactlyOnce fails a counter applied twice, one lost, and one missing', () => {
  const doubled = faithful();
  (doubled.values as Map<string, number>).set('shared/all', 13);
  const c1 = byName(doubled).get('exactly-once');
  assert.equal(c1?.passed, false);
  assert.match(
    c1?.detail ?? '',
    /^2 increment\(s\) applied twice, 0 lost: shared\/all = 13 but 11 increment\(s\) answered/,
  );

  const lost = faithful();
  (lost.values as Map<string, number>).set('user/b/k0', 7);
  assert.match(
    byName(lost).get('exactly-once')?.detail ?? '',
    /^0 increment\(s\) applied twice, 1 lost: user\/b\/k0 = 7/,
  );

  const missing = faithful();
  (missing.values as Map<string, number>).delete('user/a/k0');
  assert.match(byName(missing).get('exactly-once')?.detail ?? '', /user\/a\/k0: no row/);

  const unread = { ...faithful(), values: { error: 'node 1: 503' } };
  assert.equal(byName(unread).get('exactly-once')?.passed, false);
});

test('checkExactlyOnce fails an increment left unknown (allowing it either way in the counter), and a run never retried', () => {
  const input = faithful();
  const unknown = {
    ...input,
    tallies: input.tallies.map((t) => (t.key === 'user/a/k0' ? { ...t, unknown: 1 } : t)),
  };
  // The counter may hold it or not: that is for the outcomes check to fail.
  (unknown.values as Map<string, number>).set('user/a/k0', 11);
  const checks = byName(unknown);
  assert.equal(checks.get('exactly-once')?.passed, true);
  assert.equal(checks.get('exactly-once-outcomes')?.passed, false);
  assert.match(checks.get('exactly-once-outcomes')?.detail ?? '', /^1 increment\(s\) left with an unknown outcome/);

  const calm = { ...faithful(), tallies: faithful().tallies.map((t) => ({ ...t, retried: 0 })) };
  assert.match(byName(calm).get('exactly-once-outcomes')?.detail ?? '', /no write was retried/);
  assert.equal(byName(calm).get('exactly-once-outcomes')?.passed, false);
});

test('checkExactlyOnce with sessions off says so and counts the resends', () => {
  const input = {
    ...faithful(),
    sessions: false,
    tallies: faithful().tallies.map((t) => ({ ...t, retried: 0, resent: t.key === 'shared/all' ? 2 : 0 })),
  };
  (input.values as Map<string, number>).set('shared/all', 12);
  const checks = byName(input);
  assert.equal(checks.get('exactly-once')?.passed, false);
  assert.match(checks.get('exactly-once')?.detail ?? '', /client sessions OFF, 2 unknown increment\(s\) resent/);
  // Resends are retries: the faults did hit the writes.
  assert.equal(checks.get('exactly-once-outcomes')?.passed, true);
});
