// Every bound in one place, with the reason for its value. Relations between them are asserted
// at start-up (assertConstants), so a change that breaks one fails loudly.

const MiB = 1024 * 1024;

/** Raw partitions are 2 h wide, aligned to the Unix epoch, like Prometheus' head blocks. */
export const PARTITION_MS = 2 * 60 * 60 * 1000;
/**
 * Level segments (rollups) cover one LEVEL PARTITION: a UTC day, built from every raw segment of
 * the day's raw partitions (src/compaction/planner.ts). Per 2 h partition, per-series overhead
 * (series/postings entries, one-bucket blocks) made the levels 131% (5m) / 30% (1h) / 25% (1d)
 * of the raw bytes at 20k series; per day 56% / 6.4% / 2.7% (bench/micro/level-encoding.ts), and
 * a 30-day query opens 30 level segments per level instead of 360. A multiple of PARTITION_MS and
 * of every level width up to a day; a level wider than a day (say 7d) still gets one segment per
 * day, holding partial buckets at the day edges, which readers join (rollup/buckets.ts concat).
 */
export const LEVEL_PARTITION_MS = 24 * 60 * 60 * 1000;

/**
 * Sample timestamps must lie within +-2^47 ms (about +-4,460 years around 1970). Ingest rejects
 * anything beyond, because the segment encodings keep deltas and delta-of-deltas exact only up to
 * this bound: a sample accepted but not flushable would wedge every later flush.
 */
export const SAMPLE_TIMESTAMP_ABS_MAX_MS = 2 ** 47;

/** PromQL's default lookback delta. */
export const LOOKBACK_DELTA_MS = 5 * 60 * 1000;

/** A WAL segment file is cut when it reaches this size (Prometheus uses 128 MiB). */
export const WAL_SEGMENT_BYTES_MAX = 128 * MiB;
/**
 * A WAL record's payload never exceeds this; larger sample or series batches are split into
 * several records (a record never spans segment files, and replay holds one record in memory).
 * 8 MiB is ~400k samples, far above one remote-write request of a usual size.
 */
export const WAL_RECORD_BYTES_MAX = 8 * MiB;

/** Remote-write bodies above this (compressed) are rejected with 413 before decoding. */
export const REMOTE_WRITE_BODY_BYTES_MAX = 32 * MiB;
/** Decompressed remote-write bodies above this are rejected with 413 (snappy bomb guard). */
export const REMOTE_WRITE_DECODED_BYTES_MAX = 256 * MiB;
/**
 * Remote-write bodies up to this size decompressed are decompressed on the JS thread (a few ms at
 * most); larger ones in the libuv pool. The async hand-off cost about twice the CPU of the
 * decompression itself on Prometheus-sized (~500 KB) bodies (bench/micro/snappy-sync.ts).
 */
export const REMOTE_WRITE_SNAPPY_SYNC_BYTES_MAX = 4 * MiB;
/**
 * OTLP/HTTP bodies above this after decompression are rejected with 413 (the limit the OTLP spec
 * recommends); gzip is inflated chunk by chunk and stopped at this bound.
 */
export const OTLP_BODY_BYTES_MAX = 20 * MiB;
/**
 * gzip OTLP bodies whose Content-Length is at most this are inflated in one zlib.gunzipSync call
 * on the JS thread, bounded by OTLP_BODY_BYTES_MAX of output (a bomb stops there); longer or
 * chunked bodies are inflated as they arrive in zlib's stream. The stream's per-chunk hand-offs
 * to the libuv pool cost more CPU than the inflate itself on collector-sized bodies
 * (bench/micro/gunzip-sync.ts).
 */
export const OTLP_GZIP_SYNC_BYTES_MAX = 512 * 1024;
/**
 * Labels per series. Prometheus has no limit, Mimir defaults to 30; real series carry 5-25
 * (Kubernetes service discovery adds the most). 128 leaves room for those and stops label bombs.
 */
export const LABELS_PER_SERIES_MAX = 128;
/** Label name bytes. Real names are < 100 bytes; Mimir's default limit is 1024. */
export const LABEL_NAME_BYTES_MAX = 1024;
/**
 * Label value bytes. Mimir's default is 2048, but values such as SQL text or URLs in span
 * metrics run longer; 16 KiB keeps those and bounds memory per series.
 */
export const LABEL_VALUE_BYTES_MAX = 16 * 1024;
/**
 * Remote-write label cache (raw label bytes -> validated labels), per generation; at most twice
 * this many entries are held. It must cover the active series of a busy server: with 32768 and
 * 50k node-exporter series (bench, `npm run bench`), cyclic access thrashed the two generations,
 * the cache stood aside, and ingest fell from ~460k to ~190k samples per server CPU-second.
 * Cost: ~0.4 KiB per entry on top of the label objects, which the memtable shares (~3 KiB when
 * it does not), i.e. ~100 MiB for 256k active series, next to the ~0.9 KiB per series the
 * registry holds anyway. Beyond ~256-512k active series the cache stands aside (uncached decode,
 * ~2-3x slower); see bench/micro/remote-write-decode.ts.
 */
export const REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX = 262_144;
/**
 * Runes of an exemplar's label names and values together, as Prometheus' ExemplarMaxLabelSetLength
 * (128, from OpenMetrics): longer exemplar label sets are rejected ('invalid_exemplar').
 */
export const EXEMPLAR_LABELS_RUNES_MAX = 128;
/** Metric metadata is saved to <data-dir>/metadata.json at most this often when it changed (and on close). */
export const METADATA_SAVE_INTERVAL_MS = 30_000;

/** The memtable is frozen and flushed when its estimated size passes this. */
/** Default per-tenant limit of series in the memtable registry (new series beyond it are rejected). */
export const INGEST_SERIES_ACTIVE_MAX = 5_000_000;
/** Default limit on sample age at ingest; 0 = none, so backfill through remote write works (docs/API.md, "Limits"). */
export const INGEST_SAMPLE_AGE_MAX_MS = 0;
/** Samples further in the future than this are rejected (Mimir's creation grace period is 10 m). */
export const INGEST_SAMPLE_FUTURE_MAX_MS = 10 * 60 * 1000;
export const MEMTABLE_BYTES_MAX = 512 * MiB;
/** Writes are refused (429) while active plus frozen memtables exceed this: flushes lag behind. */
export const MEMTABLE_TOTAL_BYTES_MAX = 3 * MEMTABLE_BYTES_MAX;
/**
 * Series a compaction task reads and merges at once (src/compaction/compact-task.ts): the decoded
 * samples held are those of one batch across the partition's inputs. 1024 series of a 2 h
 * partition at 15 s are ~7.9 MiB per input.
 */
export const COMPACTION_SERIES_BATCH_MAX = 1024;
/** Default period of the compaction check (`--compaction-interval`). */
export const COMPACTION_INTERVAL_MS = 5 * 60 * 1000;

/**
 * Default bound of EACH of the two segment read caches (src/segment/cache.ts, LRU, shared by all
 * queries): 1/16 of the machine's memory, at most 512 MiB, at least 64 MiB
 * (`--segment-cache-bytes-max` overrides). The batch cache holds decompressed samples.arrow record
 * batches (chunk encodings, ~1-2 bytes per sample; without it every query paid zstd per batch
 * again, 50-80% of a selective query's time); the chunk cache holds decoded chunks (16 bytes per
 * sample), apart so a large scan cannot evict the batches, which are dearer to rebuild. 64 MiB
 * each was enough at 10k series but not at 100k, where instant aggregations were 1.1-1.6x
 * Prometheus with 64 MiB and 0.5-0.7x with 512 MiB (bench:query, 2026-12-02, bench/README.md).
 * Sizing caches by machine memory is what VictoriaMetrics does too (-memory.allowedPercent).
 */
export const SEGMENT_CACHE_BYTES_MAX_CAP = 512 * MiB;
export const SEGMENT_CACHE_BYTES_MAX_FLOOR = 64 * MiB;
export const SEGMENT_CACHE_MEMORY_FRACTION = 1 / 16;
export function defaultSegmentCacheBytesMax(machineBytes: number): number {
  return Math.max(SEGMENT_CACHE_BYTES_MAX_FLOOR, Math.min(SEGMENT_CACHE_BYTES_MAX_CAP, Math.floor(machineBytes * SEGMENT_CACHE_MEMORY_FRACTION)));
}

/** Query limits (Prometheus defaults: 50M samples, 2 min timeout, 20 concurrent). */
export const QUERY_SAMPLES_MAX = 50_000_000;
export const QUERY_SERIES_MAX = 1_000_000;
export const QUERY_TIMEOUT_MS = 2 * 60 * 1000;
/**
 * Buckets of mocha_query_duration_seconds: a warm dashboard query from the pyramid takes tens of
 * milliseconds, a cold one about a second, a 30-day raw one several seconds, up to the timeout.
 */
export const QUERY_DURATION_BOUNDS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;
/**
 * Raw samples one selector holds at once when it walks series in batches (range functions and
 * instant selectors: Querier.selectSeriesBatches): 4M samples are 64 MiB of decoded arrays. A
 * 30-day range over 500 series at 15 s is 86M samples (1.4 GB) when read in one piece.
 */
export const RAW_BATCH_SAMPLES_MAX = 4_000_000;
export const QUERY_CONCURRENCY_MAX = 20;
/** Prometheus rejects range queries with more than 11,000 points per series. */
export const QUERY_POINTS_PER_SERIES_MAX = 11_000;

export function assertConstants(): void {
  if (!(MEMTABLE_TOTAL_BYTES_MAX > MEMTABLE_BYTES_MAX)) throw new Error('MEMTABLE_TOTAL_BYTES_MAX must exceed MEMTABLE_BYTES_MAX');
  if (!(REMOTE_WRITE_DECODED_BYTES_MAX >= REMOTE_WRITE_BODY_BYTES_MAX)) throw new Error('decoded limit must be >= body limit');
  if (PARTITION_MS % 60_000 !== 0) throw new Error('PARTITION_MS must be whole minutes');
  if (LEVEL_PARTITION_MS % PARTITION_MS !== 0) throw new Error('LEVEL_PARTITION_MS must be a multiple of PARTITION_MS');
  // The largest series the label limits allow must fit in one decoded remote-write request.
  if (!(LABELS_PER_SERIES_MAX * (LABEL_NAME_BYTES_MAX + LABEL_VALUE_BYTES_MAX + 16) <= REMOTE_WRITE_DECODED_BYTES_MAX)) throw new Error('label limits exceed the decoded remote-write limit');
  if (!(WAL_SEGMENT_BYTES_MAX >= 2 * WAL_RECORD_BYTES_MAX)) throw new Error('WAL_SEGMENT_BYTES_MAX must hold at least two records of WAL_RECORD_BYTES_MAX');
}

/**
 * Back-pressure on the WAL: writes get 429 while the bytes encoded and not yet written (and
 * fsynced, under --wal-fsync batch) exceed this. Group commit keeps the queue near one batch when
 * the disk keeps up; a queue this long means it does not, and further appends would only grow
 * memory. 64 MiB is several seconds of a fast sender at ~16 bytes per sample.
 */
export const WAL_PENDING_BYTES_MAX = 64 * MiB;

/**
 * Exemplars kept per tenant (a circular buffer; the oldest go first), Prometheus'
 * --storage.exemplars.exemplars-limit default. ~0.5 KiB each with their labels: ~50 MiB per tenant.
 */
export const EXEMPLARS_PER_TENANT_MAX = 100_000;
