// The worker pool for CPU-heavy storage work: flush tasks (segment encoding) and compaction tasks
// (merges and rollup levels) share it, each task naming its worker file.
//
// Sized to leave one core for ingestion and queries: on this 2-core machine that is one worker.
// Workers load compiled JavaScript from dist/: when this module runs from TypeScript sources
// (vitest), it points at the build that `npm test` makes first.
import os from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { FlushTaskInput, FlushTaskOutput } from './flush-task.js';
import type { CompactionTaskInput, CompactionTaskOutput } from './compact-task.js';

export function workerFile(name: string): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  const built = fileURLToPath(new URL(`../../dist/compaction/${name}.js`, import.meta.url));
  if (!existsSync(built)) throw new Error(`worker ${built} is not built: run \`npm run build\` first`);
  return built;
}

/** Workers: all cores but one, at least one. */
export function defaultWorkerCount(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

export class CompactionPool {
  private readonly pool: Piscina;
  private readonly compactFile = workerFile('compact-worker');

  constructor(workers: number = defaultWorkerCount()) {
    this.pool = new Piscina({
      filename: workerFile('flush-worker'),
      minThreads: 1,
      maxThreads: workers,
      // Idle workers exit after a minute; flushes are minutes apart at steady state.
      idleTimeout: 60_000,
    });
  }

  runFlush(input: FlushTaskInput): Promise<FlushTaskOutput> {
    const transfer = [input.offsets.buffer, input.timestampsMs.buffer, input.values.buffer] as ArrayBuffer[];
    return this.pool.run(input, { transferList: transfer }) as Promise<FlushTaskOutput>;
  }

  runCompaction(input: CompactionTaskInput): Promise<CompactionTaskOutput> {
    return this.pool.run(input, { filename: this.compactFile }) as Promise<CompactionTaskOutput>;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
