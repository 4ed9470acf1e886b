// What this proves: LoginThrottle (src/throttle.ts) as a pure component on an injected clock — a bucket of
// `attemptsMax` per address and per user name, one token back every `refillMs`; a refused attempt takes nothing and
// says when to come back; a match gives its token back; the maps stay within `keysMax`; IPv4-mapped addresses are
// their IPv4 address and IPv6 addresses are keyed by their /64.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KalamError } from '@kalam/kalamdb';

import { LoginThrottle, addressKeyOf } from '../src/throttle.js';

function throttle(keysMax = 100): { t: LoginThrottle; clock: { ms: number } } {
  const clock = { ms: 1_000_000 };
  const t = new LoginThrottle({
    perAddress: { attemptsMax: 3, refillMs: 10_000 },
    perUser: { attemptsMax: 5, refillMs: 10_000 },
    keysMax,
    now: () => clock.ms,
  });
  return { t, clock };
}

function refusal(fn: () => unknown): KalamError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KalamError);
    assert.equal(err.code, 'RATE_LIMIT_EXCEEDED');
    return err;
  }
  assert.fail('expected RATE_LIMIT_EXCEEDED');
}

test('an address has attemptsMax failures, then waits refillMs per attempt', () => {
  const { t, clock } = throttle();
  for (let i = 0; i < 3; i++) t.begin(`u${i}`, '10.0.0.1').settle(false);
  const err = refusal(() => t.begin('u9', '10.0.0.1'));
  assert.deepEqual(err.details, { retryAfterSeconds: 10 });
  clock.ms += 4_000;
  assert.deepEqual(refusal(() => t.begin('u9', '10.0.0.1')).details, { retryAfterSeconds: 6 });
  clock.ms += 6_000;
  t.begin('u9', '10.0.0.1').settle(false);
  refusal(() => t.begin('u9', '10.0.0.1'));
  t.begin('u9', '10.0.0.2').settle(true); // another address is not concerned
});

test('a user name has attemptsMax failures across addresses; a refusal takes no token from the address', () => {
  const { t } = throttle();
  for (let i = 0; i < 5; i++) t.begin('alice', `10.0.1.${i}`).settle(false);
  refusal(() => t.begin('alice', '10.0.2.1'));
  refusal(() => t.begin('alice', '10.0.2.1'));
  refusal(() => t.begin('alice', '10.0.2.1'));
  // 10.0.2.1 was refused three times but spent nothing: its three attempts are all still there.
  for (let i = 0; i < 3; i++) t.begin(`bob${i}`, '10.0.2.1').settle(false);
});

test('a match gives its attempt back; so does a check that failed for another reason', () => {
  const { t } = throttle();
  for (let i = 0; i < 10; i++) t.begin('alice', '10.0.0.1').settle(true);
  const held = t.begin('alice', '10.0.0.1');
  held.settle(false);
  held.settle(true); // settled once: the second call changes nothing
  t.begin('alice', '10.0.0.1').settle(false);
  t.begin('alice', '10.0.0.1').settle(false);
  refusal(() => t.begin('alice', '10.0.0.1'));
});

test('concurrent attempts take their tokens up front', () => {
  const { t } = throttle();
  const held = [t.begin('a', '10.0.0.1'), t.begin('b', '10.0.0.1'), t.begin('c', '10.0.0.1')];
  refusal(() => t.begin('d', '10.0.0.1'));
  for (const h of held) h.settle(true);
  t.begin('d', '10.0.0.1').settle(true);
});

test('the maps stay within keysMax; a full bucket is not kept at all', () => {
  const { t } = throttle(8);
  for (let i = 0; i < 100; i++) t.begin(`user${i}`, `10.1.${i >> 8}.${i & 255}`).settle(false);
  assert.deepEqual(t.size(), { addresses: 8, users: 8 });
  const { t: t2 } = throttle(8);
  for (let i = 0; i < 100; i++) t2.begin(`user${i}`, `10.1.0.${i}`).settle(true);
  assert.deepEqual(t2.size(), { addresses: 0, users: 0 });
});

test('address keys: IPv4-mapped → IPv4; IPv6 → its /64; nothing → one shared key', () => {
  assert.equal(addressKeyOf('::ffff:127.0.0.2'), '127.0.0.2');
  assert.equal(addressKeyOf('10.0.0.1'), '10.0.0.1');
  assert.equal(addressKeyOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKeyOf('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(addressKeyOf('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64');
  assert.equal(addressKeyOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKeyOf('::1'), '0:0:0:0::/64');
  assert.equal(addressKeyOf(undefined), 'unknown');
});
