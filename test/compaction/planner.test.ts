// The compaction planner: which raw partitions need a merge, which days need their level segments
// (re)built, which segments retention drops, and what it leaves alone.
import { describe, expect, it } from 'vitest';
import { planCompaction, type PlannedSegment } from '../../src/compaction/planner.js';
import { LEVEL_PARTITION_MS, PARTITION_MS } from '../../src/constants.js';
import { parseRetention, parseRollupLevels } from '../../src/rollup/levels.js';

const H = 3_600_000;
const D = 24 * H;
const NOW = 1_800_000_000_000 - (1_800_000_000_000 % PARTITION_MS) + 30 * 60_000;
const LEVELS = parseRollupLevels('5m,1h,1d');
/** A day 30 days back, and its raw partitions. */
const DAY = NOW - (NOW % D) - 30 * D;
const P = (i: number) => DAY + i * PARTITION_MS;

function raw(name: string, p: number, tenant = 'default'): PlannedSegment {
  return { tenant, name, level: 'raw', partitionStartMs: p, partitionEndMs: p + PARTITION_MS, minTMs: p, maxTMs: p + 1, seriesCount: 1, sampleCount: 2, bytes: 10 };
}

/** A level segment of the day starting at day (or of [p, p + extent) for old per-2 h ones). */
function level(name: string, lv: string, day: number, sources: string[], extent = LEVEL_PARTITION_MS): PlannedSegment {
  return { ...raw(name, day), partitionEndMs: day + extent, level: lv as 'raw', sources };
}

function plan(segments: PlannedSegment[], extra: { retention?: string; settledBeforeMs?: number; tenant?: string } = {}) {
  return planCompaction(segments, {
    nowMs: NOW,
    levels: LEVELS,
    retention: parseRetention(extra.retention ?? '', LEVELS),
    settledBeforeMs: extra.settledBeforeMs ?? Infinity,
    ...(extra.tenant !== undefined ? { tenant: extra.tenant } : {}),
  });
}

const allLevels = (day: number, src: string[]) => [level('5m-a', '5m', day, src), level('1h-a', '1h', day, src), level('1d-a', '1d', day, src)];
const summary = (p: ReturnType<typeof plan>) => p.partitions.map((w) => [w.partitionStartMs, w.partitionEndMs - w.partitionStartMs, w.merge, w.raws.map((r) => r.name), w.build.map((l) => l.name)]);

describe('planCompaction', () => {
  it('merges raw partitions with several segments first, then builds one level segment per level for the whole day from all its raw segments', () => {
    const segs = [raw('raw-1', P(0)), raw('raw-2', P(0)), raw('raw-3', P(1)), raw('raw-4', P(5)), raw('raw-5', P(5))];
    expect(plan(segs).expired).toEqual([]);
    expect(summary(plan(segs))).toEqual([
      [P(0), PARTITION_MS, true, ['raw-1', 'raw-2'], []],
      [P(5), PARTITION_MS, true, ['raw-4', 'raw-5'], []],
    ]);
    // After the merges (raw-6, raw-7): the day's levels, sources = every raw segment of the day.
    const merged = [raw('raw-6', P(0)), raw('raw-3', P(1)), raw('raw-7', P(5))];
    expect(summary(plan(merged))).toEqual([[DAY, LEVEL_PARTITION_MS, false, ['raw-6', 'raw-3', 'raw-7'], ['5m', '1h', '1d']]]);
    // Two days: two level works, oldest first.
    expect(summary(plan([raw('raw-8', DAY + D), ...merged])).map((w) => w[0])).toEqual([DAY, DAY + D]);
  });

  it('leaves a day whose levels name exactly its raw segments alone', () => {
    expect(plan([raw('raw-1', P(0)), raw('raw-2', P(3)), ...allLevels(DAY, ['raw-2', 'raw-1'])]).partitions).toEqual([]);
  });

  it('rebuilds the day after backfill into one of its partitions (a new raw segment there): merge first, then all levels', () => {
    const day = [raw('raw-1', P(0)), raw('raw-2', P(3)), ...allLevels(DAY, ['raw-1', 'raw-2'])];
    const backfilled = [...day, raw('raw-9', P(3))];
    expect(summary(plan(backfilled))).toEqual([[P(3), PARTITION_MS, true, ['raw-2', 'raw-9'], []]]);
    const merged = [raw('raw-1', P(0)), ...allLevels(DAY, ['raw-1', 'raw-2']), raw('raw-10', P(3))];
    const w = plan(merged).partitions[0]!;
    expect([w.partitionStartMs, w.build.map((l) => l.name), w.removeLevels.map((s) => s.name)]).toEqual([DAY, ['5m', '1h', '1d'], ['5m-a', '1h-a', '1d-a']]);
    // A new raw partition of the day (a forced build of an unfinished day) rebuilds too.
    expect(plan([...day, raw('raw-11', P(11))]).partitions[0]!.build.length).toBe(3);
  });

  it('rebuilds levels built from other raw segments, a missing level, a duplicate, and the per-2 h level segments of earlier versions', () => {
    const stale = plan([raw('raw-9', P(0)), ...allLevels(DAY, ['raw-1'])]).partitions[0]!;
    expect(stale.build.map((l) => l.name)).toEqual(['5m', '1h', '1d']);
    expect(stale.removeLevels.map((s) => s.name)).toEqual(['5m-a', '1h-a', '1d-a']);
    expect(plan([raw('raw-1', P(0)), ...allLevels(DAY, ['raw-1']).slice(0, 2)]).partitions[0]!.build.length).toBe(3);
    expect(plan([raw('raw-1', P(0)), ...allLevels(DAY, ['raw-1']), level('5m-b', '5m', DAY, ['raw-1'])]).partitions[0]!.removeLevels.length).toBe(4);
    // Old layout: one level segment per 2 h partition, valid sources; replaced by day segments.
    const old = [raw('raw-1', P(0)), raw('raw-2', P(1)), level('5m-o1', '5m', P(0), ['raw-1'], PARTITION_MS), level('5m-o2', '5m', P(1), ['raw-2'], PARTITION_MS)];
    const w = plan(old).partitions[0]!;
    expect([w.partitionStartMs, w.partitionEndMs, w.build.map((l) => l.name), w.removeLevels.map((s) => s.name)]).toEqual([DAY, DAY + D, ['5m', '1h', '1d'], ['5m-o1', '5m-o2']]);
  });

  it('removes levels that are no longer configured without rebuilding the others', () => {
    const w = plan([raw('raw-1', P(0)), ...allLevels(DAY, ['raw-1']), level('1w-a', '1w', DAY, ['raw-1'])]).partitions[0]!;
    expect(w.build).toEqual([]);
    expect(w.merge).toBe(false);
    expect(w.removeLevels.map((s) => s.name)).toEqual(['1w-a']);
  });

  it('merges settled raw partitions, builds a day only once all of it settled, unless forced', () => {
    const today = NOW - (NOW % D);
    const recent = NOW - (NOW % PARTITION_MS) - PARTITION_MS;
    const segs = [raw('raw-1', recent), raw('raw-2', recent), raw('raw-3', today === recent ? recent : today), raw('raw-5', P(0))];
    const settled = plan(segs, { settledBeforeMs: NOW });
    // The old day is built; the recent partition is merged (it ended); today's levels wait.
    expect(summary(settled).map((w) => [w[0], w[2]])).toEqual([
      [DAY, false],
      [recent, true],
    ]);
    const forced = plan([raw('raw-3', recent), raw('raw-5', P(0))]);
    expect(summary(forced).map((w) => w[0])).toEqual([DAY, today]);
  });

  it('only plans the tenant asked for', () => {
    const segs = [raw('raw-1', P(0), 'a'), raw('raw-2', P(0), 'a'), raw('raw-1', P(0), 'b'), raw('raw-2', P(0), 'b')];
    expect(plan(segs, { tenant: 'b' }).partitions.map((w) => w.tenant)).toEqual(['b']);
  });

  it('retention: drops a day of expired raw segments together, keeps the levels built from them, and never rebuilds an expired level', () => {
    const segs = [raw('raw-1', P(0)), raw('raw-2', P(11)), ...allLevels(DAY, ['raw-1', 'raw-2'])];
    // Raw kept 15 d: the 30-day-old day's raw segments go, its levels stay untouched.
    expect(plan(segs, { retention: 'raw=15d' }).expired.map((s) => s.name)).toEqual(['raw-1', 'raw-2']);
    expect(plan(segs.slice(2), { retention: 'raw=15d' }).partitions).toEqual([]);
    // 5m kept 7 d: the 5m level is dropped and, while raw data is still there, not built again.
    expect(plan(segs, { retention: '5m=7d' }).expired.map((s) => s.name)).toEqual(['5m-a']);
    expect(plan([...segs.slice(0, 2), ...segs.slice(3)], { retention: '5m=7d' }).partitions).toEqual([]);
    const fresh = plan([raw('raw-1', P(0))], { retention: '5m=7d,1d=inf' }).partitions[0]!;
    expect(fresh.build.map((l) => l.name)).toEqual(['1h', '1d']);
    // Expired raw data without (valid) levels: the levels are built from it first, no merge, and
    // the raw segments stay until then.
    const backfill = plan([raw('raw-1', P(0)), raw('raw-2', P(0)), raw('raw-3', P(4))], { retention: 'raw=15d' });
    expect(backfill.expired).toEqual([]);
    expect(summary(backfill)).toEqual([[DAY, D, false, ['raw-1', 'raw-2', 'raw-3'], ['5m', '1h', '1d']]]);
    const built = [raw('raw-1', P(0)), raw('raw-2', P(0)), ...allLevels(DAY, ['raw-2', 'raw-1'])];
    expect(plan(built, { retention: 'raw=15d' })).toEqual({ expired: built.slice(0, 2), partitions: [] });
    // A day exactly at the edge: its END <= now - retention is expired, whatever partition.
    const edgeDay = NOW - (NOW % D) - 2 * D;
    const edgeSegs = [raw('raw-e', edgeDay), ...allLevels(edgeDay, ['raw-e'])];
    const keepMin = (NOW - (edgeDay + D)) / 60_000;
    expect(plan(edgeSegs, { retention: `raw=${keepMin}m` }).expired.map((x) => x.name)).toEqual(['raw-e']);
    expect(plan(edgeSegs, { retention: `raw=${keepMin + 1}m` }).expired).toEqual([]);
  });
});
