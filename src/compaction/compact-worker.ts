// piscina worker entry for compaction tasks: registers the Arrow codecs in this thread, then runs
// the pure compaction task (compact-task.ts). Same pool as the flush tasks (pool.ts).
import { registerArrowCodecs } from '../segment/codecs.js';
import { runCompactionTask, type CompactionTaskInput, type CompactionTaskOutput } from './compact-task.js';

export default async function compactWorker(input: CompactionTaskInput): Promise<CompactionTaskOutput> {
  registerArrowCodecs();
  // Tests of crash safety kill the process while a task runs: this stretches the window.
  const delayMs = Number(process.env.MOCHA_TEST_COMPACTION_DELAY_MS ?? 0);
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  return runCompactionTask(input);
}
