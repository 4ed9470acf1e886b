/**
 * Storage folders: which PATHs a storage may name, and how a node makes and checks a folder before it writes flushed
 * files there.
 *
 * The rule on the text of a PATH is replicated state's (the validator checks it when a RegisterStorage is planned
 * and when it is applied): the same on every node. Whether the folder is usable is the node's own affair; a node
 * checks it when it plans CREATE STORAGE and before a job proposes files into it, so that a PATH that is wrong
 * everywhere (a file in the way, a read-only mount) fails the statement or the job — never the apply on every node.
 *
 * `makeDirs` replaces `mkdirSync(dir, { recursive: true })`, which loops for ever in Node 20 under some special
 * file systems (`/proc/x` froze every node of a cluster inside apply; found by the SQL fuzz test).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, parse, posix } from 'node:path';

/** Kernel and device file systems: never a place for data files. */
const SPECIAL_ROOTS = ['/proc', '/sys', '/dev'] as const;

/** What is wrong with a storage PATH as text, or undefined when it is acceptable. Deterministic. */
export function storagePathProblem(path: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'a storage PATH may not hold control characters';
  if (path.trim() !== path) return 'a storage PATH may not start or end with spaces';
  const segments = path.split('/');
  if (segments.includes('..')) return "a storage PATH may not go up a folder ('..')";
  if (isAbsolute(path)) {
    const norm = posix.normalize(path);
    for (const root of SPECIAL_ROOTS) {
      if (norm === root || norm.startsWith(`${root}/`)) return `a storage PATH may not be under ${root}`;
    }
    if (norm === '/') return 'a storage PATH may not be the root folder';
  }
  return undefined;
}

/** Creates `dir` and its missing parents one level at a time; an existing non-folder in the way is an error. */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let at = dir;
  const root = parse(dir).root;
  for (let i = 0; i < 256 && at !== root && at !== '.' && !isDirectory(at); i++) {
    missing.push(at);
    at = dirname(at);
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(d)) throw err;
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw err; // ENOTDIR (a file in the way), EACCES: the caller reports it
  }
}

/** Makes `dir` and writes, syncs and removes a small file in it: throws what the disk says when it cannot. */
export function probeDir(dir: string): void {
  makeDirs(dir);
  const probe = join(dir, `.kalam-probe-${process.pid}`);
  const fd = openSync(probe, 'w');
  try {
    writeSync(fd, 'kalam');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  unlinkSync(probe);
}
