// meta.json of a segment: what it covers, its counts, and the size and CRC-32 of each file, so
// the reader can check everything it reads. parseSegmentMeta() bounds-checks every field.
//
// Two kinds share the format version and most fields: raw segments (level "raw": samples.arrow,
// docs/format/segment.md) and rollup level segments (level "5m", "1h", ...: buckets.arrow,
// docs/format/level.md). isLevelSegmentMeta() tells them apart.
import { MochaError } from '../errors.js';
import { isValidTenantId } from '../model/write.js';
import { LEVEL_WIDTH_MIN_MS, levelNameOf, parseSimpleDurationMs, RAW_LEVEL } from '../rollup/levels.js';
import {
  CHUNK_SAMPLES_LIMIT,
  LEVEL_BLOCK_BUCKETS_LIMIT,
  LEVEL_SEGMENT_FILES,
  LEVEL_SOURCES_MAX,
  META_FILE,
  SEGMENT_CHUNKS_MAX,
  SEGMENT_FILES,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_NAME_RE,
  SEGMENT_SERIES_MAX,
  TMP_SUFFIX,
} from './format.js';
import type { SegmentCompression } from './codecs.js';
import { TIMESTAMP_ABS_MAX_MS } from './encoding/timestamps.js';

export interface SegmentFileMeta {
  bytes: number;
  crc32: number;
}

/** Fields of both kinds of segment. */
interface SegmentMetaCommon {
  formatVersion: 1;
  name: string;
  tenant: string;
  partitionStartMs: number;
  partitionEndMs: number;
  /**
   * Inclusive bounds of the samples held (stale markers included). For a level segment maxTMs is
   * exact and minTMs may be lower than the first sample (see docs/format/level.md).
   */
  minTMs: number;
  maxTMs: number;
  seriesCount: number;
  /** Raw: samples stored (stale markers included). Level: non-stale samples summarised (sum of bucket counts). */
  sampleCount: number;
  /** Sum of the bytes of all files, meta.json excluded. */
  bytes: number;
  files: Record<string, SegmentFileMeta>;
  /** Arrow IPC body compression used by the .arrow files. */
  compression: SegmentCompression;
  /** Rows of postings.arrow (distinct label pairs). */
  labelPairCount: number;
}

/** A raw segment: series.arrow, samples.arrow, postings.arrow. */
export interface RawSegmentMeta extends SegmentMetaCommon {
  level: 'raw';
  chunkCount: number;
  /** Rows (chunks) of each record batch of samples.arrow, in order; batches start at series boundaries. */
  samplesBatchRows: number[];
}

/** A rollup level segment: series.arrow, buckets.arrow, postings.arrow. */
export interface LevelSegmentMeta extends SegmentMetaCommon {
  /** The level's name ("5m", "1h", "1d"): its width in canonical duration syntax. */
  level: string;
  widthMs: number;
  /** Names of the raw segments whose samples the buckets summarise. */
  sources: string[];
  /** Buckets of all series. */
  bucketCount: number;
  /** Rows of buckets.arrow (blocks: runs of one series' buckets). */
  blockCount: number;
  /** Rows (blocks) of each record batch of buckets.arrow, in order; batches start at series boundaries. */
  bucketsBatchRows: number[];
}

export type SegmentMeta = RawSegmentMeta | LevelSegmentMeta;

export function isLevelSegmentMeta(m: { level: string }): m is LevelSegmentMeta {
  return m.level !== RAW_LEVEL;
}

/** Whether s is the canonical name of a rollup level width (>= 1m): "5m" yes, "60m", "raw", "5x" no. */
export function isLevelName(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const w = parseSimpleDurationMs(s);
  return w !== undefined && w >= LEVEL_WIDTH_MIN_MS && levelNameOf(w) === s;
}

/** A segment name a manifest or a level's sources may hold: safe as a directory name. */
export function isSegmentName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 255 && SEGMENT_NAME_RE.test(s) && s !== '.' && s !== '..' && !s.endsWith(TMP_SUFFIX);
}

/**
 * A level's sources: 1..LEVEL_SOURCES_MAX distinct segment names. `bad` builds the error
 * (meta.json and manifest.json report differently).
 */
export function checkLevelSources(v: unknown, bad: (msg: string) => Error, where = ''): string[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > LEVEL_SOURCES_MAX) throw bad(`${where}sources must be an array of 1..${LEVEL_SOURCES_MAX} segment names`);
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const s = v[i] as unknown;
    if (!isSegmentName(s)) throw bad(`${where}sources[${i}] is not a segment name: ${JSON.stringify(s)}`);
    if (seen.has(s)) throw bad(`${where}sources[${i}] repeats ${JSON.stringify(s)}`);
    seen.add(s);
  }
  return [...(v as string[])];
}

function corrupt(msg: string, file = META_FILE): MochaError {
  return new MochaError('SEGMENT_CORRUPT', msg, { file });
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw corrupt(`meta.json: ${key} must be an integer; got ${JSON.stringify(v)}`);
  if (v < min) throw corrupt(`meta.json: too small ${key}; got ${v}; cannot be below ${min}`);
  if (v > max) throw corrupt(`meta.json: too big ${key}; got ${v}; cannot exceed ${max}`);
  return v;
}

/** Parses and validates meta.json text; throws SEGMENT_CORRUPT naming the field. */
export function parseSegmentMeta(text: string, expectedName?: string): SegmentMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw corrupt(`meta.json is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt('meta.json must hold an object');
  const o = raw as Record<string, unknown>;
  if (o.formatVersion !== SEGMENT_FORMAT_VERSION) throw corrupt(`meta.json: unsupported formatVersion ${JSON.stringify(o.formatVersion)}; this build reads ${SEGMENT_FORMAT_VERSION}`);
  if (typeof o.name !== 'string' || o.name === '') throw corrupt('meta.json: name must be a non-empty string');
  if (expectedName !== undefined && o.name !== expectedName) throw corrupt(`meta.json: name ${JSON.stringify(o.name)} does not match the directory ${JSON.stringify(expectedName)}`);
  if (typeof o.tenant !== 'string' || !isValidTenantId(o.tenant)) throw corrupt(`meta.json: invalid tenant ${JSON.stringify(o.tenant)}`);
  const level = o.level;
  if (level !== RAW_LEVEL && !isLevelName(level)) throw corrupt(`meta.json: unknown level ${JSON.stringify(level)}`);
  if (o.compression !== 'zstd' && o.compression !== 'lz4' && o.compression !== 'none') throw corrupt(`meta.json: unknown compression ${JSON.stringify(o.compression)}`);
  const isLevel = level !== RAW_LEVEL;
  for (const k of isLevel ? ['chunkCount', 'samplesBatchRows'] : ['widthMs', 'sources', 'bucketCount', 'blockCount', 'bucketsBatchRows']) {
    if (k in o) throw corrupt(`meta.json: ${k} is not a field of a ${isLevel ? 'level' : 'raw'} segment`);
  }
  const T = TIMESTAMP_ABS_MAX_MS;
  const partitionStartMs = int(o, 'partitionStartMs', -T, T);
  const partitionEndMs = int(o, 'partitionEndMs', partitionStartMs + 1, T + 1);
  const minTMs = int(o, 'minTMs', partitionStartMs, partitionEndMs - 1);
  const maxTMs = int(o, 'maxTMs', minTMs, partitionEndMs - 1);
  const seriesCount = int(o, 'seriesCount', 1, SEGMENT_SERIES_MAX);
  const labelPairCount = int(o, 'labelPairCount', 0, Number.MAX_SAFE_INTEGER);
  const bytes = int(o, 'bytes', 0, Number.MAX_SAFE_INTEGER);
  if (typeof o.files !== 'object' || o.files === null || Array.isArray(o.files)) throw corrupt('meta.json: files must be an object');
  const files: Record<string, SegmentFileMeta> = {};
  let sum = 0;
  const fileNames: readonly string[] = isLevel ? LEVEL_SEGMENT_FILES : SEGMENT_FILES;
  for (const f of Object.keys(o.files)) if (!fileNames.includes(f)) throw corrupt(`meta.json: files.${f} is not a file of a ${isLevel ? 'level' : 'raw'} segment`);
  for (const f of fileNames) {
    const e = (o.files as Record<string, unknown>)[f];
    if (typeof e !== 'object' || e === null) throw corrupt(`meta.json: files.${f} is missing`);
    const fe = e as Record<string, unknown>;
    files[f] = { bytes: int(fe, 'bytes', 1, Number.MAX_SAFE_INTEGER), crc32: int(fe, 'crc32', 0, 0xffffffff) };
    sum += files[f].bytes;
  }
  if (sum !== bytes) throw corrupt(`meta.json: bytes ${bytes} is not the sum of the file sizes ${sum}`);
  const common = { formatVersion: SEGMENT_FORMAT_VERSION, name: o.name, tenant: o.tenant, partitionStartMs, partitionEndMs, minTMs, maxTMs, seriesCount } as const;
  if (isLevel) {
    const widthMs = int(o, 'widthMs', LEVEL_WIDTH_MIN_MS, T);
    if (levelNameOf(widthMs) !== level) throw corrupt(`meta.json: widthMs ${widthMs} is not the width of level ${JSON.stringify(level)}`);
    const sources = checkLevelSources(o.sources, (m) => corrupt(`meta.json: ${m}`));
    // Every bucket ends in [partitionStartMs, partitionEndMs - 1 + widthMs] (one ending exactly at
    // the start holds a sample at exactly partitionStartMs): at most this many per series.
    const bucketsPerSeriesMax = Math.floor((partitionEndMs - 1 + widthMs) / widthMs) - Math.ceil(partitionStartMs / widthMs) + 1;
    const bucketCount = int(o, 'bucketCount', seriesCount, seriesCount * bucketsPerSeriesMax);
    const blockCount = int(o, 'blockCount', seriesCount, bucketCount);
    const sampleCount = int(o, 'sampleCount', 0, Math.min(Number.MAX_SAFE_INTEGER, bucketCount * 0xffffffff));
    const bucketsBatchRows = batchRows(o, 'bucketsBatchRows', blockCount, 'blockCount');
    if (bucketCount > blockCount * LEVEL_BLOCK_BUCKETS_LIMIT) throw corrupt(`meta.json: too big bucketCount; got ${bucketCount}; cannot exceed ${blockCount * LEVEL_BLOCK_BUCKETS_LIMIT} for ${blockCount} blocks`);
    return { ...common, level, sampleCount, bytes, files, compression: o.compression, labelPairCount, widthMs, sources, bucketCount, blockCount, bucketsBatchRows };
  }
  const chunkCount = int(o, 'chunkCount', seriesCount, SEGMENT_CHUNKS_MAX);
  const sampleCount = int(o, 'sampleCount', chunkCount, chunkCount * CHUNK_SAMPLES_LIMIT);
  const samplesBatchRows = batchRows(o, 'samplesBatchRows', chunkCount, 'chunkCount');
  return { ...common, level: 'raw', sampleCount, chunkCount, bytes, files, compression: o.compression, samplesBatchRows, labelPairCount };
}

/** Row counts of each record batch of a file: 1..total entries of 1..total rows, adding up to total. */
function batchRows(o: Record<string, unknown>, key: string, total: number, totalName: string): number[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length < 1 || v.length > total) throw corrupt(`meta.json: ${key} must be an array of 1..${total} row counts`);
  let rows = 0;
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const r = v[i] as unknown;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > total) throw corrupt(`meta.json: ${key}[${i}] must be an integer in 1..${total}; got ${JSON.stringify(r)}`);
    rows += r;
    out.push(r);
  }
  if (rows !== total) throw corrupt(`meta.json: ${key} add up to ${rows}, not ${totalName} ${total}`);
  return out;
}
