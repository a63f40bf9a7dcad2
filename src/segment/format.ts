// Everything a segment is named and bounded by on disk, in one place (like VictoriaMetrics'
// filenames.go): directory layout, file names, format version, and the limits the reader
// enforces on every header field it reads. docs/format/segment.md documents the format.
import path from 'node:path';

export const SEGMENT_FORMAT_VERSION = 1;
export const MANIFEST_FORMAT_VERSION = 1;

export const SERIES_FILE = 'series.arrow';
export const SAMPLES_FILE = 'samples.arrow';
export const POSTINGS_FILE = 'postings.arrow';
export const META_FILE = 'meta.json';
export const MANIFEST_FILE = 'manifest.json';
export const TMP_SUFFIX = '.tmp';
export const SEGMENT_FILES = [SERIES_FILE, SAMPLES_FILE, POSTINGS_FILE] as const;
/** A rollup level segment (docs/format/level.md): series and postings as raw, buckets instead of samples. */
export const BUCKETS_FILE = 'buckets.arrow';
export const LEVEL_SEGMENT_FILES = [SERIES_FILE, BUCKETS_FILE, POSTINGS_FILE] as const;

/**
 * Samples per chunk written. 480 = 2 h of 15 s scrapes: one chunk per series per raw partition
 * in the common case. Measured in bench/micro/encoding.ts: 120 -> 480 saves ~10% bytes on
 * node-exporter-like data; 1024 saves <1% more but makes a read of a short range decode more.
 */
export const CHUNK_SAMPLES_MAX = 480;
/** Format limit on one chunk's samples: the reader accepts chunks written with other settings. */
export const CHUNK_SAMPLES_LIMIT = 65_536;
/** A samples.arrow record batch is cut (at a series boundary) past this many encoded bytes: the
 *  unit a reader decompresses to reach one series. */
export const SAMPLES_BATCH_BYTES_TARGET = 1024 * 1024;
/** ... or past this many chunks. */
export const SAMPLES_BATCH_CHUNKS_MAX = 16_384;
/** Series in one segment: refs are uint32, bitmaps are roaring32; 16 M is far beyond a 2 h partition. */
export const SEGMENT_SERIES_MAX = 16 * 1024 * 1024;
/** Chunks in one segment (uint32 row numbers). */
export const SEGMENT_CHUNKS_MAX = 2 ** 31 - 1;
/** Labels of one series (Prometheus' default label_limit is unlimited; this bounds a corrupt file). */
export const SERIES_LABELS_MAX = 4096;
/** meta.json and manifest.json are small; a bigger one is corrupt. */
export const META_FILE_BYTES_MAX = 16 * 1024 * 1024;
export const MANIFEST_FILE_BYTES_MAX = 256 * 1024 * 1024;
/** Encoded bytes of one chunk column value: raw f64 of CHUNK_SAMPLES_LIMIT samples plus header. */
export const CHUNK_ENCODED_BYTES_MAX = CHUNK_SAMPLES_LIMIT * 9 + 64;
/** Zero-padded digits of the sequence number in a segment name. */
export const SEGMENT_SEQ_DIGITS = 8;

/**
 * Buckets per block written (one buckets.arrow row = a run of one series' buckets): 288 = a day
 * of 5 m buckets, so a level segment of up to a day has one block per series (a read of a short
 * range of a longer one decodes at most a day of buckets per series).
 */
export const LEVEL_BLOCK_BUCKETS_MAX = 288;
/** Format limit on one block's buckets: the reader accepts blocks written with other settings. */
export const LEVEL_BLOCK_BUCKETS_LIMIT = 65_536;
/** Encoded bytes of one block's column: 8-byte floats of LEVEL_BLOCK_BUCKETS_LIMIT buckets plus headers. */
export const LEVEL_COLUMN_ENCODED_BYTES_MAX = LEVEL_BLOCK_BUCKETS_LIMIT * 9 + 64;
/** Raw segments one level segment may name as its sources (a corrupt meta.json is bounded). */
export const LEVEL_SOURCES_MAX = 65_536;

/** 'raw', or a rollup level's name ("5m", "1h": src/rollup/levels.ts). */
export type SegmentLevel = string;

/** Segment (directory) names: `<level>-<partitionStartMs>-<seq>`; also what manifests accept. */
export const SEGMENT_NAME_RE = /^[A-Za-z0-9_.-]+$/;

export function segmentName(level: SegmentLevel, partitionStartMs: number, seq: number): string {
  return `${level}-${partitionStartMs}-${String(seq).padStart(SEGMENT_SEQ_DIGITS, '0')}`;
}

export function tenantSegmentsDir(dataDir: string, tenant: string): string {
  return path.join(dataDir, 'tenants', tenant, 'segments');
}

export function segmentDir(dataDir: string, tenant: string, name: string): string {
  return path.join(tenantSegmentsDir(dataDir, tenant), name);
}
