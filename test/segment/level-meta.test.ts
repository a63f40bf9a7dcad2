// meta.json and manifest.json of level segments: every new field validated (parse tables), and
// raw metas and manifests as written before levels existed still parse.
import { describe, expect, test } from 'vitest';
import { isMochaError } from '../../src/errors.js';
import { emptyManifest, isLevelManifestSegment, manifestEntryOf, parseManifest } from '../../src/segment/manifest.js';
import { isLevelName, isLevelSegmentMeta, parseSegmentMeta, type LevelSegmentMeta } from '../../src/segment/meta.js';
import { segmentName } from '../../src/segment/format.js';

const P0 = 1_699_999_200_000;
const P1 = P0 + 7_200_000;

// A raw meta.json exactly as the version-1 writer wrote it before level segments existed.
const RAW_META_V1 = `{
  "formatVersion": 1,
  "name": "raw-1699999200000-00000007",
  "tenant": "default",
  "level": "raw",
  "partitionStartMs": 1699999200000,
  "partitionEndMs": 1700006400000,
  "minTMs": 1699999201234,
  "maxTMs": 1700006399000,
  "seriesCount": 2,
  "sampleCount": 960,
  "chunkCount": 2,
  "bytes": 600,
  "files": { "series.arrow": { "bytes": 100, "crc32": 1 }, "samples.arrow": { "bytes": 400, "crc32": 2 }, "postings.arrow": { "bytes": 100, "crc32": 3 } },
  "compression": "zstd",
  "samplesBatchRows": [2],
  "labelPairCount": 4
}`;

const RAW_MANIFEST_V1 = `{"formatVersion":1,"walCoveredThroughSegment":12,"nextSegmentSeq":8,"segments":[
 {"tenant":"default","name":"raw-1699999200000-00000007","level":"raw","partitionStartMs":1699999200000,"partitionEndMs":1700006400000,
  "minTMs":1699999201234,"maxTMs":1700006399000,"seriesCount":2,"sampleCount":960,"bytes":600}]}`;

function levelMeta(): LevelSegmentMeta {
  return {
    formatVersion: 1,
    name: segmentName('5m', P0, 9),
    tenant: 'default',
    level: '5m',
    widthMs: 300_000,
    partitionStartMs: P0,
    partitionEndMs: P1,
    minTMs: P0 + 1,
    maxTMs: P1 - 1,
    seriesCount: 2,
    sampleCount: 960,
    bucketCount: 48,
    blockCount: 2,
    bytes: 600,
    files: { 'series.arrow': { bytes: 100, crc32: 1 }, 'buckets.arrow': { bytes: 400, crc32: 2 }, 'postings.arrow': { bytes: 100, crc32: 3 } },
    compression: 'zstd',
    bucketsBatchRows: [2],
    labelPairCount: 4,
    sources: ['raw-1699999200000-00000003', 'raw-1699999200000-00000007'],
  };
}

function corruptWith(text: string, re: RegExp): void {
  let err: unknown;
  try {
    parseSegmentMeta(text);
  } catch (e) {
    err = e;
  }
  expect(isMochaError(err) && err.code === 'SEGMENT_CORRUPT', `${text.slice(0, 200)} -> ${String(err)}`).toBe(true);
  expect((err as Error).message).toMatch(re);
}

describe('level names', () => {
  test.each([
    ['5m', true],
    ['1h', true],
    ['1d', true],
    ['90s', true],
    ['2y', true],
    ['60m', false], // not canonical: 1h
    ['30s', false], // finer than 1m
    ['raw', false],
    ['5x', false],
    ['', false],
    [5, false],
  ])('%s -> %s', (s, ok) => expect(isLevelName(s)).toBe(ok));
});

describe('meta.json', () => {
  test('a version-1 raw meta still parses, as raw', () => {
    const m = parseSegmentMeta(RAW_META_V1, 'raw-1699999200000-00000007');
    expect(isLevelSegmentMeta(m)).toBe(false);
    expect(m.level).toBe('raw');
  });

  test('a level meta parses and round-trips', () => {
    const m = levelMeta();
    const got = parseSegmentMeta(JSON.stringify(m), m.name);
    expect(got).toEqual(m);
    expect(isLevelSegmentMeta(got)).toBe(true);
  });

  const mutations: Array<[string, (m: Record<string, unknown>) => void, RegExp]> = [
    ['unknown level', (m) => (m.level = '5x'), /unknown level/],
    ['non-canonical level', (m) => (m.level = '300s'), /unknown level/],
    ['widthMs of another level', (m) => (m.widthMs = 3_600_000), /not the width of level/],
    ['widthMs missing', (m) => delete m.widthMs, /widthMs must be an integer/],
    ['widthMs fractional', (m) => (m.widthMs = 300_000.5), /widthMs must be an integer/],
    ['widthMs below 1m', (m) => ((m.widthMs = 30_000), (m.level = '30s')), /unknown level|too small widthMs/],
    ['sources missing', (m) => delete m.sources, /sources must be an array/],
    ['sources empty', (m) => (m.sources = []), /sources must be an array/],
    ['sources not strings', (m) => (m.sources = [7]), /sources\[0\] is not a segment name/],
    ['sources with a path', (m) => (m.sources = ['../etc']), /sources\[0\] is not a segment name/],
    ['sources with a tmp name', (m) => (m.sources = ['raw-1-00000001.tmp']), /sources\[0\] is not a segment name/],
    ['sources repeated', (m) => (m.sources = ['a', 'b', 'a']), /sources\[2\] repeats/],
    ['bucketCount below seriesCount', (m) => (m.bucketCount = 1), /too small bucketCount/],
    ['bucketCount beyond what the partition holds', (m) => (m.bucketCount = 2 * 26), /too big bucketCount/],
    ['bucketCount a string', (m) => (m.bucketCount = '48'), /bucketCount must be an integer/],
    ['blockCount above bucketCount', (m) => (m.blockCount = 49), /too big blockCount/],
    ['blockCount below seriesCount', (m) => (m.blockCount = 1), /too small blockCount/],
    ['bucketsBatchRows not adding up', (m) => (m.bucketsBatchRows = [1]), /add up to 1, not blockCount 2/],
    ['bucketsBatchRows missing', (m) => delete m.bucketsBatchRows, /bucketsBatchRows must be an array/],
    ['bucketsBatchRows with a zero', (m) => (m.bucketsBatchRows = [0, 2]), /bucketsBatchRows\[0\]/],
    ['sampleCount negative', (m) => (m.sampleCount = -1), /too small sampleCount/],
    ['raw-only field chunkCount', (m) => (m.chunkCount = 2), /chunkCount is not a field of a level segment/],
    ['raw-only field samplesBatchRows', (m) => (m.samplesBatchRows = [2]), /samplesBatchRows is not a field of a level segment/],
    ['samples.arrow instead of buckets.arrow', (m) => {
      const f = m.files as Record<string, unknown>;
      f['samples.arrow'] = f['buckets.arrow'];
      delete f['buckets.arrow'];
    }, /files.samples.arrow is not a file of a level segment/],
    ['buckets.arrow missing', (m) => delete (m.files as Record<string, unknown>)['buckets.arrow'], /files.buckets.arrow is missing/],
    ['maxTMs at partitionEndMs', (m) => (m.maxTMs = P1), /too big maxTMs/],
    ['minTMs before the partition', (m) => (m.minTMs = P0 - 1), /too small minTMs/],
    ['bytes not the sum', (m) => (m.bytes = 601), /not the sum of the file sizes/],
  ];
  test.each(mutations)('%s -> SEGMENT_CORRUPT', (_what, mutate, re) => {
    const m = levelMeta() as unknown as Record<string, unknown>;
    mutate(m);
    corruptWith(JSON.stringify(m), re);
  });

  test.each([
    ['widthMs on a raw segment', 'widthMs', 300_000],
    ['sources on a raw segment', 'sources', ['raw-1-00000001']],
    ['bucketCount on a raw segment', 'bucketCount', 3],
  ])('%s -> SEGMENT_CORRUPT', (_what, key, value) => {
    const m = JSON.parse(RAW_META_V1) as Record<string, unknown>;
    m[key] = value;
    corruptWith(JSON.stringify(m), new RegExp(`${key} is not a field of a raw segment`));
  });
});

describe('manifest.json', () => {
  test('a version-1 manifest of raw segments still parses', () => {
    const m = parseManifest(RAW_MANIFEST_V1);
    expect(m.segments).toHaveLength(1);
    expect(isLevelManifestSegment(m.segments[0]!)).toBe(false);
  });

  test('level entries carry level, widthMs, sources and bucketCount, and round-trip', () => {
    const entry = manifestEntryOf(levelMeta());
    expect(entry).toMatchObject({ level: '5m', widthMs: 300_000, bucketCount: 48, sources: levelMeta().sources, sampleCount: 960 });
    const m = { ...emptyManifest(), nextSegmentSeq: 10, segments: [JSON.parse(RAW_MANIFEST_V1).segments[0], entry] };
    const got = parseManifest(JSON.stringify(m));
    expect(got).toEqual(m);
    expect(isLevelManifestSegment(got.segments[1]!)).toBe(true);
  });

  const bad: Array<[string, (e: Record<string, unknown>) => void, RegExp]> = [
    ['unknown level', (e) => (e.level = 'fine'), /level is unknown/],
    ['widthMs of another level', (e) => (e.widthMs = 60_000), /not the width of level/],
    ['widthMs missing', (e) => delete e.widthMs, /widthMs must be an integer/],
    ['sources missing', (e) => delete e.sources, /sources must be an array/],
    ['sources repeated', (e) => (e.sources = ['x', 'x']), /repeats/],
    ['sources with a path', (e) => (e.sources = ['a/b']), /not a segment name/],
    ['bucketCount below seriesCount', (e) => (e.bucketCount = 1), /too small bucketCount/],
    ['bucketCount missing', (e) => delete e.bucketCount, /bucketCount must be an integer/],
  ];
  test.each(bad)('%s -> SEGMENT_CORRUPT', (_what, mutate, re) => {
    const e = manifestEntryOf(levelMeta()) as unknown as Record<string, unknown>;
    mutate(e);
    const text = JSON.stringify({ ...emptyManifest(), segments: [e] });
    let err: unknown;
    try {
      parseManifest(text);
    } catch (x) {
      err = x;
    }
    expect(isMochaError(err) && err.code === 'SEGMENT_CORRUPT' && err.where?.file === 'manifest.json').toBe(true);
    expect((err as Error).message).toMatch(re);
  });

  test('level fields on a raw entry are refused', () => {
    const e = { ...JSON.parse(RAW_MANIFEST_V1).segments[0], widthMs: 300_000 };
    expect(() => parseManifest(JSON.stringify({ ...emptyManifest(), segments: [e] }))).toThrow(/widthMs is not a field of a raw segment/);
  });
});
