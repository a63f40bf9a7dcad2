// Every bound in one place, with the reason for its value. Relations between them are asserted
// at start-up (assertConstants), so a change that breaks one fails loudly.

const MiB = 1024 * 1024;

/** Raw partitions are 2 h wide, aligned to the Unix epoch, like Prometheus' head blocks. */
export const PARTITION_MS = 2 * 60 * 60 * 1000;

/** PromQL's default lookback delta. */
export const LOOKBACK_DELTA_MS = 5 * 60 * 1000;

/** A WAL segment file is cut when it reaches this size (Prometheus uses 128 MiB). */
export const WAL_SEGMENT_BYTES_MAX = 128 * MiB;

/** Remote-write bodies above this (compressed) are rejected with 413 before decoding. */
export const REMOTE_WRITE_BODY_BYTES_MAX = 32 * MiB;
/** Decompressed remote-write bodies above this are rejected with 413 (snappy bomb guard). */
export const REMOTE_WRITE_DECODED_BYTES_MAX = 256 * MiB;

/** The memtable is frozen and flushed when its estimated size passes this. */
export const MEMTABLE_BYTES_MAX = 512 * MiB;
/** Writes are refused (429) while active plus frozen memtables exceed this: flushes lag behind. */
export const MEMTABLE_TOTAL_BYTES_MAX = 3 * MEMTABLE_BYTES_MAX;

/** Query limits (Prometheus defaults: 50M samples, 2 min timeout, 20 concurrent). */
export const QUERY_SAMPLES_MAX = 50_000_000;
export const QUERY_SERIES_MAX = 1_000_000;
export const QUERY_TIMEOUT_MS = 2 * 60 * 1000;
export const QUERY_CONCURRENCY_MAX = 20;
/** Prometheus rejects range queries with more than 11,000 points per series. */
export const QUERY_POINTS_PER_SERIES_MAX = 11_000;

export function assertConstants(): void {
  if (!(MEMTABLE_TOTAL_BYTES_MAX > MEMTABLE_BYTES_MAX)) throw new Error('MEMTABLE_TOTAL_BYTES_MAX must exceed MEMTABLE_BYTES_MAX');
  if (!(REMOTE_WRITE_DECODED_BYTES_MAX >= REMOTE_WRITE_BODY_BYTES_MAX)) throw new Error('decoded limit must be >= body limit');
  if (PARTITION_MS % 60_000 !== 0) throw new Error('PARTITION_MS must be whole minutes');
}
