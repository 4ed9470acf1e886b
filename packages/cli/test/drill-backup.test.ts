/**
 * The backup/restore drill's steps in drill files (parsing and their order) and its checks on synthetic histories:
 * the cut check passes when only writes after the backup began are missing and fails when one acknowledged before it
 * is; the checks after the restore start from the restored values and fail without a served write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryRecorder } from '@kalam/check';
import type { FinalRead } from '../src/drill/checks.js';
import { checkCutKept, checkRestorable, newCut, restoreChecks } from '../src/drill/backup-steps.js';
import { parseDrill } from '../src/drill/spec.js';
import { CliError } from '../src/errors.js';

const step = (action: string): string => `[[steps]]\naction = "${action}"\n`;
const wait = '[[steps]]\naction = "wait"\nms = 10\n';

test('backup, destroy and restore parse into steps without keys', () => {
  const spec = parseDrill(`${wait}${step('backup')}${wait}${step('destroy')}${step('restore')}${wait}`, 'b.toml');
  assert.deepEqual(
    spec.steps.map((s) => s.action),
    ['wait', 'backup', 'wait', 'destroy', 'restore', 'wait'],
  );
  assert.deepEqual(spec.steps[1], { action: 'backup' });
  // A backup alone (no destroy) is a drill of its own: the cluster serves while it is taken.
  assert.equal(parseDrill(step('backup'), 'b.toml').steps.length, 1);
});

for (const [what, text, message] of [
  ['a key on backup', `${step('backup')}target = 1\n`, /^bad\.toml: step 1: target: unknown key/],
  ['two backups', `${step('backup')}${step('backup')}`, /^bad\.toml: step 2: action: at most one backup$/],
  ['destroy without a backup', `${step('destroy')}${step('restore')}`, /step 1: action: destroy needs a backup/],
  ['destroy without a restore', `${step('backup')}${step('destroy')}`, /step 2: action: destroy needs a restore/],
  [
    'restore before destroy',
    `${step('backup')}${step('restore')}${step('destroy')}`,
    /step 3: action: destroy needs a restore/,
  ],
  ['restore without destroy', `${step('backup')}${step('restore')}`, /step 2: action: restore needs a destroy/],
] as const) {
  test(`refused: ${what}`, () => {
    assert.throws(
      () => parseDrill(text, 'bad.toml'),
      (err: unknown) => err instanceof CliError && err.code === 'DRILL_INVALID' && message.test(err.message),
    );
  });
}

/** A recorder on a clock the test moves by hand. */
function scripted(): { h: HistoryRecorder; at: (ms: number) => void } {
  let now = 0;
  return { h: new HistoryRecorder(() => now), at: (ms) => void (now = ms) };
}

/** w(a) acked [0,10]; the backup begins at 15; w(b) acked [20,30]. */
function twoWrites(): ReturnType<HistoryRecorder['operations']> {
  const { h, at } = scripted();
  const a = h.invoke('c1', 'k', 'write', 'a');
  at(10);
  h.ok(a);
  at(20);
  const b = h.invoke('c1', 'k', 'write', 'b');
  at(30);
  h.ok(b);
  return h.operations();
}

test('cut: a write acknowledged after the backup began may be missing, and is counted', () => {
  const c = checkCutKept(twoWrites(), new Map([['k', 'a']]), { k: 'init' }, 15);
  assert.equal(c.passed, true, c.detail);
  assert.equal(c.missing, 1);
  assert.equal(c.present, 0);
  const both = checkCutKept(twoWrites(), new Map([['k', 'b']]), { k: 'init' }, 15);
  assert.equal(both.passed, true, both.detail);
  assert.equal(both.present, 1);
});

test('cut: a write acknowledged before the backup began and missing fails', () => {
  const c = checkCutKept(twoWrites(), new Map([['k', 'init']]), { k: 'init' }, 15);
  assert.equal(c.passed, false);
  assert.match(c.detail, /acknowledged before the backup is not in it/);
  const never = checkCutKept(twoWrites(), new Map([['k', 'zzz']]), { k: 'init' }, 15);
  assert.equal(never.passed, false);
  assert.match(never.detail, /was never written/);
});

test('restore checks: split at the switch, the second part starts from the restored values', () => {
  const { h, at } = scripted();
  const a = h.invoke('c1', 'k', 'write', 'a');
  at(10);
  h.ok(a);
  at(20);
  const b = h.invoke('c1', 'k', 'write', 'b'); // acknowledged after the backup began (15), lost by the restore
  at(30);
  h.ok(b);
  at(100); // the switch
  const r = h.invoke('c1', 'k', 'read', null);
  at(110);
  h.ok(r, 'a'); // 'a' is stale in one history, right after the restore
  const c = h.invoke('c1', 'k', 'write', 'c');
  at(120);
  h.ok(c);
  const cut = { ...newCut(), backupStartMs: 15, destroyAtMs: 50, switchMs: 100 };
  const restoredReads = new Map([
    [
      'k',
      new Map<number, FinalRead>([
        [1, { value: 'a' }],
        [2, { value: 'a' }],
      ]),
    ],
  ]);
  const finals = new Map([
    [
      'k',
      new Map<number, FinalRead>([
        [1, { value: 'c' }],
        [2, { value: 'c' }],
      ]),
    ],
  ]);
  const checks = restoreChecks({ ...cut, restoreReads: restoredReads }, h.operations(), finals, { k: 'init' }, 5_000);
  assert.deepEqual(
    checks.map((x) => [x.name, x.passed]),
    [
      ['linearizable-before-restore', true],
      ['backup-cut', true],
      ['linearizable-after-restore', true],
      ['no-lost-acks-after-restore', true],
      ['served-after-restore', true],
    ],
  );
  // Restored nodes that disagree fail the cut; a final value that lost 'c' fails the part after the restore.
  const split = new Map([
    [
      'k',
      new Map<number, FinalRead>([
        [1, { value: 'a' }],
        [2, { value: 'init' }],
      ]),
    ],
  ]);
  const lostFinal = new Map([['k', new Map<number, FinalRead>([[1, { value: 'a' }]])]]);
  const bad = restoreChecks({ ...cut, restoreReads: split }, h.operations(), lostFinal, { k: 'init' }, 5_000);
  assert.equal(bad.find((x) => x.name === 'backup-cut')?.passed, false);
  const lost = restoreChecks({ ...cut, restoreReads: restoredReads }, h.operations(), lostFinal, { k: 'init' }, 5_000);
  assert.equal(lost.find((x) => x.name === 'no-lost-acks-after-restore')?.passed, false);
});

test('restore checks: no write acknowledged after the restore fails served-after-restore', () => {
  const cut = { ...newCut(), backupStartMs: 15, destroyAtMs: 50, switchMs: 100 };
  const reads = new Map([['k', new Map<number, FinalRead>([[1, { value: 'a' }]])]]);
  const checks = restoreChecks({ ...cut, restoreReads: reads }, twoWrites(), reads, { k: 'init' }, 5_000);
  assert.equal(checks.find((x) => x.name === 'served-after-restore')?.passed, false);
  const none = restoreChecks(cut, twoWrites(), reads, { k: 'init' }, 5_000);
  assert.equal(none.find((x) => x.name === 'backup-cut')?.passed, false);
});

test('a drill with a restore step is refused with --netns or --tls before anything starts', () => {
  const spec = parseDrill(`${step('backup')}${step('destroy')}${step('restore')}`, 'r.toml');
  for (const flag of ['netns', 'tls'] as const) {
    assert.throws(
      () => checkRestorable(spec, { [flag]: true }),
      (err: unknown) => err instanceof CliError && err.code === 'DRILL_INVALID' && err.message.includes(`--${flag}`),
    );
  }
  checkRestorable(spec, {});
  checkRestorable(parseDrill(step('backup'), 'b.toml'), { tls: true });
});
