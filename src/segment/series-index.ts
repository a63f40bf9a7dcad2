// The series half of a segment reader, shared by the raw (reader.ts) and level (level-reader.ts)
// readers: series.arrow labels (refs 0..n-1 in label order) and the postings.arrow index over
// them (roaring bitmaps deserialized and range-checked on first use), plus the check that the
// series own contiguous data rows in ref order, never split across record batches.
import { MochaError } from '../errors.js';
import { compareLabels, labelsKey, type Labels } from '../model/labels.js';
import { RoaringBitmap32, type Bitmap, type PostingsIndex } from '../model/postings.js';
import { POSTINGS_FILE, SERIES_FILE } from './format.js';

export interface PostingEntry {
  bytes: Uint8Array;
  bitmap?: Bitmap;
}

/** How series.arrow must cover the data file's rows (chunks of samples.arrow, blocks of buckets.arrow). */
export interface SeriesRowLayout {
  /** First data row of each series (series.arrow first_chunk_row). */
  firstRow: Uint32Array;
  /** Data rows of each series (series.arrow chunk_count). */
  rowCount: Uint32Array;
  /** Length batches+1: record batch b holds rows [batchFirstRow[b], batchFirstRow[b+1]). */
  batchFirstRow: Uint32Array;
  batchCount: number;
  /** meta.json's series and data row counts. */
  seriesCount: number;
  rowsTotal: number;
  /** What a data row is called in messages: 'chunk' or 'block'. */
  rowWhat: string;
}

function corrupt(msg: string, file: string, row?: number): MochaError {
  return new MochaError('SEGMENT_CORRUPT', msg, row === undefined ? { file } : { file, row });
}

/**
 * Series keys (labelsKey) by label table: segments sharing a decoded table (shared-tables.ts)
 * share its keys too, each built once on first use.
 */
const keysByTable = new WeakMap<readonly Labels[], (string | undefined)[]>();

export abstract class SeriesIndex implements PostingsIndex {
  private readonly keys: (string | undefined)[];

  protected constructor(
    protected readonly labels: readonly Labels[],
    private readonly postingsByName: Map<string, Map<string, PostingEntry>>,
  ) {
    let keys = keysByTable.get(labels);
    if (keys === undefined) keysByTable.set(labels, (keys = new Array<string | undefined>(labels.length)));
    this.keys = keys;
  }

  /** Series in the segment: refs are 0..seriesCount-1, in label order. */
  get seriesCount(): number {
    return this.labels.length;
  }

  allPostings(): Bitmap {
    const b = new RoaringBitmap32();
    b.addRange(0, this.labels.length);
    return b;
  }

  labelValues(name: string): Iterable<string> {
    return this.postingsByName.get(name)?.keys() ?? [];
  }

  postings(name: string, value: string): Bitmap | undefined {
    const e = this.postingsByName.get(name)?.get(value);
    if (e === undefined) return undefined;
    if (e.bitmap === undefined) {
      let bm: Bitmap;
      try {
        bm = RoaringBitmap32.deserialize(e.bytes, true);
      } catch (err) {
        throw corrupt(`postings ${name}=${JSON.stringify(value)}: bad roaring bitmap: ${(err as Error).message}`, POSTINGS_FILE);
      }
      const max = bm.isEmpty ? -1 : bm.maximum();
      if (max >= this.labels.length) throw corrupt(`postings ${name}=${JSON.stringify(value)}: series ref ${max} >= series count ${this.labels.length}`, POSTINGS_FILE);
      e.bitmap = bm;
    }
    return e.bitmap;
  }

  protected keyOf(ref: number): string {
    return (this.keys[ref] ??= labelsKey(this.labels[ref]!));
  }

  /** Labels strictly increasing; series own contiguous rows in ref order within one record batch. SEGMENT_CORRUPT otherwise. */
  protected checkSeriesRows(l: SeriesRowLayout): void {
    const n = this.labels.length;
    if (n !== l.seriesCount) throw corrupt(`series.arrow holds ${n} series; meta.json says ${l.seriesCount}`, SERIES_FILE);
    let row = 0;
    let batch = 0;
    for (let ref = 0; ref < n; ref++) {
      if (l.firstRow[ref] !== row) throw corrupt(`series ${ref}: first_chunk_row ${l.firstRow[ref]} is not ${row}`, SERIES_FILE, ref);
      const end = row + l.rowCount[ref]!;
      while (batch < l.batchCount && l.batchFirstRow[batch + 1]! <= row) batch++;
      if (end > l.batchFirstRow[batch + 1]!) throw corrupt(`series ${ref}: ${l.rowWhat} rows [${row}, ${end}) cross a record batch boundary`, SERIES_FILE, ref);
      row = end;
      if (ref > 0 && compareLabels(this.labels[ref - 1]!, this.labels[ref]!) >= 0) throw corrupt(`series ${ref}: labels not in strictly increasing order`, SERIES_FILE, ref);
    }
    if (row !== l.rowsTotal) throw corrupt(`series.arrow covers ${row} ${l.rowWhat}s; meta.json says ${l.rowsTotal}`, SERIES_FILE);
  }
}
