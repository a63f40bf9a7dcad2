// piscina worker entry for formatting part of a large matrix answer (format-pool.ts): the bytes
// are written into the shared room the task brings, and only their length goes back.
import { runFormatTask, type FormatTaskInput, type FormatTaskOutput } from './format-pool.js';

export default function formatWorker(input: FormatTaskInput): FormatTaskOutput {
  return runFormatTask(input);
}
