// meta.json of a segment: what it covers, its counts, and the size and CRC-32 of each file, so
// the reader can check everything it reads. parseSegmentMeta() bounds-checks every field.
import { MochaError } from '../errors.js';
import { isValidTenantId } from '../model/write.js';
import {
  CHUNK_SAMPLES_LIMIT,
  META_FILE,
  SEGMENT_CHUNKS_MAX,
  SEGMENT_FILES,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_SERIES_MAX,
  type SegmentLevel,
} from './format.js';
import type { SegmentCompression } from './codecs.js';
import { TIMESTAMP_ABS_MAX_MS } from './encoding/timestamps.js';

export interface SegmentFileMeta {
  bytes: number;
  crc32: number;
}

export interface SegmentMeta {
  formatVersion: 1;
  name: string;
  tenant: string;
  level: SegmentLevel;
  partitionStartMs: number;
  partitionEndMs: number;
  /** Inclusive bounds of the samples held. */
  minTMs: number;
  maxTMs: number;
  seriesCount: number;
  sampleCount: number;
  chunkCount: number;
  /** Sum of the bytes of all files, meta.json excluded. */
  bytes: number;
  files: Record<string, SegmentFileMeta>;
  /** Arrow IPC body compression used by the .arrow files. */
  compression: SegmentCompression;
  /** Rows (chunks) of each record batch of samples.arrow, in order; batches start at series boundaries. */
  samplesBatchRows: number[];
  /** Rows of postings.arrow (distinct label pairs). */
  labelPairCount: number;
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
  if (o.level !== 'raw') throw corrupt(`meta.json: unknown level ${JSON.stringify(o.level)}`);
  if (o.compression !== 'zstd' && o.compression !== 'lz4' && o.compression !== 'none') throw corrupt(`meta.json: unknown compression ${JSON.stringify(o.compression)}`);
  const T = TIMESTAMP_ABS_MAX_MS;
  const partitionStartMs = int(o, 'partitionStartMs', -T, T);
  const partitionEndMs = int(o, 'partitionEndMs', partitionStartMs + 1, T + 1);
  const minTMs = int(o, 'minTMs', partitionStartMs, partitionEndMs - 1);
  const maxTMs = int(o, 'maxTMs', minTMs, partitionEndMs - 1);
  const seriesCount = int(o, 'seriesCount', 1, SEGMENT_SERIES_MAX);
  const chunkCount = int(o, 'chunkCount', seriesCount, SEGMENT_CHUNKS_MAX);
  const sampleCount = int(o, 'sampleCount', chunkCount, chunkCount * CHUNK_SAMPLES_LIMIT);
  const labelPairCount = int(o, 'labelPairCount', 0, Number.MAX_SAFE_INTEGER);
  const bytes = int(o, 'bytes', 0, Number.MAX_SAFE_INTEGER);
  if (typeof o.files !== 'object' || o.files === null) throw corrupt('meta.json: files must be an object');
  const files: Record<string, SegmentFileMeta> = {};
  let sum = 0;
  for (const f of SEGMENT_FILES) {
    const e = (o.files as Record<string, unknown>)[f];
    if (typeof e !== 'object' || e === null) throw corrupt(`meta.json: files.${f} is missing`);
    const fe = e as Record<string, unknown>;
    files[f] = { bytes: int(fe, 'bytes', 1, Number.MAX_SAFE_INTEGER), crc32: int(fe, 'crc32', 0, 0xffffffff) };
    sum += files[f].bytes;
  }
  if (sum !== bytes) throw corrupt(`meta.json: bytes ${bytes} is not the sum of the file sizes ${sum}`);
  if (!Array.isArray(o.samplesBatchRows) || o.samplesBatchRows.length < 1 || o.samplesBatchRows.length > chunkCount) {
    throw corrupt(`meta.json: samplesBatchRows must be an array of 1..${chunkCount} row counts`);
  }
  let rows = 0;
  const samplesBatchRows: number[] = [];
  for (let i = 0; i < o.samplesBatchRows.length; i++) {
    const r = o.samplesBatchRows[i] as unknown;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > chunkCount) throw corrupt(`meta.json: samplesBatchRows[${i}] must be an integer in 1..${chunkCount}; got ${JSON.stringify(r)}`);
    rows += r;
    samplesBatchRows.push(r);
  }
  if (rows !== chunkCount) throw corrupt(`meta.json: samplesBatchRows add up to ${rows}, not chunkCount ${chunkCount}`);
  return {
    formatVersion: SEGMENT_FORMAT_VERSION,
    name: o.name,
    tenant: o.tenant,
    level: 'raw',
    partitionStartMs,
    partitionEndMs,
    minTMs,
    maxTMs,
    seriesCount,
    sampleCount,
    chunkCount,
    bytes,
    files,
    compression: o.compression,
    samplesBatchRows,
    labelPairCount,
  };
}
