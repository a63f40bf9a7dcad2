// The read side of the rollup pyramid: buckets of one level for the series a selector picks,
// over a time range, served from level segments where they are valid and computed from raw
// samples elsewhere (Querier.selectBuckets; the engine's MergingQuerier and the tests'
// MemoryQuerier both answer through this).
//
// The range (minTMs, maxTMs] (multiples of the width G) is split into pieces in time order:
//   - a level segment of width G is used for the part of its partition [start, end) inside the
//     range, as far as it is VALID there: up to the last bucket boundary before the first sample
//     of any raw source it was not built from (not named in `sources`: a memtable head, a newer
//     raw segment; a source that expired by retention is simply gone, which is fine: the level
//     then holds the only copy). Checked on the sources' time bounds, not per series, so a late
//     sample for any series sends the rest of the partition after it to raw until compaction
//     rebuilds the level (levelValidThroughMs);
//   - everything else is one raw piece per gap, read like selectSeries (all raw sources merged,
//     last write wins) and turned into buckets with buildBuckets().
// A series' pieces are joined with joinSeriesRuns() (concatAll() of every series at once): partitions are [start, end) and buckets are
// (kG, (k+1)G], so the bucket holding a partition's `end` is split between two pieces and the
// merge of the two partial buckets is exact (buckets.ts). Pieces never share a sample time.
//
// Level segments of the same width that overlap each other (e.g. a rebuilt one next to the one
// it replaces, until the manifest swap) are never both used: the valid ones are taken in start
// order, widest first, skipping any that overlaps one already taken.
import { MochaError } from '../errors.js';
import { compareLabels, labelsKey, type Labels } from '../model/labels.js';
import type { Matcher } from '../model/matchers.js';
import type { BucketSelection, BucketSource, SelectHints, SeriesBuckets, SeriesData } from '../model/querier.js';
import { buildBuckets, releaseJoinBuffers, SeriesRunsJoiner, type BucketRange, type RollupBuckets } from './buckets.js';
import type { RollupLevel } from './levels.js';

/** A raw source as the validity check sees it. */
export interface RawSourceExtent {
  /** The raw segment's name (what level segments list in `sources`); undefined for memtable heads. */
  readonly name: string | undefined;
  /** Inclusive bounds of the samples held (a head with none: +Infinity / -Infinity). */
  readonly minTMs: number;
  readonly maxTMs: number;
}

/** Raw samples of series matching all matchers with minTMs <= t <= maxTMs (Querier.selectSeries). */
export type SelectRaw = (matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints?: SelectHints) => Promise<SeriesData[]>;

/**
 * The last sample time up to which a level segment answers exactly: partitionEndMs - 1 when every
 * raw source holding samples in its partition is one it was built from; otherwise the last bucket
 * boundary before the earliest sample of any other source there (a memtable head, a newer raw
 * segment): buckets ending at or before that boundary hold only samples the level summarised, and
 * the rest of the partition is read raw. Below partitionStartMs: nothing of it is usable. This
 * keeps the usual dashboard case (today's level built by a forced compaction, new samples in the
 * memtable since) reading the level up to the first new sample instead of a whole day raw.
 */
export function levelValidThroughMs(level: BucketSource, raw: readonly RawSourceExtent[]): number {
  const start = level.partitionStartMs;
  const end = level.partitionEndMs;
  const G = level.widthMs;
  let through = end - 1;
  for (const r of raw) {
    if (!(r.minTMs < end && r.maxTMs >= start)) continue;
    if (r.name !== undefined && level.sources.includes(r.name)) continue;
    // The largest multiple of G strictly below the source's first sample.
    const cut = Math.ceil(r.minTMs / G) * G - G;
    if (cut < through) through = cut;
  }
  return through;
}

/** Whether a level segment covers everything the raw sources hold in its whole partition. */
export function levelSourceValid(level: BucketSource, raw: readonly RawSourceExtent[]): boolean {
  return levelValidThroughMs(level, raw) >= level.partitionEndMs - 1;
}

/** A level segment with the part of its partition it answers exactly (levelValidThroughMs). */
interface UsableLevel {
  readonly source: BucketSource;
  readonly validThroughMs: number;
}

interface Piece {
  /** Samples with fromMs < t <= toMs. */
  readonly fromMs: number;
  readonly toMs: number;
  /** The level segment serving it; undefined: raw samples. */
  readonly level: BucketSource | undefined;
}

export class BucketQuerier {
  constructor(
    /** Called at each selection: head bounds move while a querier is open. */
    private readonly rawExtents: () => readonly RawSourceExtent[],
    private readonly levels: readonly BucketSource[],
    private readonly selectRaw: SelectRaw,
  ) {}

  /**
   * The valid level segments of the level's width holding part of (minTMs, maxTMs], in time
   * order, none overlapping another.
   */
  usableLevelSegments(level: RollupLevel, minTMs: number, maxTMs: number): BucketSource[] {
    return this.usableLevels(level, minTMs, maxTMs).map((u) => u.source);
  }

  private usableLevels(level: RollupLevel, minTMs: number, maxTMs: number): UsableLevel[] {
    const raw = this.rawExtents();
    const candidates: UsableLevel[] = [];
    for (const l of this.levels) {
      if (!(l.widthMs === level.widthMs && l.partitionStartMs <= maxTMs && l.partitionEndMs - 1 > minTMs && l.partitionEndMs > l.partitionStartMs)) continue;
      const validThroughMs = levelValidThroughMs(l, raw);
      // Usable only if it answers some of (minTMs, maxTMs] past its partition's first instant.
      if (validThroughMs <= l.partitionStartMs || validThroughMs <= minTMs) continue;
      candidates.push({ source: l, validThroughMs });
    }
    candidates.sort((a, b) => a.source.partitionStartMs - b.source.partitionStartMs || b.source.partitionEndMs - a.source.partitionEndMs);
    const out: UsableLevel[] = [];
    let takenEnd = -Infinity;
    for (const u of candidates) {
      if (u.source.partitionStartMs < takenEnd) continue;
      out.push(u);
      takenEnd = u.source.partitionEndMs;
    }
    return out;
  }

  /** How many valid level segments of the level hold part of (minTMs, maxTMs]: whether the level is worth reading. */
  levelSegmentsOverlapping(level: RollupLevel, minTMs: number, maxTMs: number): number {
    return this.usableLevelSegments(level, minTMs, maxTMs).length;
  }

  /** Querier.selectBuckets: see the file comment. */
  async selectBuckets(matchers: readonly Matcher[], level: RollupLevel, minTMs: number, maxTMs: number, hints?: SelectHints): Promise<BucketSelection> {
    const G = level.widthMs;
    if (!(minTMs % G === 0 && maxTMs % G === 0 && minTMs <= maxTMs)) {
      throw new MochaError('INTERNAL', `selectBuckets: (${minTMs}, ${maxTMs}] is not aligned to ${level.name} buckets`);
    }
    const pieces: Piece[] = [];
    const raw = this.rawExtents();
    // A gap no raw source has samples in (expired by retention, or the instant after the last
    // level segment's partition) is not read at all.
    const addRaw = (fromMs: number, toMs: number): void => {
      if (raw.some((r) => r.minTMs <= toMs && r.maxTMs > fromMs)) pieces.push({ fromMs, toMs, level: undefined });
    };
    let cursor = minTMs;
    for (const { source: l, validThroughMs } of this.usableLevels(level, minTMs, maxTMs)) {
      const from = Math.max(minTMs, l.partitionStartMs - 1);
      const to = Math.min(maxTMs, validThroughMs);
      if (cursor < from) addRaw(cursor, from);
      pieces.push({ fromMs: from, toMs: to, level: l });
      cursor = to;
    }
    if (cursor < maxTMs) addRaw(cursor, maxTMs);

    // Each piece's series as row ranges, keyed; read concurrently (segment reads decompress on
    // the thread pool while another piece decodes).
    const answers = await Promise.all(pieces.map((p) => this.readPiece(p, matchers, G, hints)));

    const runsByKey = new Map<string, { labels: Labels; runs: BucketRange[] }>();
    for (const piece of answers) {
      for (const s of piece) {
        const entry = runsByKey.get(s.key);
        if (entry === undefined) runsByKey.set(s.key, { labels: s.labels, runs: [s.range] });
        else entry.runs.push(s.range);
      }
    }
    if (hints?.seriesMax !== undefined && runsByKey.size > hints.seriesMax) {
      throw new MochaError('QUERY_TOO_MANY_SERIES', `query selects ${runsByKey.size} series; the limit is ${hints.seriesMax}`);
    }
    // Buckets count as samples: they are what this query holds in memory. Checked before the
    // copies concatAll makes.
    if (hints?.samplesMax !== undefined) {
      let rows = 0;
      for (const { runs } of runsByKey.values()) for (const r of runs) rows += r.hi - r.lo;
      if (rows > hints.samplesMax) {
        throw new MochaError('QUERY_TOO_MANY_SAMPLES', `query processing would load too many samples into memory (limit ${hints.samplesMax})`);
      }
    }
    // Series are joined into shared buffers when their `buckets` are first read (SeriesRunsJoiner),
    // which grids evaluated over the runs (evalRollupGridRuns) never do; a series read from one
    // piece is a view of the source's rows (read only, like everything a selection returns).
    const entries = [...runsByKey.values()];
    const pooled: ArrayBuffer[] = [];
    const joiner = new SeriesRunsJoiner(
      entries.map((e) => e.runs),
      G,
      pooled,
    );
    const series: SeriesBuckets[] = entries.map((e, i) => ({
      labels: e.labels,
      runs: e.runs,
      get buckets() {
        return joiner.join(i);
      },
    }));
    // Pieces come in time order and each in label order, so the keys are usually in label order
    // already (checked in one pass before sorting).
    let sorted = true;
    for (let i = 1; i < series.length && sorted; i++) if (compareLabels(series[i - 1]!.labels, series[i]!.labels) > 0) sorted = false;
    if (!sorted) series.sort((a, b) => compareLabels(a.labels, b.labels));
    let levelSegmentsRead = 0;
    for (const p of pieces) if (p.level !== undefined) levelSegmentsRead++;
    return { series, levelSegmentsRead, rawPiecesRead: pieces.length - levelSegmentsRead, release: () => releaseJoinBuffers(pooled) };
  }

  /** One piece's series: row ranges of level buckets, or buckets built from raw samples. */
  private async readPiece(p: Piece, matchers: readonly Matcher[], G: number, hints: SelectHints | undefined): Promise<PieceSeries[]> {
    const out: PieceSeries[] = [];
    const level = p.level;
    if (level === undefined) {
      for (const s of await this.selectRaw(matchers, p.fromMs + 1, p.toMs, hints)) {
        if (s.timestampsMs.length === 0) continue;
        const b = buildBuckets(s.timestampsMs, s.values, G);
        out.push({ key: (s as { key?: string }).key ?? labelsKey(s.labels), labels: s.labels, range: { buckets: b, lo: 0, hi: b.length } });
      }
      return out;
    }
    if (level.selectBucketRuns !== undefined) {
      const runs = await level.selectBucketRuns(matchers, p.fromMs, p.toMs, hints?.bucketFields);
      for (let i = 0; i < runs.labels.length; i++) {
        const range = withinRange(runs.buckets[i]!, runs.lo[i]!, runs.hi[i]!, p.fromMs, p.toMs);
        if (range.hi > range.lo) out.push({ key: runs.keys[i]!, labels: runs.labels[i]!, range });
      }
      return out;
    }
    if (level.selectBucketBatch !== undefined) {
      const batch = await level.selectBucketBatch(matchers, p.fromMs, p.toMs, hints?.bucketFields);
      for (let i = 0; i < batch.labels.length; i++) {
        const range = withinRange(batch.buckets, batch.offsets[i]!, batch.offsets[i + 1]!, p.fromMs, p.toMs);
        if (range.hi > range.lo) out.push({ key: batch.keys[i]!, labels: batch.labels[i]!, range });
      }
      return out;
    }
    for (const s of await level.selectBuckets(matchers, p.fromMs, p.toMs, hints?.bucketFields)) {
      const range = withinRange(s.buckets, 0, s.buckets.length, p.fromMs, p.toMs);
      if (range.hi > range.lo) out.push({ key: s.key, labels: s.labels, range });
    }
    return out;
  }
}

interface PieceSeries {
  readonly key: string;
  readonly labels: Labels;
  readonly range: BucketRange;
}

/**
 * Rows of b in [lo, hi) with a bucket that can hold a sample in (fromMs, toMs]: endMs > fromMs
 * and endMs - G < toMs (a source may hand out more than asked; and piece bounds inside the
 * range are partition edges, not multiples of G, so the bucket holding a partition's last
 * samples ends after toMs).
 */
function withinRange(b: RollupBuckets, lo: number, hi: number, fromMs: number, toMs: number): BucketRange {
  const G = b.widthMs;
  while (lo < hi && !(b.endMs[lo]! > fromMs)) lo++;
  while (hi > lo && !(b.endMs[hi - 1]! - G < toMs)) hi--;
  return { buckets: b, lo, hi };
}
