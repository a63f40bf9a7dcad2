// Lowers the OS scheduling priority of the calling thread (only that thread, not the process).
//
// Why: compaction is background work that can run for minutes, in a worker thread of the same
// process as ingestion and queries. At equal priority the kernel shares the cores evenly between
// the compaction thread, the main thread and everything else runnable, so on a small machine
// ingest requests queue for a core behind compaction (issue #5: ingest p99 while compacting
// several times the idle p99). At nice 10 the compaction thread gets about a tenth of the share
// of a nice-0 thread when they compete (CFS weights 110 vs 1024) and the whole core when nothing
// else wants it, so compaction only slows down while the machine is busy.
//
// Linux: nice values are per thread; setpriority(PRIO_PROCESS, tid) with a thread id changes only
// that thread (os.setPriority passes the id through), and threads the lowered thread starts later
// (e.g. its zstd helper, segment/zstd-sync.ts) inherit the value. The calling thread's id is the
// last part of the /proc/thread-self symlink ("<pid>/task/<tid>"). Elsewhere (no /proc/thread-self,
// or os.setPriority refused) this does nothing and says so: os.setPriority(0, n) would renice
// the whole process, main thread included, which is the opposite of the point.
import fs from 'node:fs';
import os from 'node:os';

/** Nice value of the compaction worker thread (0 normal .. 19 lowest). */
export const COMPACTION_THREAD_NICE = 10;

export interface ThreadPriorityResult {
  /** The thread's OS id, when it could be read. */
  tid?: number;
  /** The nice value now in force for the thread, when it could be set. */
  nice?: number;
  /** Why nothing changed (not Linux, no /proc, refused). */
  skipped?: string;
}

/** The calling thread's OS thread id (Linux), or undefined. */
export function currentThreadId(): number | undefined {
  try {
    const link = fs.readlinkSync('/proc/thread-self');
    const tid = Number(link.slice(link.lastIndexOf('/') + 1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sets the calling thread's nice value to `nice` when it is lower priority than the current one
 * (never raises the priority, which would need privileges and is not what a caller wants).
 */
export function lowerThreadPriority(nice: number = COMPACTION_THREAD_NICE): ThreadPriorityResult {
  if (process.platform !== 'linux') return { skipped: `thread priorities are only set on Linux (platform ${process.platform})` };
  const tid = currentThreadId();
  if (tid === undefined) return { skipped: '/proc/thread-self is not readable' };
  try {
    const now = os.getPriority(tid);
    if (now >= nice) return { tid, nice: now };
    os.setPriority(tid, nice);
    return { tid, nice: os.getPriority(tid) };
  } catch (e) {
    return { tid, skipped: `setpriority refused: ${(e as Error).message}` };
  }
}
