// What this proves: which storage PATHs are refused as text (under /proc, /sys or /dev, going up with '..',
// control characters), by the validator too, so a RegisterStorage naming one is refused when planned and when
// applied; that makeDirs makes nested folders, accepts existing ones and reports a file in the way; that it returns
// at once under /proc, where Node 20's recursive mkdirSync loops for ever (it froze every node of a cluster inside
// apply; found by the SQL fuzz test); and that probeDir says what is wrong with a folder that cannot hold files.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeDirs, probeDir, storagePathProblem } from '../src/cold/paths.js';
import { checkSystemCommand } from '../src/validate.js';

test('storage PATHs refused as text, and the ones accepted', () => {
  for (const bad of [
    '/proc/kalam',
    '/proc',
    '/sys/fs/x',
    '/dev/null/kalam',
    '/dev/shm/x',
    '/',
    'a/../../etc',
    '../up',
    '/tmp/a/../b',
    'x\u0000y',
    'tab\there',
    ' lead',
    'trail ',
  ]) {
    assert.notEqual(storagePathProblem(bad), undefined, `${JSON.stringify(bad)} is refused`);
  }
  for (const good of ['storage/s1', 'cold', '/tmp/kalam-storage', '/mnt/data/kalam', '/proceedings/x', '/device']) {
    assert.equal(storagePathProblem(good), undefined, `${good} is accepted`);
  }
});

test('the validator refuses a RegisterStorage whose PATH is refused', () => {
  const cmd = (path: string): unknown => ({
    type: 'RegisterStorage',
    storageId: 's1',
    config: { type: 'filesystem', path },
  });
  assert.throws(() => checkSystemCommand(cmd('/proc/x')), /under \/proc/);
  assert.throws(() => checkSystemCommand(cmd('../x')), /go up/);
  assert.doesNotThrow(() => checkSystemCommand(cmd('storage/x')));
});

test('makeDirs makes nested folders, accepts existing ones and reports a file in the way', () => {
  const root = mkdtempSync(join(tmpdir(), 'kalam-paths-'));
  try {
    const deep = join(root, 'a', 'b', 'c');
    makeDirs(deep);
    assert.ok(statSync(deep).isDirectory());
    makeDirs(deep);
    writeFileSync(join(root, 'file'), 'x');
    assert.throws(
      () => makeDirs(join(root, 'file', 'sub')),
      (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR',
    );
    assert.throws(
      () => probeDir(join(root, 'file', 'sub')),
      (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR',
    );
    probeDir(join(root, 'ok'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('makeDirs under /proc and /dev/null fails at once instead of looping', () => {
  const started = Date.now();
  assert.throws(() => makeDirs('/proc/kalam-storage-test/x'));
  assert.throws(() => makeDirs('/dev/null/kalam-storage-test'));
  // A generous liveness bound: each is one or two system calls.
  assert.ok(Date.now() - started < 5_000, 'makeDirs returned');
});
