// What this proves: withMallocEnv adds glibc's malloc settings (NODE_MALLOC_ENV) to a node's environment where the
// caller did not set them, keeps a value the caller set, and leaves the caller's object as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NODE_MALLOC_ENV, withMallocEnv } from '../src/index.js';

test('withMallocEnv adds what is missing and keeps what the caller set', () => {
  const bare = { PATH: '/bin' };
  assert.deepEqual(withMallocEnv(bare), { PATH: '/bin', ...NODE_MALLOC_ENV });
  assert.deepEqual(bare, { PATH: '/bin' }, 'the caller’s object is not changed');
  const own = { PATH: '/bin', MALLOC_MMAP_THRESHOLD_: '65536' };
  assert.equal(withMallocEnv(own)['MALLOC_MMAP_THRESHOLD_'], '65536');
  assert.equal(NODE_MALLOC_ENV['MALLOC_MMAP_THRESHOLD_'], '131072');
});
