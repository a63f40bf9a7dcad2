// piscina worker entry for formatting part of a large matrix answer (format-pool.ts).
import { Piscina } from 'piscina';
import { runFormatTask, type FormatTaskInput } from './format-pool.js';

export default function formatWorker(input: FormatTaskInput): unknown {
  // Transferred, not copied, back to the main thread: its own ArrayBuffer (see runFormatTask).
  return Piscina.move(runFormatTask(input));
}
