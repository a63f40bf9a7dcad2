// Formatting a large matrix answer on more than one thread. A 30-day range answer of a few
// hundred series is ~330k points and ~11 MB of JSON; writing it (format.ts) is most of what a
// warm pyramid query costs (~90 of ~140 ms for bench:rollup's avg_over_time), on the main
// thread. Its series are independent: the main thread writes the first part while idle format
// workers write the others, and the parts are joined in order, so the bytes are those of
// writeQueryData exactly (test/query/format-pool.test.ts). A part travels in shared memory both
// ways (its points, and the room its bytes are written into): never a transfer, which would
// detach a buffer and slow the typed-array code of that thread for good (model/shared-arrays.ts).
// A worker that fails has its part written by the main thread instead.
import os from 'node:os';
import { Piscina } from 'piscina';
import { workerFile } from '../compaction/pool.js';
import type { Labels } from '../model/labels.js';
import { sharedFloat64Array, sharedUint32Array } from '../model/shared-arrays.js';
import type { QueryResult } from './engine.js';
import { beginMatrix, JsonBytes, matrixPoints, POINT_BYTES_MAX, writeMatrixSeries, writeQueryData, type MatrixSeries } from './format.js';

/** The default format workers: cores - 1 (the main thread writes a part too), at most this many. */
export const QUERY_FORMAT_THREADS_MAX = 3;

export function defaultQueryFormatThreads(): number {
  return Math.min(QUERY_FORMAT_THREADS_MAX, Math.max(0, os.availableParallelism() - 1));
}

/** Below this many points an answer is written by the main thread alone (~3 ms of work; a task costs ~0.5 ms). */
export const PARALLEL_FORMAT_POINTS_MIN = 20_000;
/** Idle format workers exit after a minute without large answers. */
const FORMAT_WORKER_IDLE_TIMEOUT_MS = 60_000;

/** Part of a matrix answer for a format worker: its series' labels and packed points. */
export interface FormatTaskInput {
  /** The answer's time grid (JsonBytes.setTimeGrid), if its writer has one. */
  grid: { startMs: number; stepMs: number; count: number } | undefined;
  labels: Labels[];
  /** Series i's points are [pointOffsets[i], pointOffsets[i + 1]) of timestampsMs and values. */
  pointOffsets: Uint32Array;
  timestampsMs: Float64Array;
  values: Float64Array;
  /** Room for the part's bytes (partBytesMax), shared with the main thread. */
  out: Uint8Array;
}

/** A worker's answer: the part's length in `out`, or (had it not fit) its bytes, copied. */
export interface FormatTaskOutput {
  length: number;
  bytes?: Uint8Array;
}

/**
 * Room writing series [from, to) may ask for (JsonBytes reserves before it writes): per point
 * POINT_BYTES_MAX, per label string 3 bytes of UTF-8 for each of up to 6 characters of its escape
 * (text() reserves 3 bytes a character of the escaped JSON), and the punctuation.
 */
export function partBytesMax(series: readonly MatrixSeries[], from: number, to: number): number {
  let bytes = 64;
  for (let i = from; i < to; i++) {
    const s = series[i]!;
    bytes += s.timestampsMs.length * POINT_BYTES_MAX + 64;
    for (const l of s.labels) bytes += 18 * (l.name.length + l.value.length) + 24;
  }
  return bytes;
}

/**
 * The part's bytes: writeMatrixSeries of its series, each after a comma (never the answer's
 * first), written into input.out; copied out only if they did not fit (partBytesMax is an upper
 * bound: they always do).
 */
export function runFormatTask(input: FormatTaskInput): FormatTaskOutput {
  const n = input.labels.length;
  const out = input.out;
  const w = new JsonBytes(0, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  if (input.grid !== undefined) w.setTimeGrid(input.grid.startMs, input.grid.stepMs, input.grid.count);
  const series: MatrixSeries[] = [];
  const offsets = input.pointOffsets;
  for (let i = 0; i < n; i++) {
    series.push({ labels: input.labels[i]!, timestampsMs: input.timestampsMs.subarray(offsets[i]!, offsets[i + 1]!), values: input.values.subarray(offsets[i]!, offsets[i + 1]!) });
  }
  writeMatrixSeries(w, series, 0, n, true);
  const bytes = w.bytes();
  // JsonBytes moved to a buffer of its own when out was too small.
  if (bytes.buffer === out.buffer) return { length: bytes.length };
  return { length: bytes.length, bytes: new Uint8Array(bytes) };
}

/**
 * Shared memory of one task in flight, kept for the next one: fresh memory for an 11 MB answer
 * costs page faults on both threads (~5 ms a part, measured), reused memory does not.
 */
class TaskScratch {
  pointOffsets = sharedUint32Array(0);
  timestampsMs = sharedFloat64Array(0);
  values = sharedFloat64Array(0);
  out = new Uint8Array(new SharedArrayBuffer(0));

  /** Bytes held. */
  get bytes(): number {
    return this.pointOffsets.byteLength + this.timestampsMs.byteLength + this.values.byteLength + this.out.byteLength;
  }

  /** Room for `series` series, `points` points and `outBytes` bytes of answer (grown by half again when short). */
  ensure(series: number, points: number, outBytes: number): void {
    const grow = (need: number): number => Math.ceil(need * 1.5);
    if (this.pointOffsets.length < series + 1) this.pointOffsets = sharedUint32Array(grow(series + 1));
    if (this.timestampsMs.length < points) {
      this.timestampsMs = sharedFloat64Array(grow(points));
      this.values = sharedFloat64Array(grow(points));
    }
    if (this.out.length < outBytes) this.out = new Uint8Array(new SharedArrayBuffer(grow(outBytes)));
  }
}

/** Scratch memory kept between answers at most this large per worker (a 30-day, 11 MB answer's part needs ~14 MB; a larger one is dropped after its task). */
const SCRATCH_BYTES_KEPT_MAX = 32 * 1024 * 1024;

/** Series [from, to) packed for a format worker, in views of `scratch`. */
function packTask(series: readonly MatrixSeries[], from: number, to: number, grid: FormatTaskInput['grid'], scratch: TaskScratch): FormatTaskInput {
  // Shared memory, neither copied nor transferred: a transfer would detach the main thread's
  // buffers and slow its typed-array code for good (model/shared-arrays.ts).
  let points = 0;
  for (let i = from; i < to; i++) points += series[i]!.timestampsMs.length;
  scratch.ensure(to - from, points, partBytesMax(series, from, to));
  const pointOffsets = scratch.pointOffsets.subarray(0, to - from + 1);
  pointOffsets[0] = 0;
  for (let i = from; i < to; i++) pointOffsets[i - from + 1] = pointOffsets[i - from]! + series[i]!.timestampsMs.length;
  const timestampsMs = scratch.timestampsMs.subarray(0, points);
  const values = scratch.values.subarray(0, points);
  const labels: Labels[] = [];
  for (let i = from; i < to; i++) {
    const s = series[i]!;
    timestampsMs.set(s.timestampsMs, pointOffsets[i - from]!);
    values.set(s.values, pointOffsets[i - from]!);
    labels.push(s.labels);
  }
  return { grid, labels, pointOffsets, timestampsMs, values, out: scratch.out };
}

/**
 * Series indices cutting `series` into `parts` runs of about equal points: cuts[k] is where part k
 * starts (cuts[0] = 0, cuts[parts] = series.length). The first run has a series (if there is
 * one); later runs may be empty.
 */
export function cutByPoints(series: readonly MatrixSeries[], parts: number): number[] {
  const total = matrixPoints(series);
  const cuts = [0];
  let seen = 0;
  let i = 0;
  for (let k = 1; k < parts; k++) {
    const target = (total * k) / parts;
    // The first part is never empty: the main thread writes it, the answer's first series
    // without a comma before it, and the workers' parts all start with one.
    while (i < series.length && (i === 0 || seen + series[i]!.timestampsMs.length / 2 < target)) seen += series[i++]!.timestampsMs.length;
    cuts.push(i);
  }
  cuts.push(series.length);
  return cuts;
}

export interface AnswerFormatterOptions {
  /** Format worker threads (0: the main thread writes every answer). */
  threads: number;
  /** Answers with fewer points are written by the main thread alone (PARALLEL_FORMAT_POINTS_MIN). */
  pointsMin?: number;
  /** The worker module (tests give one that fails). */
  workerFilename?: string;
}

/** Writes query answers, large matrices with the help of format workers. */
export class AnswerFormatter {
  private readonly pool: Piscina | undefined;
  private readonly threads: number;
  private readonly pointsMin: number;
  private tasksInFlight = 0;
  /** Shared memory of tasks no longer in flight (at most `threads`). */
  private readonly spareScratch: TaskScratch[] = [];
  /** Parts of answers written by workers, and by the main thread after a worker failed. */
  partsByWorkers = 0;
  partsFailed = 0;

  constructor(opts: AnswerFormatterOptions) {
    this.threads = Math.max(0, Math.floor(opts.threads));
    this.pointsMin = opts.pointsMin ?? PARALLEL_FORMAT_POINTS_MIN;
    // minThreads 0: no thread (and its memory) until the first large answer.
    this.pool =
      this.threads > 0
        ? new Piscina({ filename: opts.workerFilename ?? workerFile('format-worker', 'query'), minThreads: 0, maxThreads: this.threads, idleTimeout: FORMAT_WORKER_IDLE_TIMEOUT_MS })
        : undefined;
  }

  /** writeQueryData, with the series of a large matrix split between this thread and idle workers. */
  async writeQueryData(w: JsonBytes, result: QueryResult, extraJson = ''): Promise<void> {
    const pool = this.pool;
    const idle = this.threads - this.tasksInFlight;
    if (pool === undefined || result.resultType !== 'matrix' || idle <= 0 || result.result.length < 2 || matrixPoints(result.result) < this.pointsMin) {
      writeQueryData(w, result, extraJson);
      return;
    }
    const series = result.result;
    beginMatrix(w, series);
    const cuts = cutByPoints(series, idle + 1);
    const grid = w.timeGrid;
    const parts: { from: number; to: number; scratch: TaskScratch; bytes: Promise<Uint8Array | undefined> }[] = [];
    for (let k = 1; k + 1 < cuts.length; k++) {
      const from = cuts[k]!;
      const to = cuts[k + 1]!;
      if (from === to) continue;
      const scratch = this.spareScratch.pop() ?? new TaskScratch();
      const input = packTask(series, from, to, grid, scratch);
      this.tasksInFlight++;
      const bytes = (pool.run(input) as Promise<FormatTaskOutput>).then(
        (r) => r.bytes ?? input.out.subarray(0, r.length),
        () => undefined,
      );
      parts.push({ from, to, scratch, bytes: bytes.finally(() => this.tasksInFlight--) });
    }
    writeMatrixSeries(w, series, 0, cuts[1]!);
    for (const part of parts) {
      const bytes = await part.bytes;
      if (bytes !== undefined) {
        w.raw(bytes);
        this.partsByWorkers++;
      } else {
        writeMatrixSeries(w, series, part.from, part.to);
        this.partsFailed++;
      }
      // The part is copied out and its task settled (a failed worker no longer writes either).
      if (part.scratch.bytes <= SCRATCH_BYTES_KEPT_MAX && this.spareScratch.length < this.threads) this.spareScratch.push(part.scratch);
    }
    w.ascii(']').text(extraJson).ascii('}');
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
