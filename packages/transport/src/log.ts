/**
 * Log lines per event name are rate-limited, so a peer that floods us with bad frames or handshakes cannot
 * flood the log too. The first line after a quiet spell carries how many were suppressed.
 */
import type { LogFn } from './types.js';

export function rateLimitedLog(log: LogFn, linesPerSecondMax: number, now: () => number): LogFn {
  const windows = new Map<string, { startMs: number; lines: number; suppressed: number }>();
  return (level, event, fields) => {
    const nowMs = now();
    let window = windows.get(event);
    if (window === undefined || nowMs - window.startMs >= 1000) {
      const suppressed = window?.suppressed ?? 0;
      window = { startMs: nowMs, lines: 0, suppressed: 0 };
      windows.set(event, window);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (window.lines >= linesPerSecondMax) {
      window.suppressed += 1;
      return;
    }
    window.lines += 1;
    log(level, event, fields);
  };
}
