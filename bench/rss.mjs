// The resident memory of the node processes a benchmark runs: VmRSS from /proc/<pid>/status, sampled every 250 ms,
// the peak and the last sample per process. Linux only: elsewhere every figure is null (and the report says so).
/* global setInterval, clearInterval */
import { readFileSync } from 'node:fs';

export const RSS_SAMPLE_MS = 250;
const BYTES_PER_MB = 1024 * 1024;

/** The resident set size of process `pid` in MB (MiB), or null when it has ended or /proc is not there. */
export function rssMb(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return match === null ? null : (Number(match[1]) * 1024) / BYTES_PER_MB;
}

/**
 * Samples the processes it tracks, by name ('node 1', …), every `everyMs` until stopped. `track` starts (or
 * restarts, for a new process under the same name) a name's figures; `resetPeaks` starts a new phase for all.
 */
export class RssSampler {
  constructor(everyMs = RSS_SAMPLE_MS) {
    this.tracked = new Map();
    this.timer = setInterval(() => this.sample(), everyMs);
    // A benchmark that fails before stop() must still be able to exit.
    this.timer.unref();
  }

  track(name, pid) {
    this.tracked.set(name, { pid, peakMb: null, lastMb: null, samples: 0 });
    this.sampleOne(this.tracked.get(name));
  }

  untrack(name) {
    this.tracked.delete(name);
  }

  resetPeaks() {
    for (const t of this.tracked.values()) {
      t.peakMb = null;
      t.samples = 0;
      this.sampleOne(t);
    }
  }

  sample() {
    for (const t of this.tracked.values()) this.sampleOne(t);
  }

  sampleOne(t) {
    const mb = rssMb(t.pid);
    if (mb === null) return;
    t.lastMb = mb;
    t.peakMb = Math.max(t.peakMb ?? 0, mb);
    t.samples++;
  }

  /** name → { pid, peakMb, lastMb, samples } (MB rounded to integers), after one more sample. */
  report() {
    this.sample();
    const round = (mb) => (mb === null ? null : Math.round(mb));
    return Object.fromEntries(
      [...this.tracked].map(([name, t]) => [
        name,
        { pid: t.pid, peakMb: round(t.peakMb), lastMb: round(t.lastMb), samples: t.samples },
      ]),
    );
  }

  stop() {
    clearInterval(this.timer);
  }
}

/** "430 / 487 / 439" from a report's peaks (or last samples), in the order of `names`. */
export function rssText(report, names, field = 'peakMb') {
  return names.map((n) => report[n]?.[field] ?? '-').join(' / ');
}
