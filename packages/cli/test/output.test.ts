/**
 * Output rules: colour only on a TTY and never with NO_COLOR; FORCE_COLOR turns it on for a pipe; tables
 * pad their columns; a progress line on a pipe is printed at each quarter only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOutput, createProgress, formatTable } from '../src/output.js';

function sink(isTTY: boolean): { write: (t: string) => boolean; isTTY: boolean; text: () => string } {
  let text = '';
  return {
    isTTY,
    write: (t: string) => {
      text += t;
      return true;
    },
    text: () => text,
  };
}

test('colour is on for a TTY, off for a pipe, off with NO_COLOR, on with FORCE_COLOR', () => {
  const level = (isTTY: boolean, env: Record<string, string>): number =>
    createOutput({ stdout: sink(isTTY), stderr: sink(isTTY), env }).color.level;
  assert.equal(level(true, {}), 1);
  assert.equal(level(false, {}), 0);
  assert.equal(level(true, { NO_COLOR: '1' }), 0);
  assert.equal(level(true, { NO_COLOR: '' }), 1, 'an empty NO_COLOR does not count (no-color.org)');
  assert.equal(level(false, { FORCE_COLOR: '1' }), 1);
  assert.equal(level(true, { TERM: 'dumb' }), 0);
});

test('stdout and stderr decide their colour each for itself', () => {
  const out = createOutput({ stdout: sink(false), stderr: sink(true), env: {} });
  assert.equal(out.color.level, 0);
  assert.equal(out.noteColor.level, 1);
});

test('a table pads every column to its widest cell and aligns as asked', () => {
  const rows = [
    { name: 'a', n: 1 },
    { name: 'longer', n: 1234 },
  ];
  const lines = formatTable<{ name: string; n: number }>(
    [
      { title: 'name', value: (r) => r.name },
      { title: 'n', value: (r) => String(r.n), align: 'right' },
    ],
    rows,
  );
  assert.deepEqual(lines, ['name       n', 'a          1', 'longer  1234']);
});

test('progress on a pipe prints at each quarter, not at every item', () => {
  const stderr = sink(false);
  const out = createOutput({ stdout: sink(false), stderr, env: {} });
  const progress = createProgress(out, 'seeds', 8);
  for (let done = 1; done <= 8; done++) progress.update(done);
  progress.finish();
  assert.deepEqual(stderr.text().trimEnd().split('\n'), ['seeds 2/8', 'seeds 4/8', 'seeds 6/8', 'seeds 8/8']);
});
