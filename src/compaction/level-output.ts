// The level side of a compaction task: writes a partition's level segments
// (segment/level-writer.ts does the format) and opens them for the engine.
import type { Labels } from '../model/labels.js';
import type { RollupBuckets } from '../rollup/buckets.js';
import { manifestEntryOf, type ManifestSegment } from '../segment/manifest.js';
import type { SegmentCompression } from '../segment/codecs.js';
import { writeLevelSegment } from '../segment/level-writer.js';
import { LevelSegmentReader } from '../segment/level-reader.js';
import type { LevelSource } from '../engine.js';

export interface LevelSeriesBuckets {
  labels: Labels;
  buckets: RollupBuckets;
}

/** What the engine needs of a written level segment for its manifest. */
export interface LevelOutputMeta {
  name: string;
  level: string;
  manifestEntry: ManifestSegment;
}

export function openLevelSource(dir: string): Promise<LevelSource> {
  return LevelSegmentReader.open(dir);
}

/**
 * Writes one level segment per level (series in label order, as the task produced them). A level
 * without any bucket (cannot happen for a partition with samples) is not written.
 */
export async function writeLevels(
  segmentsDir: string,
  input: { tenant: string; partitionStartMs: number; partitionEndMs: number; levels: readonly { level: string; widthMs: number; name: string }[]; compression?: SegmentCompression },
  sources: readonly string[],
  series: readonly LevelSeriesBuckets[][],
): Promise<LevelOutputMeta[]> {
  const out: LevelOutputMeta[] = [];
  for (let i = 0; i < input.levels.length; i++) {
    const l = input.levels[i]!;
    const list = series[i]!.filter((s) => s.buckets.length > 0);
    if (list.length === 0) continue;
    const meta = await writeLevelSegment(
      segmentsDir,
      l.name,
      {
        tenant: input.tenant,
        level: { name: l.level, widthMs: l.widthMs },
        partitionStartMs: input.partitionStartMs,
        partitionEndMs: input.partitionEndMs,
        sources: [...sources],
        series: list,
      },
      input.compression !== undefined ? { compression: input.compression } : undefined,
    );
    out.push({ name: l.name, level: l.level, manifestEntry: manifestEntryOf(meta) });
  }
  return out;
}
