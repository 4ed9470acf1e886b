// The CPU time of the processes a benchmark runs: user + system time from /proc/<pid>/stat, which counts every
// thread of the process (a Kalam node's log worker, etcd's goroutines). Linux only: elsewhere every figure is null.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`; 100 on every Linux this runs on). */
const TICKS_PER_SECOND = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of process `pid` so far, in ms; null when it has ended or /proc is not there. */
export function cpuMs(pid) {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** User + system CPU time of thread `tid` of process `pid` (its main thread when tid = pid), in ms; null as cpuMs. */
export function threadCpuMs(pid, tid) {
  return statCpuMs(`/proc/${pid}/task/${tid}/stat`);
}

function statCpuMs(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: the fields are counted after its ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5), i.e. the 12th and 13th after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : null;
}

/** The CPU time of several processes together, in ms; null when any of them cannot be read. */
export function cpuMsOf(pids) {
  let total = 0;
  for (const pid of pids) {
    const ms = cpuMs(pid);
    if (ms === null) return null;
    total += ms;
  }
  return total;
}
