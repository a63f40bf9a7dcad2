// Record batches of a segment's data file (samples.arrow or buckets.arrow) as the raw and level
// readers load them: where each batch starts, which batch holds a row, and one load per batch at
// a time -- from the shared batch cache, a load in flight (shared by concurrent queries), or the
// file -- with the cache entries dropped and the file closed (after loads in flight) at close.
import type fs from 'node:fs/promises';
import type { SegmentCache } from './cache.js';

export class BatchLoader<T extends { bytes: number }> {
  /** Length batches+1: batch b holds rows [firstRow[b], firstRow[b+1]). */
  readonly firstRow: Uint32Array;
  private readonly loading = new Map<number, Promise<T>>();
  private closed = false;

  constructor(
    private readonly batchRows: readonly number[],
    private readonly cache: SegmentCache,
    private readonly cacheOwner: number,
    /** Reads, decompresses and validates batch b from the file. */
    private readonly read: (b: number) => Promise<T>,
  ) {
    this.firstRow = new Uint32Array(batchRows.length + 1);
    for (let i = 0; i < batchRows.length; i++) this.firstRow[i + 1] = this.firstRow[i]! + batchRows[i]!;
  }

  /** The batch holding data row `row`. */
  batchOfRow(row: number): number {
    let lo = 0;
    let hi = this.batchRows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.firstRow[mid]! <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Batch b: from the cache, a load in flight, or the file. */
  load(b: number): Promise<T> | T {
    const cached = this.cache.get<T>(this.cacheOwner, b);
    if (cached !== undefined) return cached;
    let run = this.loading.get(b);
    if (run === undefined) {
      run = this.read(b).then(
        (batch) => {
          this.loading.delete(b);
          // A reader closed meanwhile has dropped its entries; do not add one back.
          if (!this.closed) this.cache.set(this.cacheOwner, b, batch, batch.bytes);
          return batch;
        },
        (e: unknown) => {
          this.loading.delete(b);
          throw e;
        },
      );
      this.loading.set(b, run);
    }
    return run;
  }

  /** Drops the cached batches and closes handle after any load in flight. */
  close(handle: fs.FileHandle): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.dropOwner(this.cacheOwner);
    void Promise.allSettled([...this.loading.values()])
      .then(() => handle.close())
      .catch(() => undefined);
  }
}
