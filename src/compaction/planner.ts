// Compaction planner: from the manifest, what compaction has to do. Pure; the engine runs the
// work one item at a time (engine.ts compactionStep) and plans again after each manifest swap.
//
// Raw segments live in 2 h raw partitions; level segments in LEVEL PARTITIONS of one UTC day
// (LEVEL_PARTITION_MS), built from all raw segments of the day's raw partitions. Per tenant and day:
// - retention: a level segment whose partitionEndMs <= now - retention(level) is dropped. Raw
//   segments of a day expire TOGETHER, once the day's end is past the raw retention (raw data is
//   kept up to a day longer than asked): a day level then never has to be rebuilt from part of
//   its day. A level outlives the raw data it was built from when its retention is longer, and
//   keeps naming its sources -- they are gone, which does not invalidate it. Expired raw segments
//   of a day whose kept levels are missing or stale stay until those levels are built from them
//   (the day's unmerged segments all named as sources), then go;
// - merge (per raw partition): more than one raw segment (flush splits, out-of-order and
//   backfilled data) -> one; not when the raw segments expire next;
// - levels (per day): every configured level whose retention has not passed for the day must
//   exist exactly once, covering the whole day and built from exactly the day's current raw
//   segments (`sources`); if not, all of the day's levels are rebuilt. Level segments of levels no
//   longer configured, built from other raw segments, or of another extent (the per-2 h level
//   segments of earlier versions) are removed with the swap that adds the new ones. The day's
//   merges go first: its level work is planned once none is pending;
// - a day without raw segments (expired) keeps its levels as they are;
// - a raw partition is merged once settled (partitionEndMs <= settledBeforeMs: the memtable has
//   moved past it), a day's levels are built once the whole day is settled, unless forced (the
//   admin call; a forced build of an unfinished day is replaced once a later raw segment lands
//   in the day -- queries skip it meanwhile, see rollup/bucket-querier.ts).
import type { ManifestSegment } from '../segment/manifest.js';
import { LEVEL_PARTITION_MS } from '../constants.js';
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
  /** A raw partition (merge work) or a level partition, one day (level work). */
  partitionStartMs: number;
  partitionEndMs: number;
  /** The raw segments read, manifest order (oldest first): the raw partition's, or the whole day's. */
  raws: PlannedSegment[];
  /** Merge work: write one raw segment of the raw partition from its raws (then build and removeLevels are empty). */
  merge: boolean;
  /** Levels to build for the day, finest first (all wanted levels, or none when the existing ones are valid). */
  build: RollupLevel[];
  /** Level segments of the day the swap removes (replaced, stale, or no longer configured). */
  removeLevels: PlannedSegment[];
}

export interface CompactionPlan {
  /** Segments past their level's retention. */
  expired: PlannedSegment[];
  /** Merges and level builds, oldest first (a day's merges before its level build). */
  partitions: PartitionWork[];
}

/** Identifies a unit of work (a raw partition's merge and its day's level build may share a start). */
export function partitionKey(tenant: string, partitionStartMs: number, partitionEndMs?: number): string {
  return partitionEndMs === undefined ? `${tenant}/${partitionStartMs}` : `${tenant}/${partitionStartMs}/${partitionEndMs}`;
}

/** Start of the level partition (UTC day) holding time t. */
export function levelPartitionStartOf(t: number): number {
  return Math.floor(t / LEVEL_PARTITION_MS) * LEVEL_PARTITION_MS;
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
  const days = new Map<string, { tenant: string; dayStartMs: number; raws: PlannedSegment[]; levels: PlannedSegment[] }>();
  for (const s of segments) {
    if (opts.tenant !== undefined && s.tenant !== opts.tenant) continue;
    if (s.level !== RAW_LEVEL && isExpired(opts.retention, s.level, s.partitionEndMs, opts.nowMs)) {
      expired.push(s);
      continue;
    }
    const dayStartMs = levelPartitionStartOf(s.partitionStartMs);
    const key = partitionKey(s.tenant, dayStartMs);
    let g = days.get(key);
    if (!g) days.set(key, (g = { tenant: s.tenant, dayStartMs, raws: [], levels: [] }));
    if (s.level === RAW_LEVEL) g.raws.push(s);
    else g.levels.push(s);
  }
  const partitions: PartitionWork[] = [];
  for (const g of days.values()) {
    if (g.raws.length === 0) continue; // raw expired (or never here): its levels stay as they are
    const dayEndMs = g.dayStartMs + LEVEL_PARTITION_MS;
    const rawExpired = isExpired(opts.retention, RAW_LEVEL, dayEndMs, opts.nowMs);
    // Merges, per raw partition.
    const byPartition = new Map<number, PlannedSegment[]>();
    for (const r of g.raws) {
      const list = byPartition.get(r.partitionStartMs);
      if (list) list.push(r);
      else byPartition.set(r.partitionStartMs, [r]);
    }
    let mergesPending = false;
    if (!rawExpired) {
      for (const raws of byPartition.values()) {
        if (raws.length < 2) continue;
        mergesPending = true;
        const first = raws[0]!;
        if (first.partitionEndMs > opts.settledBeforeMs) continue;
        partitions.push({ tenant: g.tenant, partitionStartMs: first.partitionStartMs, partitionEndMs: first.partitionEndMs, raws, merge: true, build: [], removeLevels: [] });
      }
    }
    if (mergesPending) continue; // the day's levels are built from its merged segments, next
    if (!rawExpired && dayEndMs > opts.settledBeforeMs) continue;
    const wanted = opts.levels.filter((l) => !isExpired(opts.retention, l.name, dayEndMs, opts.nowMs));
    const rawNames = g.raws.map((r) => r.name);
    let levelsValid = true;
    for (const l of wanted) {
      const have = g.levels.filter((s) => s.level === l.name);
      const h = have[0];
      if (have.length !== 1 || h!.partitionStartMs !== g.dayStartMs || h!.partitionEndMs !== dayEndMs || !sameNames(h!.sources ?? [], rawNames)) {
        levelsValid = false;
        break;
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
    if (build.length === 0 && removeLevels.length === 0) continue;
    partitions.push({ tenant: g.tenant, partitionStartMs: g.dayStartMs, partitionEndMs: dayEndMs, raws: g.raws, merge: false, build, removeLevels });
  }
  // Oldest first (a day's merges, then its levels): they are the settled ones, and the order is deterministic.
  partitions.sort(
    (a, b) => a.partitionStartMs - b.partitionStartMs || Number(a.merge === false) - Number(b.merge === false) || (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0),
  );
  return { expired, partitions };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
