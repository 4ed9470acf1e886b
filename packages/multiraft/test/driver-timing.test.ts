// What this proves: the driver-timing figures a node reports (RaftManager.driverTiming(), and the node's
// /v1/api/cluster/status) measure what they say — a tick's lateness is the time past tickMs since the previous
// tick, ticks late by a heartbeat interval or more are counted, the window forgets old ticks while the lifetime
// maximum does not, and the heaviest turn between two ticks is kept with its apply and log-write times.
// How: the recorder is fed a synthetic monotonic clock; no timers, no sleeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriverTimingRecorder } from '../src/driver-timing.js';

test('tick lateness: the time past tickMs between ticks, never negative', () => {
  const r = new DriverTimingRecorder(100, 100, 10);
  r.tick(0);
  r.tick(100); // on time
  r.tick(195); // early (setInterval drift): 0
  r.tick(545); // 250 ms late
  const s = r.snapshot();
  assert.equal(s.windowTicks, 3);
  assert.equal(s.tickLateMsMax, 250);
  assert.equal(s.tickLateMsMaxEver, 250);
  assert.equal(s.ticksLateOverHeartbeat, 1);
});

test('the window forgets old ticks; the lifetime maximum stays', () => {
  const r = new DriverTimingRecorder(100, 100, 4);
  let now = 0;
  r.tick(now);
  now += 900; // 800 ms late
  r.tick(now);
  for (let i = 0; i < 4; i++) {
    now += 110;
    r.tick(now);
  }
  const s = r.snapshot();
  assert.equal(s.windowTicks, 4);
  assert.equal(s.tickLateMsMax, 10);
  assert.equal(s.tickLateMsP99, 10);
  assert.equal(s.ticksLateOverHeartbeat, 0);
  assert.equal(s.tickLateMsMaxEver, 800);
});

test('the heaviest turn between two ticks is kept, with its apply and log-write times', () => {
  const r = new DriverTimingRecorder(100, 200, 8);
  r.tick(0);
  r.turnDone(5, 1, 2);
  r.turnDone(40, 30, 6);
  r.turnDone(7, 0, 7);
  r.tick(100);
  r.turnDone(3, 1, 1);
  r.tick(200);
  const s = r.snapshot();
  assert.equal(s.turnMsMax, 40);
  assert.equal(s.applyMsMax, 30);
  assert.equal(s.persistMsMax, 7);
});
