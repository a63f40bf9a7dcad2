// The level side of a compaction task: streams a level partition's series into one level segment
// per level (segment/level-writer.ts does the format) and opens them for the engine.
import type { Labels } from '../model/labels.js';
import type { RollupBuckets } from '../rollup/buckets.js';
import { manifestEntryOf, type ManifestSegment } from '../segment/manifest.js';
import type { SegmentCompression } from '../segment/codecs.js';
import { LevelSegmentStreamWriter, type WriteLevelSegmentOptions } from '../segment/level-writer.js';
import { LevelSegmentReader, type LevelSegmentOpenOptions } from '../segment/level-reader.js';
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

export function openLevelSource(dir: string, opts?: LevelSegmentOpenOptions): Promise<LevelSource> {
  return LevelSegmentReader.open(dir, opts);
}

export interface LevelOutputInput {
  tenant: string;
  partitionStartMs: number;
  partitionEndMs: number;
  levels: readonly { level: string; widthMs: number; name: string }[];
  compression?: SegmentCompression;
}

/** One streaming level writer per level: series go in, in label order, as the task merges them. */
export class LevelOutputs {
  private constructor(private readonly writers: LevelSegmentStreamWriter[], private readonly input: LevelOutputInput) {}

  static async open(segmentsDir: string, input: LevelOutputInput, sources: readonly string[], opts?: Omit<WriteLevelSegmentOptions, 'compression'>): Promise<LevelOutputs> {
    const writers: LevelSegmentStreamWriter[] = [];
    try {
      for (const l of input.levels) {
        writers.push(
          await LevelSegmentStreamWriter.create(
            segmentsDir,
            l.name,
            { tenant: input.tenant, level: { name: l.level, widthMs: l.widthMs }, partitionStartMs: input.partitionStartMs, partitionEndMs: input.partitionEndMs, sources: [...sources] },
            { ...opts, ...(input.compression !== undefined ? { compression: input.compression } : {}) },
          ),
        );
      }
    } catch (e) {
      await Promise.all(writers.map((w) => w.abort()));
      throw e;
    }
    return new LevelOutputs(writers, input);
  }

  /** Appends one series' buckets at every level (perLevel[i] for input.levels[i]). */
  add(labels: Labels, perLevel: readonly RollupBuckets[]): void {
    for (let i = 0; i < this.writers.length; i++) this.writers[i]!.add(labels, perLevel[i]!);
  }

  /** Encoded bucket bytes held at once by the writers together, at most (the memory bound, counted per writer and summed). */
  get heldBytesMax(): number {
    let m = 0;
    for (const w of this.writers) m += w.heldBytesMax;
    return m;
  }

  /** Bytes the writers wrote to their buckets.arrow files. */
  get bytesWritten(): number {
    let m = 0;
    for (const w of this.writers) m += w.bytesWrittenToFile;
    return m;
  }

  /**
   * Finishes every level segment. A level without any bucket (cannot happen for a partition with
   * samples) is not written.
   */
  async finish(): Promise<LevelOutputMeta[]> {
    const out: LevelOutputMeta[] = [];
    for (let i = 0; i < this.writers.length; i++) {
      const w = this.writers[i]!;
      if (w.seriesCount === 0) {
        await w.abort();
        continue;
      }
      const meta = await w.finish();
      out.push({ name: this.input.levels[i]!.name, level: this.input.levels[i]!.level, manifestEntry: manifestEntryOf(meta) });
    }
    return out;
  }

  /** Removes every level segment written or being written (the task failed). */
  async abort(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.abort()));
  }
}
