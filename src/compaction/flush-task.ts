// Flush task: turns a frozen memtable of one tenant (flat typed arrays, built on the main
// thread) into raw segments, one per 2 h partition touched. Pure function of its input plus the
// files it writes; runs in a piscina worker (flush-worker.ts) so encoding never blocks ingestion.
//
// Per series, samples arrive in arrival order: they are sorted stably by time and de-duplicated
// keeping the last one written (last write wins, as in the memtable), then split by partition.
import { performance } from 'node:perf_hooks';
import { PARTITION_MS } from '../constants.js';
import type { Labels } from '../model/labels.js';
import { sharedFloat64Array, sharedUint32Array } from '../model/shared-arrays.js';
import { segmentName, tenantSegmentsDir } from '../segment/format.js';
import { writeSegment, type SegmentMeta, type SegmentSeriesInput } from '../segment/writer.js';
import type { SegmentCompression } from '../segment/codecs.js';

export interface FlushTaskInput {
  dataDir: string;
  tenant: string;
  firstSegmentSeq: number;
  compression?: SegmentCompression;
  /** JSON of Labels[] (one per series). */
  labelsJson: string;
  /** Length seriesCount+1: samples of series i are [offsets[i], offsets[i+1]). */
  offsets: Uint32Array;
  /** Per series in arrival order: may be unsorted and hold duplicate timestamps; the last one wins. */
  timestampsMs: Float64Array;
  values: Float64Array;
}

export interface FlushTaskOutput {
  segments: SegmentMeta[];
  nextSegmentSeq: number;
  durationMs: number;
}

export interface PackedSeries {
  labelsJson: string;
  offsets: Uint32Array;
  timestampsMs: Float64Array;
  values: Float64Array;
}

/** Flattens series into the shared arrays of a FlushTaskInput (tests, engine; shared-arrays.ts). */
export function packSeries(series: readonly { labels: Labels; timestampsMs: Float64Array; values: Float64Array }[]): PackedSeries {
  let total = 0;
  for (const s of series) total += s.timestampsMs.length;
  const offsets = sharedUint32Array(series.length + 1);
  const timestampsMs = sharedFloat64Array(total);
  const values = sharedFloat64Array(total);
  let at = 0;
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    timestampsMs.set(s.timestampsMs, at);
    values.set(s.values, at); // TypedArray.set copies bytes: NaN payloads survive
    at += s.timestampsMs.length;
    offsets[i + 1] = at;
  }
  return { labelsJson: JSON.stringify(series.map((s) => s.labels)), offsets, timestampsMs, values };
}

export async function runFlushTask(input: FlushTaskInput): Promise<FlushTaskOutput> {
  const started = performance.now();
  const labels = JSON.parse(input.labelsJson) as Labels[];
  const { offsets, timestampsMs, values } = input;
  if (!Array.isArray(labels) || offsets.length !== labels.length + 1) {
    throw new Error(`flush input: ${Array.isArray(labels) ? labels.length : 'no'} label sets for ${offsets.length - 1} series`);
  }
  if (offsets[0] !== 0 || offsets[labels.length] !== timestampsMs.length || values.length !== timestampsMs.length) {
    throw new Error(`flush input: offsets [${offsets[0]}..${offsets[labels.length]}] do not cover ${timestampsMs.length} samples (${values.length} values)`);
  }
  // Partition start -> series slices in that partition.
  const byPartition = new Map<number, SegmentSeriesInput[]>();
  for (let i = 0; i < labels.length; i++) {
    const a = offsets[i]!;
    const z = offsets[i + 1]!;
    if (!(z >= a)) throw new Error(`flush input: offsets decrease at series ${i}`);
    if (z === a) continue;
    const run = sortDedupLastWins(timestampsMs.subarray(a, z), values.subarray(a, z));
    let s = 0;
    while (s < run.timestampsMs.length) {
      const pStart = Math.floor(run.timestampsMs[s]! / PARTITION_MS) * PARTITION_MS;
      const pEnd = pStart + PARTITION_MS;
      let e = s + 1;
      while (e < run.timestampsMs.length && run.timestampsMs[e]! < pEnd) e++;
      let list = byPartition.get(pStart);
      if (!list) byPartition.set(pStart, (list = []));
      list.push({ labels: labels[i]!, timestampsMs: run.timestampsMs.subarray(s, e), values: run.values.subarray(s, e) });
      s = e;
    }
  }
  const segments: SegmentMeta[] = [];
  let seq = input.firstSegmentSeq;
  const dir = tenantSegmentsDir(input.dataDir, input.tenant);
  for (const pStart of [...byPartition.keys()].sort((x, y) => x - y)) {
    const name = segmentName('raw', pStart, seq++);
    const meta = await writeSegment(
      dir,
      name,
      { tenant: input.tenant, level: 'raw', partitionStartMs: pStart, partitionEndMs: pStart + PARTITION_MS, series: byPartition.get(pStart)! },
      input.compression !== undefined ? { compression: input.compression } : undefined,
    );
    segments.push(meta);
  }
  return { segments, nextSegmentSeq: seq, durationMs: performance.now() - started };
}

/**
 * Sorts one series' samples by time (stable) and keeps the last sample of each timestamp.
 * Returns the inputs themselves when they are already sorted and unique (the common case: the
 * memtable hands over sorted runs). Values move as 32-bit words, so NaN payloads are kept.
 */
export function sortDedupLastWins(ts: Float64Array, vs: Float64Array): { timestampsMs: Float64Array; values: Float64Array } {
  const n = ts.length;
  let sorted = true;
  for (let i = 1; i < n; i++) {
    if (!(ts[i]! > ts[i - 1]!)) {
      sorted = false;
      break;
    }
  }
  if (sorted) return { timestampsMs: ts, values: vs };
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Ties broken by arrival index: stable, so the last of equal timestamps sorts last.
  order.sort((x, y) => ts[x]! - ts[y]! || x - y);
  const outT = new Float64Array(n);
  const outV = new Float64Array(n);
  const inW = new Uint32Array(vs.buffer, vs.byteOffset, n * 2);
  const outW = new Uint32Array(outV.buffer, 0, n * 2);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const idx = order[k]!;
    if (k + 1 < n && ts[order[k + 1]!] === ts[idx]) continue; // a later write of the same timestamp follows
    outT[m] = ts[idx]!;
    outW[2 * m] = inW[2 * idx]!;
    outW[2 * m + 1] = inW[2 * idx + 1]!;
    m++;
  }
  return { timestampsMs: outT.subarray(0, m), values: outV.subarray(0, m) };
}
