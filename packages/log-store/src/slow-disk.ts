/**
 * The slow-disk fault: block the calling thread for a while, as an fsync on a struggling disk would. It
 * must block (not yield to the event loop) because a real fsync does: timers, sockets and the driver loop
 * all stall behind it, which is exactly what the fault exists to exercise.
 */
const cell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for about `ms` milliseconds (Atomics.wait on a cell nobody ever notifies). */
export function blockThread(ms: number): void {
  if (ms > 0) Atomics.wait(cell, 0, 0, ms);
}
