// Bad level segments on disk: every defect is SEGMENT_CORRUPT with the file named, never a
// crash, a hang or a different error; a flipped byte that survives the checks (CRC recomputed
// on purpose) still never yields buckets that break their invariants.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isMochaError } from '../../src/errors.js';
import { crc32 } from '../../src/segment/crc32.js';
import { segmentName } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { writeLevelSegment } from '../../src/segment/level-writer.js';
import { writeSegment } from '../../src/segment/writer.js';
import { mulberry32 } from '../helpers/prng.js';
import { genLevelSeries } from './level-helpers.js';

const H = 3_600_000;
const P0 = Math.floor(1_700_000_000_000 / (2 * H)) * 2 * H;
const P1 = P0 + 2 * H;
const L5M = { name: '5m', widthMs: 300_000 };

let root: string;
let pristine: { zstd: string; none: string };
let seq = 1;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-level-bad-'));
  const series = genLevelSeries(16, P0, P1, 15_000, L5M.widthMs, mulberry32(9));
  const mk = async (compression: 'zstd' | 'none') => {
    const name = segmentName('5m', P0, seq++);
    await writeLevelSegment(path.join(root, 'src'), name, { tenant: 't', level: L5M, partitionStartMs: P0, partitionEndMs: P1, sources: ['raw-0-00000001'], series }, { compression, blockBucketsMax: 6 });
    return path.join(root, 'src', name);
  };
  pristine = { zstd: await mk('zstd'), none: await mk('none') };
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A copy of a segment directory under a fresh name (meta.json's name follows). */
async function copy(dir: string): Promise<string> {
  const name = segmentName('5m', P0, seq++);
  const to = path.join(root, 'work', name);
  await fs.mkdir(to, { recursive: true });
  for (const f of await fs.readdir(dir)) await fs.copyFile(path.join(dir, f), path.join(to, f));
  await editMeta(to, (m) => (m.name = name));
  return to;
}

async function editMeta(dir: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  const file = path.join(dir, 'meta.json');
  const m = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  edit(m);
  await fs.writeFile(file, JSON.stringify(m));
}

/** Rewrites a file and makes meta.json agree with its new size and CRC (to reach the deeper checks). */
async function replaceFile(dir: string, file: string, bytes: Uint8Array): Promise<void> {
  await fs.writeFile(path.join(dir, file), bytes);
  await editMeta(dir, (m) => {
    const files = m.files as Record<string, { bytes: number; crc32: number }>;
    const old = files[file]!.bytes;
    files[file] = { bytes: bytes.length, crc32: crc32(bytes) };
    m.bytes = (m.bytes as number) - old + bytes.length;
  });
}

/** Opens and reads everything; resolves to 'ok' or the SEGMENT_CORRUPT error's file; any other error fails. */
async function openAndReadAll(dir: string): Promise<string> {
  try {
    const r = await LevelSegmentReader.open(dir);
    try {
      const got = await r.selectBuckets([], P0 - H, P1 + H);
      for (const s of got) s.buckets.assertInvariants();
      r.series([], P0, P1);
    } finally {
      r.close();
    }
    return 'ok';
  } catch (e) {
    if (isMochaError(e) && e.code === 'SEGMENT_CORRUPT') return String(e.where?.file);
    throw e;
  }
}

describe('corrupt level segments', () => {
  test('pristine copies read fine', async () => {
    expect(await openAndReadAll(await copy(pristine.zstd))).toBe('ok');
    expect(await openAndReadAll(await copy(pristine.none))).toBe('ok');
  });

  test('truncated or missing files', async () => {
    for (const file of ['buckets.arrow', 'series.arrow', 'postings.arrow', 'meta.json']) {
      const dir = await copy(pristine.zstd);
      const bytes = await fs.readFile(path.join(dir, file));
      await fs.writeFile(path.join(dir, file), bytes.subarray(0, Math.floor(bytes.length / 2)));
      expect(await openAndReadAll(dir), file).toBe(file);
      await fs.rm(path.join(dir, file));
      expect(await openAndReadAll(dir), file).toBe(file);
    }
  });

  test('a flipped byte is caught by the CRC', async () => {
    const dir = await copy(pristine.zstd);
    const bytes = await fs.readFile(path.join(dir, 'buckets.arrow'));
    bytes[Math.floor(bytes.length / 3)]! ^= 0x40;
    await fs.writeFile(path.join(dir, 'buckets.arrow'), bytes);
    expect(await openAndReadAll(dir)).toBe('buckets.arrow');
  });

  test('truncated to a valid-CRC file: still SEGMENT_CORRUPT', async () => {
    for (const cut of [0, 8, 100, 1000]) {
      const dir = await copy(pristine.none);
      const bytes = await fs.readFile(path.join(dir, 'buckets.arrow'));
      await replaceFile(dir, 'buckets.arrow', bytes.subarray(0, Math.max(1, bytes.length - cut - 1)));
      expect(await openAndReadAll(dir)).toBe('buckets.arrow');
    }
  });

  test('fuzz: flipped bytes with the CRC recomputed never crash, and never give broken buckets', async () => {
    const rnd = mulberry32(1234);
    const outcomes = new Map<string, number>();
    for (const [kind, src] of Object.entries(pristine)) {
      const original = await fs.readFile(path.join(src, 'buckets.arrow'));
      for (let i = 0; i < 60; i++) {
        const dir = await copy(src);
        const bytes = Uint8Array.from(original);
        const flips = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) bytes[Math.floor(rnd() * bytes.length)]! ^= 1 << Math.floor(rnd() * 8);
        await replaceFile(dir, 'buckets.arrow', bytes);
        const got = await openAndReadAll(dir);
        expect(['ok', 'buckets.arrow']).toContain(got);
        outcomes.set(`${kind}:${got}`, (outcomes.get(`${kind}:${got}`) ?? 0) + 1);
        await fs.rm(dir, { recursive: true });
      }
    }
    // Most flips must be detected (zstd frames and the cell decoders' checks).
    expect(outcomes.get('zstd:buckets.arrow') ?? 0).toBeGreaterThan(30);
    expect(outcomes.get('none:buckets.arrow') ?? 0).toBeGreaterThan(10);
  });

  test('wrong schema: a raw samples.arrow in place of buckets.arrow', async () => {
    const rawDir = path.join(root, 'raw');
    await writeSegment(rawDir, 'raw-0-00000001', { tenant: 't', level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series: [{ labels: [{ name: '__name__', value: 'x' }], timestampsMs: Float64Array.of(P0 + 1), values: Float64Array.of(1) }] });
    const dir = await copy(pristine.zstd);
    await replaceFile(dir, 'buckets.arrow', await fs.readFile(path.join(rawDir, 'raw-0-00000001', 'samples.arrow')));
    expect(await openAndReadAll(dir)).toBe('buckets.arrow');
    // And a raw segment directory is not a level segment.
    expect(await openAndReadAll(path.join(rawDir, 'raw-0-00000001'))).toBe('meta.json');
  });

  test('series.arrow and meta.json that disagree with buckets.arrow', async () => {
    const other = path.join(root, 'other');
    const series = genLevelSeries(5, P0, P1, 15_000, L5M.widthMs, mulberry32(77));
    await writeLevelSegment(other, '5m-1-00000001', { tenant: 't', level: L5M, partitionStartMs: P0, partitionEndMs: P1, sources: ['raw-0-00000001'], series }, { compression: 'none' });
    // series.arrow of another segment: counts differ.
    let dir = await copy(pristine.none);
    await replaceFile(dir, 'series.arrow', await fs.readFile(path.join(other, '5m-1-00000001', 'series.arrow')));
    expect(await openAndReadAll(dir)).toBe('series.arrow');
    // meta.json naming a narrower partition than the buckets hold.
    dir = await copy(pristine.none);
    await editMeta(dir, (m) => {
      m.partitionEndMs = P0 + H;
      m.maxTMs = P0 + H - 1;
    });
    expect(['meta.json', 'series.arrow', 'buckets.arrow']).toContain(await openAndReadAll(dir));
    // meta.json claiming another width: a coarser one holds fewer buckets than counted; a finer
    // one decodes the bucket indices to other ends than the rows say.
    dir = await copy(pristine.none);
    await editMeta(dir, (m) => {
      m.level = '7m';
      m.widthMs = 420_000;
    });
    expect(await openAndReadAll(dir)).toBe('meta.json');
    dir = await copy(pristine.none);
    await editMeta(dir, (m) => {
      m.level = '1m';
      m.widthMs = 60_000;
    });
    expect(await openAndReadAll(dir)).toBe('buckets.arrow');
    // meta.json with more record batches than the file holds.
    dir = await copy(pristine.none);
    await editMeta(dir, (m) => {
      const rows = m.bucketsBatchRows as number[];
      m.bucketsBatchRows = [1, rows[0]! - 1, ...rows.slice(1)];
    });
    expect(['meta.json', 'series.arrow', 'buckets.arrow']).toContain(await openAndReadAll(dir));
  });
});
