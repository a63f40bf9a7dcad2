// Compaction planner: from the manifest, what compaction has to do. Pure; the engine runs the
// work one item at a time (engine.ts compactionStep) and plans again after each manifest swap.
//
// Per tenant and raw partition [start, end):
// - retention: a segment of level L whose partitionEndMs <= now - retention(L) is dropped (raw
//   and level segments alike; a level outlives the raw data it was built from when its retention
//   is longer, and keeps naming its sources -- they are gone, which does not invalidate it).
//   Expired raw segments of a partition whose kept levels are missing or stale (data backfilled
//   older than the raw retention, or never compacted) stay until those levels are built from them
//   (without a merged raw segment: the levels name all of them as sources), then go;
// - merge: more than one raw segment (flush splits, out-of-order and backfilled data) -> one;
// - levels: every configured level whose retention has not passed for the partition must exist
//   exactly once, built from exactly the partition's current raw segment(s) (`sources`); if not,
//   all of the partition's levels are rebuilt. Level segments of levels no longer configured, or
//   built from other raw segments, are removed with the swap that adds the new ones;
// - a partition without raw segments (expired) keeps its levels as they are;
// - a partition is touched only once settled (partitionEndMs <= settledBeforeMs: the memtable has
//   moved past it), unless forced (the admin call).
import type { ManifestSegment } from '../segment/manifest.js';
import { RAW_LEVEL, type RetentionByLevel, type RollupLevel } from '../rollup/levels.js';

/** A manifest entry as the planner reads it: level entries carry the raw segments they summarise. */
export type PlannedSegment = ManifestSegment & { readonly sources?: readonly string[] };

export interface PlanOptions {
  nowMs: number;
  levels: readonly RollupLevel[];
  retention: RetentionByLevel;
  /** Partitions ending after this are left alone (Infinity: every partition). */
  settledBeforeMs: number;
  /** Only this tenant (the admin call's ?tenant=). */
  tenant?: string;
}

export interface PartitionWork {
  tenant: string;
  partitionStartMs: number;
  partitionEndMs: number;
  /** The partition's raw segments, manifest order (oldest first). */
  raws: PlannedSegment[];
  /** More than one raw segment: write a merged one (not when the raw segments expire next). */
  merge: boolean;
  /** Levels to build, finest first (all wanted levels, or none when the existing ones are valid). */
  build: RollupLevel[];
  /** Level segments of the partition the swap removes (replaced, stale, or no longer configured). */
  removeLevels: PlannedSegment[];
}

export interface CompactionPlan {
  /** Segments past their level's retention. */
  expired: PlannedSegment[];
  partitions: PartitionWork[];
}

export function partitionKey(tenant: string, partitionStartMs: number): string {
  return `${tenant}/${partitionStartMs}`;
}

export function retentionMsOf(retention: RetentionByLevel, level: string): number {
  return retention.get(level) ?? Infinity;
}

/** Whether data of a partition ending at partitionEndMs is past the retention of the level. */
export function isExpired(retention: RetentionByLevel, level: string, partitionEndMs: number, nowMs: number): boolean {
  const keepMs = retentionMsOf(retention, level);
  return keepMs !== Infinity && partitionEndMs <= nowMs - keepMs;
}

export function planCompaction(segments: readonly PlannedSegment[], opts: PlanOptions): CompactionPlan {
  const expired: PlannedSegment[] = [];
  const groups = new Map<string, { raws: PlannedSegment[]; levels: PlannedSegment[] }>();
  for (const s of segments) {
    if (opts.tenant !== undefined && s.tenant !== opts.tenant) continue;
    if (s.level !== RAW_LEVEL && isExpired(opts.retention, s.level, s.partitionEndMs, opts.nowMs)) {
      expired.push(s);
      continue;
    }
    const key = partitionKey(s.tenant, s.partitionStartMs);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { raws: [], levels: [] }));
    if (s.level === RAW_LEVEL) g.raws.push(s);
    else g.levels.push(s);
  }
  const partitions: PartitionWork[] = [];
  for (const g of groups.values()) {
    if (g.raws.length === 0) continue; // raw expired (or never here): its levels stay as they are
    const first = g.raws[0]!;
    const rawExpired = isExpired(opts.retention, RAW_LEVEL, first.partitionEndMs, opts.nowMs);
    if (!rawExpired && first.partitionEndMs > opts.settledBeforeMs) continue;
    const wanted = opts.levels.filter((l) => !isExpired(opts.retention, l.name, first.partitionEndMs, opts.nowMs));
    const rawNames = g.raws.map((r) => r.name);
    const merge = !rawExpired && g.raws.length > 1;
    let levelsValid = !merge;
    if (levelsValid) {
      for (const l of wanted) {
        const have = g.levels.filter((s) => s.level === l.name);
        if (have.length !== 1 || !sameNames(have[0]!.sources ?? [], rawNames)) {
          levelsValid = false;
          break;
        }
      }
    }
    const wantedNames = new Set(wanted.map((l) => l.name));
    if (rawExpired && levelsValid) {
      // The levels hold what the raw data had: it can go.
      expired.push(...g.raws);
      continue;
    }
    const removeLevels = levelsValid ? g.levels.filter((s) => !wantedNames.has(s.level)) : g.levels;
    const build = levelsValid ? [] : wanted;
    if (!merge && build.length === 0 && removeLevels.length === 0) continue;
    partitions.push({
      tenant: first.tenant,
      partitionStartMs: first.partitionStartMs,
      partitionEndMs: first.partitionEndMs,
      raws: g.raws,
      merge,
      build,
      removeLevels,
    });
  }
  // Oldest partitions first: they are the settled ones, and the order is deterministic.
  partitions.sort((a, b) => a.partitionStartMs - b.partitionStartMs || (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
  return { expired, partitions };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
