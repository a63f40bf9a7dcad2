// Compaction through the engine: several flushes into one partition, rewrites of existing
// timestamps and backfill into an old partition, then compact(): one raw segment per partition,
// the same answers before and after (last write wins), old directories deleted only once no
// querier holds them, and everything still there after a restart.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Engine, type EngineOptions } from '../../src/engine.js';
import { newMatcher } from '../../src/model/matchers.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { PARTITION_MS } from '../../src/constants.js';
import { readManifest } from '../../src/segment/manifest.js';
import { tenantSegmentsDir } from '../../src/segment/format.js';
import type { SeriesData } from '../../src/model/querier.js';
import { sameBits } from '../segment/helpers.js';
import { parseRollupLevels } from '../../src/rollup/levels.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-engine-compact-'));
  dirs.push(d);
  return d;
}

function open(dataDir: string, extra: Partial<EngineOptions> = {}): Promise<Engine> {
  return Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', compactionWorkers: 1, rollupLevels: [], ...extra });
}

const NOW_P = Math.floor(Date.now() / PARTITION_MS) * PARTITION_MS;
/** A partition three days back (backfill) and the one before the current one. */
const OLD_P = NOW_P - 36 * PARTITION_MS;
const RECENT_P = NOW_P - 2 * PARTITION_MS;

function series(i: number, fromMs: number, n: number, stepMs: number, base: number) {
  const labels: Labels = [
    { name: '__name__', value: i % 2 === 0 ? 'c_total' : 'g' },
    { name: 'i', value: String(i) },
  ];
  const timestampsMs = Float64Array.from({ length: n }, (_, k) => fromMs + k * stepMs);
  const values = Float64Array.from({ length: n }, (_, k) => base + i * 1000 + k);
  return { labels, key: labelsKey(labels), timestampsMs, values };
}

async function selectAll(e: Engine): Promise<SeriesData[]> {
  const q = e.querier('default');
  try {
    return (await q.selectSeries([newMatcher('=~', '__name__', '.+')], OLD_P - PARTITION_MS, NOW_P + PARTITION_MS)).map((s) => ({
      labels: s.labels,
      timestampsMs: s.timestampsMs.slice(),
      values: s.values.slice(),
    }));
  } finally {
    q.close();
  }
}

function expectSame(a: SeriesData[], b: SeriesData[]): void {
  expect(a.map((s) => labelsKey(s.labels))).toEqual(b.map((s) => labelsKey(s.labels)));
  for (let i = 0; i < a.length; i++) {
    expect(Array.from(a[i]!.timestampsMs)).toEqual(Array.from(b[i]!.timestampsMs));
    expect(sameBits(a[i]!.values, b[i]!.values)).toBe(true);
  }
}

describe('engine compaction', () => {
  it('merges each partition into one raw segment with identical answers, deletes inputs, survives a restart', async () => {
    const dataDir = await tmp();
    let e = await open(dataDir);
    // Flush 1: the recent partition, first half. Flush 2: second half, with rewrites of a few
    // timestamps of the first half (last write wins) and a stale marker. Flush 3: backfill.
    await e.append('default', Array.from({ length: 30 }, (_, i) => series(i, RECENT_P + 1000, 240, 15_000, 0)));
    await e.flush();
    const second = Array.from({ length: 30 }, (_, i) => series(i, RECENT_P + 1000 + 200 * 15_000, 200, 15_000, 0.5));
    second[3]!.values[5] = STALE_NAN;
    await e.append('default', second);
    await e.flush();
    await e.append('default', Array.from({ length: 10 }, (_, i) => series(i, OLD_P + 7, 100, 60_000, 7)));
    await e.flush();
    await e.append('default', Array.from({ length: 10 }, (_, i) => series(i + 5, OLD_P + 30_007, 100, 60_000, 9)));
    await e.flush();
    expect(e.stats().segments).toBe(4);
    const before = await selectAll(e);

    // A querier taken before compaction keeps reading the old segments until it is closed.
    const held = e.querier('default');
    const summary = await e.compact();
    expect(summary).toMatchObject({ partitions: 2, segmentsMerged: 4, rawSegmentsWritten: 2, failures: 0, segmentsExpired: 0 });
    expect(summary.samplesIn).toBeGreaterThan(summary.samplesOut); // rewrites were deduplicated
    expect(e.stats().segments).toBe(2);
    expect(e.stats().segmentsByLevel.raw).toEqual({ segments: 2, bytes: e.stats().segmentBytes });
    const m = await readManifest(dataDir);
    expect(m.segments.map((s) => s.partitionStartMs).sort()).toEqual([OLD_P, RECENT_P].sort());
    const dirsNow = (await fs.readdir(tenantSegmentsDir(dataDir, 'default'))).sort();
    // The old directories stay while `held` may read them.
    expect(dirsNow.length).toBe(6);
    const heldAnswer = await held.selectSeries([newMatcher('=~', '__name__', '.+')], OLD_P - PARTITION_MS, NOW_P + PARTITION_MS);
    expectSame(heldAnswer, before);
    held.close();
    await e.compact(); // nothing to do; waits for pending deletions
    expect((await fs.readdir(tenantSegmentsDir(dataDir, 'default'))).sort()).toEqual(m.segments.map((s) => s.name).sort());

    expectSame(await selectAll(e), before);
    // Nothing left to do.
    expect((await e.compact()).partitions).toBe(0);
    await e.close();
    e = await open(dataDir);
    expectSame(await selectAll(e), before);
    expect(e.stats().segments).toBe(2);
    await e.close();
  });

  it('merges a later flush into an already compacted partition, and ?tenant= limits the run', async () => {
    const dataDir = await tmp();
    const e = await open(dataDir);
    await e.append('default', [series(1, RECENT_P + 5, 10, 1000, 0)]);
    await e.append('other', [series(1, RECENT_P + 5, 10, 1000, 0)]);
    await e.flush();
    await e.append('default', [series(1, RECENT_P + 5, 20, 1000, 100)]);
    await e.append('other', [series(1, RECENT_P + 5, 20, 1000, 100)]);
    await e.flush();
    expect((await e.compact({ tenant: 'default' })).partitions).toBe(1);
    expect(e.stats().segments).toBe(3);
    await e.append('default', [series(1, RECENT_P + 5 + 20_000, 5, 1000, 500)]);
    await e.flush();
    const before = await selectAll(e);
    expect((await e.compact()).partitions).toBe(2);
    expect(e.stats().segments).toBe(2);
    const after = await selectAll(e);
    expectSame(after, before);
    expect(after[0]!.timestampsMs.length).toBe(25);
    expect(after[0]!.values[0]).toBe(1100);
    expect(after[0]!.values[24]).toBe(1504);
    await e.close();
  });

  it('runs a flush submitted during a compaction task before that task swaps: the swap keeps the flushed segment, names never collide', async () => {
    const dataDir = await tmp();
    // The task's outputs wait 1.5 s (off the flush chain) before the swap: a flush meanwhile must not wait for them.
    let e = await open(dataDir, { compactionSwapDelayMs: 1500 });
    await e.append('default', Array.from({ length: 10 }, (_, i) => series(i, OLD_P + 7, 100, 60_000, 7)));
    await e.flush();
    await e.append('default', Array.from({ length: 10 }, (_, i) => series(i + 5, OLD_P + 30_007, 100, 60_000, 9)));
    await e.flush();
    const compacting = e.compact();
    let compactDone = false;
    void compacting.then(() => (compactDone = true));
    await new Promise((r) => setTimeout(r, 300));
    // Rewrites of timestamps the merged segment holds, into the partition being merged: newer, so they win.
    await e.append('default', [series(2, OLD_P + 7, 3, 60_000, 5000)]);
    const flushStarted = performance.now();
    await e.flush();
    const flushMs = performance.now() - flushStarted;
    expect(compactDone).toBe(false);
    expect(e.stats().compactions).toBe(0); // the merge has not swapped yet
    expect(flushMs).toBeLessThan(1500);
    expect(e.stats().segments).toBe(3);
    const summary = await compacting;
    expect(summary).toMatchObject({ partitions: 1, segmentsMerged: 2, rawSegmentsWritten: 1, failures: 0 });
    const m = await readManifest(dataDir);
    // The merged segment, then the segment flushed during the task (later in order: its samples win).
    expect(m.segments.length).toBe(2);
    const seqs = m.segments.map((s) => Number(s.name.slice(s.name.lastIndexOf('-') + 1)));
    expect(new Set(m.segments.map((s) => s.name)).size).toBe(2);
    expect(m.nextSegmentSeq).toBeGreaterThan(Math.max(...seqs));
    expect(seqs[1]).toBeGreaterThan(seqs[0]!); // the flush took a name above the ones the task reserved
    const check = (got: SeriesData[]) => {
      const s2 = got.find((s) => s.labels.some((l) => l.name === 'i' && l.value === '2'))!;
      expect(Array.from(s2.values.subarray(0, 4))).toEqual([7000, 7001, 7002, 2010]);
    };
    const after = await selectAll(e);
    check(after);
    await e.close();
    e = await open(dataDir);
    expectSame(await selectAll(e), after);
    // And the next run merges the partition's two segments into one.
    expect((await e.compact()).partitions).toBe(1);
    expectSame(await selectAll(e), after);
    await e.close();
  });

  it('leaves recent partitions alone unless forced', async () => {
    const dataDir = await tmp();
    const e = await open(dataDir, { flushIntervalMs: PARTITION_MS });
    const cur = series(1, NOW_P + 5, 1, 1000, 0);
    cur.timestampsMs[0] = Math.min(Date.now() - 1000, NOW_P + 5);
    await e.append('default', [cur]);
    await e.flush();
    await e.append('default', [{ ...cur, values: Float64Array.from([2]) }]);
    await e.flush();
    expect((await e.compact({ force: false })).partitions).toBe(0);
    expect(e.stats().segments).toBe(2);
    expect((await e.compact({ force: true })).partitions).toBe(1);
    expect(e.stats().segments).toBe(1);
    await e.close();
    expect(existsSync(dataDir)).toBe(true);
  });

  it('builds levels, opens them again after a restart, and compacts on its own after a flush when an interval is set', async () => {
    const dataDir = await tmp();
    const rollupLevels = parseRollupLevels('5m,1h');
    let e = await open(dataDir, { rollupLevels, compactionIntervalMs: 3_600_000, flushIntervalMs: PARTITION_MS });
    await e.append('default', Array.from({ length: 5 }, (_, i) => series(i, OLD_P + 1000, 100, 60_000, 0)));
    await e.flush();
    await e.append('default', Array.from({ length: 5 }, (_, i) => series(i, OLD_P + 500, 50, 60_000, 3)));
    await e.flush();
    // The flush starts a background run: OLD_P is settled (ended long ago), so it is compacted.
    const deadline = Date.now() + 30_000;
    while (e.stats().compactions < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await e.compact({ force: false }); // waits for the background run
    const s = e.stats();
    expect(s.segmentsByLevel).toEqual({
      raw: { segments: 1, bytes: expect.any(Number) },
      '5m': { segments: 1, bytes: expect.any(Number) },
      '1h': { segments: 1, bytes: expect.any(Number) },
    });
    expect(s.compactionSamplesMerged).toBe(750);
    const before = await selectAll(e);
    await e.close();
    e = await open(dataDir, { rollupLevels });
    expect(e.stats().segments).toBe(3);
    expectSame(await selectAll(e), before);
    expect((await e.compact()).partitions).toBe(0);
    // Dropping a level from the configuration removes its segments at the next compaction.
    await e.close();
    e = await open(dataDir, { rollupLevels: rollupLevels.slice(0, 1) });
    expect(await e.compact()).toMatchObject({ partitions: 1, levelSegmentsRemoved: 1, levelSegmentsWritten: 0 });
    expect(Object.keys(e.stats().segmentsByLevel).sort()).toEqual(['5m', 'raw']);
    await e.close();
  });
});
