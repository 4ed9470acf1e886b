/**
 * glibc malloc settings for a node process, put in its environment by whatever starts it (`kalam cluster up`'s
 * supervisor, the test harness): glibc reads them once, at process start, and Node offers no mallopt() (nor
 * malloc_trim()) to set them from inside. A variable the caller already set is kept.
 *
 * MALLOC_MMAP_THRESHOLD_: every allocation of 128 KiB or more gets its own mapping, returned to the kernel when it is
 * freed. Without it glibc raises the threshold to the size of each large block freed, up to 32 MiB: after the first
 * Raft entry of a 500-row INSERT (~510 KB) is freed, such blocks come from the heaps (the main thread's and each
 * thread's arena), whose freed space stays resident — under a bulk load the loading node peaked ~80 MB higher and
 * the others 30–80 MB (README, "Memory flat in the data size"). Blocks that large are few per request, so mapping
 * each costs little.
 */
export const NODE_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(128 * 1024),
};

/** `env` with NODE_MALLOC_ENV's variables added where `env` does not set them. */
export function withMallocEnv<T extends Record<string, string | undefined>>(env: T): T {
  const out: Record<string, string | undefined> = { ...env };
  for (const [key, value] of Object.entries(NODE_MALLOC_ENV)) if (out[key] === undefined) out[key] = value;
  return out as T;
}
