import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { RoaringBitmap32 } from 'roaring';
import { writeSegment, type RawSegmentMeta } from '../../src/segment/writer.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { ByteSource, decodeTimestamps, decodeValues } from '../../src/segment/encoding/index.js';
import { newMatcher, type Matcher } from '../../src/model/matchers.js';
import { getLabel, labelsKey } from '../../src/model/labels.js';
import { isMochaError } from '../../src/errors.js';
import { PARTITION_MS } from '../../src/constants.js';
import { genSeries, sameBits, type GenSeries } from './helpers.js';

const P0 = Math.floor(1_700_000_000_000 / PARTITION_MS) * PARTITION_MS;
const P1 = P0 + PARTITION_MS;

let root: string;
let series: GenSeries[];
let meta: RawSegmentMeta;
let dir: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-seg-'));
  series = genSeries(300, 42, P0, P1);
  meta = await writeSegment(path.join(root, 'segments'), 'raw-test-00000001', { tenant: 't1', level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series });
  dir = path.join(root, 'segments', 'raw-test-00000001');
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function expected(matchers: Matcher[], minT: number, maxT: number): Map<string, { ts: Float64Array; vs: Float64Array }> {
  const out = new Map<string, { ts: Float64Array; vs: Float64Array }>();
  for (const s of series) {
    if (!matchers.every((m) => m.matches(getLabel(s.labels, m.name)))) continue;
    let lo = 0;
    while (lo < s.timestampsMs.length && s.timestampsMs[lo]! < minT) lo++;
    let hi = s.timestampsMs.length;
    while (hi > lo && s.timestampsMs[hi - 1]! > maxT) hi--;
    if (hi > lo) out.set(labelsKey(s.labels), { ts: s.timestampsMs.slice(lo, hi), vs: s.values.slice(lo, hi) });
  }
  return out;
}

describe('segment round trip', () => {
  test('meta describes what was written', () => {
    expect(meta.seriesCount).toBe(300);
    expect(meta.sampleCount).toBe(series.reduce((a, s) => a + s.timestampsMs.length, 0));
    expect(meta.minTMs).toBe(Math.min(...series.map((s) => s.timestampsMs[0]!)));
    expect(meta.maxTMs).toBe(Math.max(...series.map((s) => s.timestampsMs[s.timestampsMs.length - 1]!)));
    expect(meta.compression).toBe('zstd');
    expect(Object.keys(meta.files).sort()).toEqual(['postings.arrow', 'samples.arrow', 'series.arrow']);
  });

  const cases: Array<[string, Matcher[], number, number]> = [
    ['all, full range', [], -Infinity, Infinity],
    ['= name', [newMatcher('=', '__name__', 'metric_special')], P0, P1],
    ['!= and =~', [newMatcher('!=', 'job', 'node'), newMatcher('=~', '__name__', 'metric_(walk|decimal|stale-end)')], P0, P1],
    ['!~ with a trimmed range', [newMatcher('!~', 'instance', 'host-[0-3]')], P0 + 600_000, P0 + 2_400_000],
    ['matcher matching empty selects series without the label', [newMatcher('=~', 'zone', 'z1|'), newMatcher('=', 'job', 'app')], P0, P1],
    ['!= on a missing label selects everything', [newMatcher('!=', 'nope', 'x')], P0 + 1, P0 + 5_000_000],
    ['no match', [newMatcher('=', '__name__', 'absent')], P0, P1],
    ['narrow range inside one chunk', [newMatcher('=~', '__name__', '.+')], P0 + 3_000_000, P0 + 3_030_000],
  ];
  for (const [name, matchers, minT, maxT] of cases) {
    test(`select: ${name}`, async () => {
      const r = await SegmentReader.open(dir);
      try {
        const got = await r.select(matchers, minT, maxT, true);
        const want = expected(matchers, minT, maxT);
        expect(got.map((s) => s.key).sort()).toEqual([...want.keys()].sort());
        for (const s of got) {
          const w = want.get(s.key)!;
          expect(s.key).toBe(labelsKey(s.labels));
          expect(Array.from(s.timestampsMs)).toEqual(Array.from(w.ts));
          expect(sameBits(s.values, w.vs)).toBe(true);
        }
        const labelsOnly = await r.select(matchers, minT, maxT, false);
        expect(labelsOnly.length).toBeGreaterThanOrEqual(got.length);
        for (const s of labelsOnly) expect(s.timestampsMs.length).toBe(0);
      } finally {
        r.close();
      }
    });
  }

  test('a range outside the segment selects nothing; results are in label order', async () => {
    const r = await SegmentReader.open(dir);
    expect(await r.select([], P1 + 1, P1 + 1000, true)).toEqual([]);
    const all = await r.select([], -Infinity, Infinity, true);
    expect(all.length).toBe(300);
    r.close();
  });

  test('lz4 and uncompressed segments read the same', async () => {
    for (const compression of ['lz4', 'none'] as const) {
      const m = await writeSegment(path.join(root, 'segments'), `raw-${compression}-00000001`, { tenant: 't1', level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series }, { compression });
      const r = await SegmentReader.open(path.join(root, 'segments', m.name));
      const got = await r.select([newMatcher('=', 'job', 'node')], -Infinity, Infinity, true);
      const want = expected([newMatcher('=', 'job', 'node')], -Infinity, Infinity);
      expect(got.length).toBe(want.size);
      for (const s of got) expect(sameBits(s.values, want.get(s.key)!.vs)).toBe(true);
      r.close();
    }
  });
});

describe('open format: plain apache-arrow reads every file', () => {
  test('series.arrow, postings.arrow and samples.arrow decode with tableFromIPC and the documented decoders', async () => {
    registerArrowCodecs(); // codecs only; none of the reader code
    const sorted = [...series].sort((a, b) => (labelsKey(a.labels) < labelsKey(b.labels) ? -1 : 1));
    const st = tableFromIPC(await fs.readFile(path.join(dir, 'series.arrow')));
    expect(st.numRows).toBe(300);
    const samples = tableFromIPC(await fs.readFile(path.join(dir, 'samples.arrow')));
    expect(samples.numRows).toBe(meta.chunkCount);
    const byKey = new Map(series.map((s) => [labelsKey(s.labels), s]));
    let chunkRows = 0;
    for (let i = 0; i < st.numRows; i++) {
      const row = st.get(i)!;
      const labelsMap = row.labels.toJSON() as Record<string, string>;
      const labels = Object.entries(labelsMap).map(([name, value]) => ({ name, value }));
      const key = labelsKey(labels);
      const s = byKey.get(key)!;
      expect(s).toBeDefined();
      expect(row.series_ref).toBe(i);
      expect(row.metric_name).toBe(labelsMap.__name__);
      expect(Number(row.min_time_ms)).toBe(s.timestampsMs[0]);
      expect(Number(row.max_time_ms)).toBe(s.timestampsMs[s.timestampsMs.length - 1]);
      expect(row.sample_count).toBe(s.timestampsMs.length);
      expect(row.first_chunk_row).toBe(chunkRows);
      // Decode this series' chunks from samples.arrow with the documented decoders.
      const ts = new Float64Array(row.sample_count);
      const vs = new Float64Array(row.sample_count);
      let at = 0;
      for (let c = row.first_chunk_row; c < row.first_chunk_row + row.chunk_count; c++) {
        const ch = samples.get(c)!;
        expect(ch.series_ref).toBe(i);
        const n1 = decodeTimestamps(new ByteSource(ch.timestamps), ts, at, ch.sample_count);
        const n2 = decodeValues(new ByteSource(ch.values), vs, at, ch.sample_count);
        expect(n1).toBe(ch.sample_count);
        expect(n2).toBe(ch.sample_count);
        expect(ts[at]).toBe(Number(ch.min_time_ms));
        expect(ts[at + n1 - 1]).toBe(Number(ch.max_time_ms));
        at += n1;
      }
      expect(Array.from(ts)).toEqual(Array.from(s.timestampsMs));
      expect(sameBits(vs, s.values)).toBe(true);
      chunkRows += row.chunk_count;
      expect(sorted[i]).toBe(s); // rows are in label order
    }
    const pt = tableFromIPC(await fs.readFile(path.join(dir, 'postings.arrow')));
    expect(pt.numRows).toBe(meta.labelPairCount);
    for (let i = 0; i < pt.numRows; i++) {
      const row = pt.get(i)!;
      const bm = RoaringBitmap32.deserialize(row.bitmap as Uint8Array, true);
      expect(bm.size).toBe(row.series_count);
      for (const ref of bm) expect(getLabel(Object.entries(st.get(ref)!.labels.toJSON() as Record<string, string>).map(([name, value]) => ({ name, value })), row.name)).toBe(row.value);
    }
  });
});

describe('corruption is a typed error naming the file', () => {
  async function copyDir(name: string): Promise<string> {
    const d = path.join(root, 'corrupt', name, 'raw-test-00000001');
    await fs.mkdir(d, { recursive: true });
    for (const f of await fs.readdir(dir)) await fs.copyFile(path.join(dir, f), path.join(d, f));
    return d;
  }

  async function expectCorrupt(d: string, file: string, message?: RegExp, opts?: { verifySamplesChecksum?: boolean }) {
    try {
      const r = await SegmentReader.open(d, opts);
      // Lazily read files fail on select.
      await r.select([], -Infinity, Infinity, true);
      r.close();
    } catch (e) {
      expect(isMochaError(e)).toBe(true);
      if (!isMochaError(e)) return;
      expect(e.code).toBe('SEGMENT_CORRUPT');
      expect(e.where?.file).toBe(file);
      if (message) expect(e.message).toMatch(message);
      return;
    }
    throw new Error('expected SEGMENT_CORRUPT');
  }

  for (const file of ['series.arrow', 'samples.arrow', 'postings.arrow']) {
    test(`flipped byte in ${file}`, async () => {
      const d = await copyDir(`flip-${file}-${Math.random().toString(36).slice(2)}`.replace(/[^a-z0-9-]/gi, ''));
      const p = path.join(d, file);
      const b = await fs.readFile(p);
      b[Math.floor(b.length / 2)]! ^= 0x40;
      await fs.writeFile(p, b);
      await expectCorrupt(d, file, /checksum mismatch/);
    });
    test(`truncated ${file}`, async () => {
      const d = await copyDir(`trunc-${file}`.replace(/[^a-z0-9-]/gi, ''));
      const p = path.join(d, file);
      const b = await fs.readFile(p);
      await fs.writeFile(p, b.subarray(0, b.length - 100));
      await expectCorrupt(d, file, /bytes; meta.json says/);
    });
  }

  test('bad meta.json: not JSON, bad field, missing file entry', async () => {
    const d = await copyDir('meta');
    const p = path.join(d, 'meta.json');
    const good = JSON.parse(await fs.readFile(p, 'utf8'));
    await fs.writeFile(p, '{"formatVersion":');
    await expectCorrupt(d, 'meta.json', /not valid JSON/);
    await fs.writeFile(p, JSON.stringify({ ...good, seriesCount: 1e12 }));
    await expectCorrupt(d, 'meta.json', /too big seriesCount; got 1000000000000; cannot exceed/);
    await fs.writeFile(p, JSON.stringify({ ...good, formatVersion: 9 }));
    await expectCorrupt(d, 'meta.json', /unsupported formatVersion 9/);
    await fs.writeFile(p, JSON.stringify({ ...good, files: { 'series.arrow': good.files['series.arrow'] } }));
    await expectCorrupt(d, 'meta.json', /files.samples.arrow is missing/);
    await fs.rm(p);
    await expectCorrupt(d, 'meta.json', /cannot read/);
  });

  test('a flipped byte inside a chunk is caught by the decoders when the checksum pass is skipped', async () => {
    // Patch a byte in the middle of samples.arrow and fix meta's crc so only structural checks remain.
    const d = await copyDir('chunk');
    const p = path.join(d, 'samples.arrow');
    const b = await fs.readFile(p);
    for (let k = 0; k < 64; k++) b[200 + k * 97]! ^= 0xff;
    await fs.writeFile(p, b);
    let threw = false;
    try {
      const r = await SegmentReader.open(d, { verifySamplesChecksum: false });
      await r.select([], -Infinity, Infinity, true);
      r.close();
    } catch (e) {
      threw = true;
      if (!isMochaError(e)) console.log(e);
      expect(isMochaError(e) && e.code === 'SEGMENT_CORRUPT' && e.where?.file === 'samples.arrow').toBe(true);
    }
    expect(threw).toBe(true);
  });
});
