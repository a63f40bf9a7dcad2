// The worker pools for CPU-heavy storage work, one per kind:
// - flushes (segment encoding): all cores but one, at normal priority; a flush is what frees the
//   memtable, so ingestion waits on it under back-pressure;
// - compaction (merges and rollup levels): one thread, at a lower OS priority
//   (thread-priority.ts), so background work that can run for minutes yields the cores to the
//   main thread (ingestion, queries) and to flushes. Compaction tasks run one at a time anyway
//   (engine.ts), and a flush never waits for a free worker behind a compaction task.
//
// Workers load compiled JavaScript from dist/: when this module runs from TypeScript sources
// (vitest), it points at the build that `npm test` makes first.
import os from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { FlushTaskInput, FlushTaskOutput } from './flush-task.js';
import type { CompactionTaskInput, CompactionTaskOutput } from './compact-task.js';

/** The compiled worker module `name`, in compaction/ or, with `dir`, in that folder of src/. */
export function workerFile(name: string, dir = 'compaction'): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return fileURLToPath(new URL(`../${dir}/${name}.js`, import.meta.url));
  const built = fileURLToPath(new URL(`../../dist/${dir}/${name}.js`, import.meta.url));
  if (!existsSync(built)) throw new Error(`worker ${built} is not built: run \`npm run build\` first`);
  return built;
}

/** Flush workers: all cores but one, at least one. */
export function defaultWorkerCount(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

/** Idle workers exit after a minute; flushes and compaction runs are minutes apart at steady state. */
const WORKER_IDLE_TIMEOUT_MS = 60_000;

export class CompactionPool {
  private readonly flushPool: Piscina;
  private readonly compactionPool: Piscina;

  /** workers: flush threads; compaction always has one thread of its own. */
  constructor(workers: number = defaultWorkerCount()) {
    this.flushPool = new Piscina({ filename: workerFile('flush-worker'), minThreads: 1, maxThreads: workers, idleTimeout: WORKER_IDLE_TIMEOUT_MS });
    // minThreads 0: no low-priority thread (and its memory) until the first compaction task.
    this.compactionPool = new Piscina({ filename: workerFile('compact-worker'), minThreads: 0, maxThreads: 1, idleTimeout: WORKER_IDLE_TIMEOUT_MS });
  }

  /**
   * Never with a transfer list: detaching a buffer of the main thread slows its typed-array code
   * for good (model/shared-arrays.ts). Head.pack() and packSeries() give shared arrays; others
   * are copied.
   */
  runFlush(input: FlushTaskInput): Promise<FlushTaskOutput> {
    return this.flushPool.run(input) as Promise<FlushTaskOutput>;
  }

  runCompaction(input: CompactionTaskInput): Promise<CompactionTaskOutput> {
    return this.compactionPool.run(input) as Promise<CompactionTaskOutput>;
  }

  async close(): Promise<void> {
    await Promise.all([this.flushPool.destroy(), this.compactionPool.destroy()]);
  }
}
