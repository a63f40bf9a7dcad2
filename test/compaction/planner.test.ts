// The compaction planner: which partitions need a merge or a level (re)build, which segments
// retention drops, and what it leaves alone.
import { describe, expect, it } from 'vitest';
import { planCompaction, type PlannedSegment } from '../../src/compaction/planner.js';
import { PARTITION_MS } from '../../src/constants.js';
import { parseRetention, parseRollupLevels } from '../../src/rollup/levels.js';

const H = 3_600_000;
const D = 24 * H;
const NOW = 1_800_000_000_000 - (1_800_000_000_000 % PARTITION_MS) + 30 * 60_000;
const LEVELS = parseRollupLevels('5m,1h,1d');
const P_OLD = NOW - 30 * D - (NOW % PARTITION_MS);

function raw(name: string, p: number, tenant = 'default'): PlannedSegment {
  return { tenant, name, level: 'raw', partitionStartMs: p, partitionEndMs: p + PARTITION_MS, minTMs: p, maxTMs: p + 1, seriesCount: 1, sampleCount: 2, bytes: 10 };
}

function level(name: string, lv: string, p: number, sources: string[]): PlannedSegment {
  return { ...raw(name, p), level: lv as 'raw', sources };
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

const allLevels = (p: number, src: string[]) => [level('5m-a', '5m', p, src), level('1h-a', '1h', p, src), level('1d-a', '1d', p, src)];

describe('planCompaction', () => {
  it('merges a partition with several raw segments and builds every level', () => {
    const segs = [raw('raw-1', P_OLD), raw('raw-2', P_OLD), raw('raw-3', P_OLD + PARTITION_MS)];
    const p = plan(segs);
    expect(p.expired).toEqual([]);
    expect(p.partitions.map((w) => [w.partitionStartMs, w.merge, w.raws.map((r) => r.name), w.build.map((l) => l.name)])).toEqual([
      [P_OLD, true, ['raw-1', 'raw-2'], ['5m', '1h', '1d']],
      [P_OLD + PARTITION_MS, false, ['raw-3'], ['5m', '1h', '1d']],
    ]);
  });

  it('leaves a partition with one raw segment and valid levels alone', () => {
    expect(plan([raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1'])]).partitions).toEqual([]);
  });

  it('rebuilds levels built from other raw segments, a missing level, or a duplicate, and removes the old ones', () => {
    const stale = plan([raw('raw-9', P_OLD), ...allLevels(P_OLD, ['raw-1'])]).partitions[0]!;
    expect(stale.build.map((l) => l.name)).toEqual(['5m', '1h', '1d']);
    expect(stale.removeLevels.map((s) => s.name)).toEqual(['5m-a', '1h-a', '1d-a']);
    const missing = plan([raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1']).slice(0, 2)]).partitions[0]!;
    expect(missing.build.length).toBe(3);
    const dup = plan([raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1']), level('5m-b', '5m', P_OLD, ['raw-1'])]).partitions[0]!;
    expect(dup.removeLevels.length).toBe(4);
    // A new raw segment (a later flush) invalidates the levels and is merged.
    const later = plan([raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1']), raw('raw-2', P_OLD)]).partitions[0]!;
    expect(later.merge).toBe(true);
    expect(later.removeLevels.length).toBe(3);
  });

  it('removes levels that are no longer configured without rebuilding the others', () => {
    const w = plan([raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1']), level('1w-a', '1w', P_OLD, ['raw-1'])]).partitions[0]!;
    expect(w.build).toEqual([]);
    expect(w.merge).toBe(false);
    expect(w.removeLevels.map((s) => s.name)).toEqual(['1w-a']);
  });

  it('touches only settled partitions unless forced', () => {
    const recent = NOW - (NOW % PARTITION_MS) - PARTITION_MS;
    const segs = [raw('raw-1', recent), raw('raw-2', recent), raw('raw-3', P_OLD), raw('raw-4', P_OLD)];
    expect(plan(segs, { settledBeforeMs: NOW - PARTITION_MS }).partitions.map((w) => w.partitionStartMs)).toEqual([P_OLD]);
    expect(plan(segs).partitions.map((w) => w.partitionStartMs)).toEqual([P_OLD, recent]);
  });

  it('only plans the tenant asked for', () => {
    const segs = [raw('raw-1', P_OLD, 'a'), raw('raw-2', P_OLD, 'a'), raw('raw-1', P_OLD, 'b'), raw('raw-2', P_OLD, 'b')];
    expect(plan(segs, { tenant: 'b' }).partitions.map((w) => w.tenant)).toEqual(['b']);
  });

  it('retention: drops expired raw segments, keeps the levels built from them, and never rebuilds an expired level', () => {
    const segs = [raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1'])];
    // Raw kept 15 d: the 30-day-old partition's raw segment goes, its levels stay untouched.
    const p = plan(segs, { retention: 'raw=15d' });
    expect(p.expired.map((s) => s.name)).toEqual(['raw-1']);
    expect(plan(segs.slice(1), { retention: 'raw=15d' }).partitions).toEqual([]);
    // 5m kept 7 d: the 5m level is dropped and, while raw data is still there, not built again.
    const q = plan(segs, { retention: '5m=7d' });
    expect(q.expired.map((s) => s.name)).toEqual(['5m-a']);
    expect(plan([raw('raw-1', P_OLD), ...allLevels(P_OLD, ['raw-1']).slice(1)], { retention: '5m=7d' }).partitions).toEqual([]);
    const fresh = plan([raw('raw-1', P_OLD), raw('raw-2', P_OLD)], { retention: '5m=7d,1d=inf' }).partitions[0]!;
    expect(fresh.build.map((l) => l.name)).toEqual(['1h', '1d']);
    // Expired raw data without (valid) levels: the levels are built from it first, no merge, and
    // the raw segments stay until then.
    const backfill = plan([raw('raw-1', P_OLD), raw('raw-2', P_OLD)], { retention: 'raw=15d' });
    expect(backfill.expired).toEqual([]);
    expect(backfill.partitions.map((w) => [w.merge, w.raws.length, w.build.map((l) => l.name)])).toEqual([[false, 2, ['5m', '1h', '1d']]]);
    const built = [raw('raw-1', P_OLD), raw('raw-2', P_OLD), ...allLevels(P_OLD, ['raw-2', 'raw-1'])];
    expect(plan(built, { retention: 'raw=15d' })).toEqual({ expired: built.slice(0, 2), partitions: [] });
    // A partition exactly at the edge: end <= now - retention is expired.
    const edge = NOW - (NOW % PARTITION_MS) - 4 * PARTITION_MS;
    const edgeSegs = [raw('raw-e', edge), ...allLevels(edge, ['raw-e'])];
    const keepMin = (NOW - (edge + PARTITION_MS)) / 60_000;
    expect(plan(edgeSegs, { retention: `raw=${keepMin}m` }).expired.map((x) => x.name)).toEqual(['raw-e']);
    expect(plan(edgeSegs, { retention: `raw=${keepMin + 1}m` }).expired).toEqual([]);
  });
});
