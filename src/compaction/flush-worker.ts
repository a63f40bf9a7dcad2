// piscina worker entry for flush tasks: registers the Arrow codecs in this thread, then runs
// the pure flush task (flush-task.ts).
import { registerArrowCodecs } from '../segment/codecs.js';
import { runFlushTask, type FlushTaskInput, type FlushTaskOutput } from './flush-task.js';

export default async function flushWorker(input: FlushTaskInput): Promise<FlushTaskOutput> {
  registerArrowCodecs();
  return runFlushTask(input);
}
