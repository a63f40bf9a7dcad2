// piscina worker entry for compaction tasks (pool.ts gives them a thread of their own): lowers
// this thread's OS priority first -- before registerArrowCodecs can start the zstd helper thread,
// which then inherits it -- registers the Arrow codecs in this thread, then runs the pure
// compaction task (compact-task.ts).
import { registerArrowCodecs } from '../segment/codecs.js';
import { runCompactionTask, type CompactionTaskInput, type CompactionTaskOutput } from './compact-task.js';
import { lowerThreadPriority } from './thread-priority.js';

const threadPriority = lowerThreadPriority();

export default async function compactWorker(input: CompactionTaskInput): Promise<CompactionTaskOutput> {
  registerArrowCodecs();
  // Tests of crash safety kill the process while a task runs: this stretches the window.
  const delayMs = Number(process.env.MOCHA_TEST_COMPACTION_DELAY_MS ?? 0);
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  return { ...(await runCompactionTask(input)), threadPriority };
}
