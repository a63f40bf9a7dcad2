// The streaming level writer (LevelSegmentStreamWriter): a day of series appended one at a time
// gives the same bytes as the one-shot build, readable bit-exactly, while holding about one record
// batch (counted: its held bytes stay near the batch target while the file grows far beyond);
// misuse (out of order, after finish) throws; abort leaves nothing behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { compareLabels } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { BUCKETS_FILE, LEVEL_BLOCK_BUCKETS_MAX, POSTINGS_FILE, SERIES_FILE } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { buildLevelSegmentFiles, LevelSegmentStreamWriter } from '../../src/segment/level-writer.js';
import { mulberry32 } from '../helpers/prng.js';
import { bucketsDiff, genLevelSeries } from './level-helpers.js';

registerArrowCodecs();
const DAY = 24 * 3_600_000;
const D0 = Math.floor(1_700_000_000_000 / DAY) * DAY;
const L5M = { name: '5m', widthMs: 300_000 };
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-level-stream-'));
  roots.push(d);
  return d;
}

describe('LevelSegmentStreamWriter', () => {
  for (const compression of ['zstd', 'lz4', 'none'] as const) {
    test(`${compression}: a day streamed in many batches equals the one-shot build byte for byte, and reads back bit-exactly`, async () => {
      const series = genLevelSeries(60, D0, D0 + DAY, 60_000, L5M.widthMs, mulberry32(11)).sort((a, b) => compareLabels(a.labels, b.labels));
      const header = { tenant: 't', level: L5M, partitionStartMs: D0, partitionEndMs: D0 + DAY, sources: ['raw-1-00000001', 'raw-2-00000002'] };
      const dir = tmp();
      const target = 4096;
      const w = await LevelSegmentStreamWriter.create(dir, '5m-x-00000003', header, { compression, batchBytesTarget: target });
      for (const s of series) w.add(s.labels, s.buckets);
      // Before finish, most of buckets.arrow is on disk already.
      const onDisk = fs.statSync(path.join(dir, '5m-x-00000003.tmp', BUCKETS_FILE)).size;
      expect(w.batchesWritten).toBeGreaterThan(5);
      expect(onDisk).toBeGreaterThan(0);
      const meta = await w.finish();
      expect(meta.bucketsBatchRows.length).toBe(w.batchesWritten);
      // Held at most about one batch: the target plus one series' blocks, plus Arrow framing.
      expect(w.heldBytesMax).toBeLessThan(target + 16_384);
      expect(meta.files[BUCKETS_FILE]!.bytes).toBeGreaterThan(4 * w.heldBytesMax);
      // The one-shot build (arrowFileBytes over all batches at once) writes the same files.
      const oneShot = buildLevelSegmentFiles('5m-x-00000003', { ...header, series }, compression, LEVEL_BLOCK_BUCKETS_MAX, target);
      expect(oneShot.meta).toEqual(meta);
      const final = path.join(dir, '5m-x-00000003');
      for (const [f, bytes] of oneShot.files) expect(Buffer.compare(fs.readFileSync(path.join(final, f)), Buffer.from(bytes)), f).toBe(0);
      expect(fs.readdirSync(final).sort()).toEqual([BUCKETS_FILE, 'meta.json', POSTINGS_FILE, SERIES_FILE].sort());
      const r = await LevelSegmentReader.open(final);
      try {
        const got = await r.selectBuckets([newMatcher('=~', '__name__', '.+')], D0 - DAY, D0 + 2 * DAY);
        expect(got.length).toBe(series.length);
        for (let i = 0; i < got.length; i++) expect(bucketsDiff(got[i]!.buckets, series[i]!.buckets)).toBeUndefined();
      } finally {
        r.close();
      }
    });
  }

  test('refuses series out of label order and use after finish; abort removes the directory; no series: no segment', async () => {
    const series = genLevelSeries(3, D0, D0 + DAY, 60_000, L5M.widthMs, mulberry32(3)).sort((a, b) => compareLabels(a.labels, b.labels));
    const header = { tenant: 't', level: L5M, partitionStartMs: D0, partitionEndMs: D0 + DAY, sources: ['raw-1-00000001'] };
    const dir = tmp();
    const w = await LevelSegmentStreamWriter.create(dir, '5m-y-00000001', header);
    w.add(series[1]!.labels, series[1]!.buckets);
    expect(() => w.add(series[0]!.labels, series[0]!.buckets)).toThrow(/out of label order/);
    expect(() => w.add(series[1]!.labels, series[1]!.buckets)).toThrow(/duplicate/);
    await w.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    const empty = await LevelSegmentStreamWriter.create(dir, '5m-y-00000002', header);
    await expect(empty.finish()).rejects.toThrow(/at least one bucket/);
    await empty.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    const done = await LevelSegmentStreamWriter.create(dir, '5m-y-00000003', header);
    done.add(series[0]!.labels, series[0]!.buckets);
    await done.finish();
    expect(() => done.add(series[2]!.labels, series[2]!.buckets)).toThrow(/after finish/);
    expect(fs.readdirSync(dir)).toEqual(['5m-y-00000003']);
  });
});
