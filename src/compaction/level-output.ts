// Writing the level segments of a compaction task (segment/level-writer.ts does the format).
import type { Labels } from '../model/labels.js';
import type { RollupBuckets } from '../rollup/buckets.js';
import type { ManifestSegment } from '../segment/manifest.js';
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

export async function openLevelSource(dir: string): Promise<LevelSource> {
  throw new Error(`level segments are not available in this build: ${dir}`);
}

export async function writeLevels(
  _segmentsDir: string,
  input: { tenant: string; partitionStartMs: number; partitionEndMs: number; levels: readonly { level: string; widthMs: number; name: string }[] },
  _sources: readonly string[],
  _series: readonly LevelSeriesBuckets[][],
): Promise<LevelOutputMeta[]> {
  if (input.levels.length > 0) throw new Error('level segments are not available in this build');
  return [];
}
