// The storage facade: ties the write path (WAL -> memtable -> flush to segments) and the read
// path (one Querier over memtable and segments) together, per tenant.
//
// Invariants and ordering rules:
// - append() encodes its WAL records and inserts into the active head in the same tick, so a
//   WAL cut and a memtable freeze always split the data at the same point.
// - An append resolves only when its WAL batch is durable (per the fsync policy).
// - Back-pressure refuses an append (429) before anything of it is encoded: memtables plus
//   registries above memtableTotalBytesMax, or the WAL queue above walPendingBytesMax.
// - Flushes run one at a time. A flush freezes every tenant's head, cuts the WAL at N, re-logs
//   every retained series definition and every buffered exemplar after the cut (so WAL segments
//   <= N can go), writes the frozen heads as segments in a worker, swaps the manifest (which
//   records that WAL <= N is covered), and only then truncates the WAL. A crash anywhere replays either the WAL or finds
//   the segments; never neither.
// - Readers take a reference to the current segment set. Each segment reader counts the sets
//   that hold it; when the last one goes (replaced and no querier holds it), the reader is closed
//   and, if compaction or retention removed its segment from the manifest, its directory deleted.
// - Flushes and compaction steps (one partition merge, one day's level build, or one retention drop)
//   change the manifest one at a time on one chain: each plans from the manifest it finds,
//   allocates segment names above every name handed out, and swaps it (writeManifest) before the
//   next starts. A compaction step is two turns on the chain -- plan (reserving its output names),
//   then swap -- with its worker task in between off the chain, so a flush never waits for a task
//   (which can run for minutes); flushes only add segments, so the task's inputs are still listed
//   at its swap, which keeps what the flushes added. A crash at any point leaves the old or the
//   new manifest; directories it does not list are removed at the next start.
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { MEMTABLE_BYTES_MAX, MEMTABLE_TOTAL_BYTES_MAX, PARTITION_MS, WAL_PENDING_BYTES_MAX } from './constants.js';
import { partitionKey, planCompaction, type PartitionWork, type PlannedSegment } from './compaction/planner.js';
import type { CompactionTaskInput } from './compaction/compact-task.js';
import { segmentName } from './segment/format.js';
import { RAW_LEVEL, type RetentionByLevel } from './rollup/levels.js';
import { openLevelSource } from './compaction/level-output.js';
import { MochaError } from './errors.js';
import { CompactionPool } from './compaction/pool.js';
import type { FlushTaskInput } from './compaction/flush-task.js';
import { SeriesRegistry } from './memtable/series-registry.js';
import { Head } from './memtable/head.js';
import { Wal, type WalFsyncPolicy, type WalRecord } from './wal/wal.js';
import type { WalExemplar } from './wal/records.js';
import { SegmentReader } from './segment/reader.js';
import { manifestEntryOf, readManifest, removeOrphanSegments, writeManifest, type Manifest, type ManifestSegment } from './segment/manifest.js';
import { registerArrowCodecs } from './segment/codecs.js';
import { RoaringBitmap32 } from './model/postings.js';
import { compareLabels, type Labels } from './model/labels.js';
import type { Matcher } from './model/matchers.js';
import type { BatchHints, CacheBudget, BucketSelection, BucketSource, LazySelection, LoadedSamples, Querier, SelectHints, SeriesData, SeriesSource, SourceSeries } from './model/querier.js';
import { BucketQuerier } from './rollup/bucket-querier.js';
import { DEFAULT_ROLLUP_LEVELS_TEXT, parseRollupLevels, type RollupLevel } from './rollup/levels.js';
import { batchOfSeries, type AppendBatch, type AppendSeries } from './model/write.js';

export interface EngineOptions {
  dataDir: string;
  logger: Logger;
  walFsync?: WalFsyncPolicy;
  walSegmentBytesMax?: number;
  /** The active memtable is flushed when its estimated size passes this. */
  memtableBytesMax?: number;
  /** Writes get 429 while active plus frozen memtables and the series registries exceed this. */
  memtableTotalBytesMax?: number;
  /** Writes get 429 while the WAL's group-commit queue holds more than this many bytes. */
  walPendingBytesMax?: number;
  /** The exemplar store: fed from the WAL at start, re-logged after each flush's WAL cut. */
  exemplarLog?: ExemplarLog;
  /** A non-empty memtable is flushed at least this often (default: one partition, 2 h). */
  flushIntervalMs?: number;
  /** How often the flush conditions are checked. */
  flushCheckIntervalMs?: number;
  compactionWorkers?: number;
  /**
   * Rollup levels compaction builds and queries may read, finest first; default
   * parseRollupLevels(DEFAULT_ROLLUP_LEVELS_TEXT).
   */
  rollupLevels?: readonly RollupLevel[];
  /** How long each level's data is kept, by level name ("raw", "5m", ...); absent: forever. */
  retention?: RetentionByLevel;
  /** Compaction runs this often and after each flush; 0 or absent: only when compact() is called. */
  compactionIntervalMs?: number;
  /** Test hook: wait this long between a compaction task's output and its manifest swap. */
  compactionSwapDelayMs?: number;
}

/** What one compaction run did (the admin endpoint's answer). */
export interface CompactionSummary {
  /** Partitions whose merge or level build was swapped in. */
  partitions: number;
  /** Raw segments replaced by merged ones, and merged raw segments written. */
  segmentsMerged: number;
  rawSegmentsWritten: number;
  levelSegmentsWritten: number;
  /** Level segments replaced or no longer configured. */
  levelSegmentsRemoved: number;
  /** Segments dropped because their level's retention passed. */
  segmentsExpired: number;
  /** Samples read by merges (duplicates included) and samples written. */
  samplesIn: number;
  samplesOut: number;
  failures: number;
  durationMs: number;
}

/** What the engine needs of the exemplar store to keep it durable (src/exemplars/store.ts). */
export interface ExemplarLog {
  /** Exemplars read back from the WAL at start, in log order. */
  replay(tenant: string, exemplars: readonly WalExemplar[]): void;
  /** Everything held now, per tenant, oldest first: logged again after a WAL cut. */
  retained(): Iterable<{ tenant: string; exemplars: readonly WalExemplar[] }>;
}

/** Writes refused with 429, by cause. */
export interface BackpressureStats {
  memtable: number;
  wal: number;
}

export interface EngineStats {
  tenants: number;
  seriesActive: number;
  memtableBytes: number;
  memtableSamples: number;
  frozenMemtables: number;
  segments: number;
  segmentBytes: number;
  samplesAppended: number;
  seriesCreated: number;
  flushes: number;
  flushFailures: number;
  flushDurationMsTotal: number;
  lastFlushDurationMs: number;
  /** Estimated bytes of the series registries (counted in the memtable bound). */
  registryBytes: number;
  /** Live segments and their bytes per level ("raw", "5m", ...). */
  segmentsByLevel: Record<string, { segments: number; bytes: number }>;
  compactions: number;
  compactionFailures: number;
  compactionDurationMsTotal: number;
  compactionSamplesMerged: number;
  compactionSegmentsExpired: number;
}

/** The segments readable at one moment; reference-counted so a swap never closes a reader in use. */
class SegmentSet {
  private refs = 1; // the engine's own reference
  constructor(
    /** Raw segments per tenant, oldest first (merge order: a later segment wins on equal timestamps). */
    readonly byTenant: ReadonlyMap<string, readonly SegmentReader[]>,
    /** Rollup level segments per tenant (segment/level-reader.ts), any order. */
    readonly levelsByTenant: ReadonlyMap<string, readonly LevelSource[]> = new Map(),
  ) {}

  acquire(): this {
    this.refs++;
    return this;
  }

  /** Returns true when the last reference is gone. */
  release(): boolean {
    this.refs--;
    if (this.refs < 0) throw new Error('SegmentSet released more often than acquired');
    return this.refs === 0;
  }
}

/** A level segment as the engine holds it: read by queriers, closed by the engine. */
export interface LevelSource extends BucketSource {
  readonly name: string;
  close(): void;
}

/**
 * Segments opened at once at start-up. An open is a chain of small awaits (file reads and zstd
 * decompressions on libuv's pool of 4 threads) between pieces of main-thread parsing and CRC;
 * one at a time left the main thread idle ~30% of the open (bench/README.md, start-up).
 */
const SEGMENT_OPEN_CONCURRENCY = 4;

/** What a segment set holds and the engine closes: raw segment readers and level sources. */
type HeldSegment = SegmentReader | LevelSource;

/** A planned compaction step: the task's input and the segment names reserved for its outputs. */
interface CompactionJob {
  work: PartitionWork;
  input: CompactionTaskInput;
  outputs: string[];
  /** The manifest's nextSegmentSeq once the outputs are in it (at least). */
  nextSegmentSeq: number;
}

/** A compaction task's outputs, written and open, waiting for the manifest swap. */
interface CompactionJobDone {
  job: CompactionJob;
  added: ManifestSegment[];
  opened: Map<string, HeldSegment>;
  levelsWritten: number;
}

function segmentsOf(set: SegmentSet): HeldSegment[] {
  const out: HeldSegment[] = [];
  for (const list of set.byTenant.values()) out.push(...list);
  for (const list of set.levelsByTenant.values()) out.push(...list);
  return out;
}

interface TenantState {
  readonly tenant: string;
  readonly registry: SeriesRegistry;
  active: Head;
  /** Frozen heads being flushed, oldest first; queryable until their segments are in the manifest. */
  frozen: Head[];
}

export class Engine {
  private readonly tenants = new Map<string, TenantState>();
  private segmentSet: SegmentSet;
  private manifest: Manifest;
  /** Flushes and compaction steps, one at a time (see the ordering rules at the top). */
  private flushChain: Promise<void> = Promise.resolve();
  /** Compaction runs, one at a time. */
  private compactionChain: Promise<unknown> = Promise.resolve();
  private compactionRunning = false;
  private compactionAgain = false;
  /** Segment sequence numbers below this may be taken by a running compaction task's outputs (not yet in the manifest). */
  private segmentSeqReserved = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private compactionTimer: NodeJS.Timeout | undefined;
  /** Segment sets holding each open segment; where its directory is. */
  private readonly segmentRefs = new Map<HeldSegment, number>();
  private readonly segmentIds = new Map<HeldSegment, { tenant: string; name: string }>();
  /** Directory deletions of segments released after compaction or retention removed them. */
  private readonly pendingDeletes = new Set<Promise<void>>();
  private activeSinceMs = Date.now();
  private closed = false;
  private readonly statsCounters = {
    samplesAppended: 0,
    seriesCreated: 0,
    flushes: 0,
    flushFailures: 0,
    flushDurationMsTotal: 0,
    lastFlushDurationMs: 0,
    compactions: 0,
    compactionFailures: 0,
    compactionDurationMsTotal: 0,
    compactionSamplesMerged: 0,
    compactionSegmentsExpired: 0,
  };
  private readonly memtableBytesMax: number;
  private readonly memtableTotalBytesMax: number;
  private readonly walPendingBytesMax: number;
  private readonly flushIntervalMs: number;
  private readonly backpressure: BackpressureStats = { memtable: 0, wal: 0 };
  private flushRequested = false;

  private constructor(
    private readonly opts: EngineOptions,
    private readonly wal: Wal,
    private readonly pool: CompactionPool,
    manifest: Manifest,
    segmentSet: SegmentSet,
  ) {
    this.manifest = manifest;
    this.segmentSet = segmentSet;
    this.holdSet(segmentSet);
    this.memtableBytesMax = opts.memtableBytesMax ?? MEMTABLE_BYTES_MAX;
    this.memtableTotalBytesMax = opts.memtableTotalBytesMax ?? Math.max(MEMTABLE_TOTAL_BYTES_MAX, 3 * this.memtableBytesMax);
    this.flushIntervalMs = opts.flushIntervalMs ?? PARTITION_MS;
    this.walPendingBytesMax = opts.walPendingBytesMax ?? WAL_PENDING_BYTES_MAX;
    if (!(this.walPendingBytesMax > 0)) throw new Error(`walPendingBytesMax must be positive, got ${this.walPendingBytesMax}`);
    if (!(this.memtableTotalBytesMax > this.memtableBytesMax)) {
      throw new Error(`memtableTotalBytesMax (${this.memtableTotalBytesMax}) must exceed memtableBytesMax (${this.memtableBytesMax})`);
    }
  }

  static async open(opts: EngineOptions): Promise<Engine> {
    const log = opts.logger;
    const openStarted = performance.now();
    registerArrowCodecs();
    await fs.mkdir(opts.dataDir, { recursive: true });
    const manifest = await readManifest(opts.dataDir);
    const orphans = await removeOrphanSegments(opts.dataDir, manifest);
    if (orphans.length > 0) log.warn({ orphans }, 'removed segment directories not listed in the manifest (leftovers of an interrupted flush)');

    // Opening checks every file's size and CRC (docs/format/segment.md): most of a start-up.
    const opened = await openSegments(opts.dataDir, manifest.segments);
    const segmentsOpenMs = Math.round(performance.now() - openStarted);
    const segmentSet = setOf(manifest, opened);

    const wal = await Wal.open({
      dir: path.join(opts.dataDir, 'wal'),
      fsync: opts.walFsync ?? 'batch',
      ...(opts.walSegmentBytesMax !== undefined ? { segmentBytesMax: opts.walSegmentBytesMax } : {}),
      logger: log,
    });
    const engine = new Engine(opts, wal, new CompactionPool(opts.compactionWorkers), manifest, segmentSet);
    for (const [key, seg] of opened) engine.segmentIds.set(seg, idOfKey(key));

    // Replay: rebuild registries and the active heads from WAL segments not yet covered by segments.
    let unknownRefSamples = 0;
    const started = performance.now();
    const report = await wal.replay(manifest.walCoveredThroughSegment + 1, (rec) => {
      if (rec.type === 'exemplars') {
        opts.exemplarLog?.replay(rec.tenant, rec.exemplars);
        return;
      }
      const t = engine.tenantState(rec.tenant);
      if (rec.type === 'series') {
        for (let i = 0; i < rec.refs.length; i++) t.registry.restore(rec.refs[i]!, rec.labels[i]!);
      } else {
        const { refs, timestampsMs, values } = rec;
        for (let i = 0; i < refs.length; i++) {
          const ref = refs[i]!;
          if (!t.registry.hasRef(ref)) {
            unknownRefSamples++;
            continue;
          }
          t.active.append(ref, timestampsMs[i]!, values[i]!);
        }
      }
    });
    if (unknownRefSamples > 0) {
      log.warn({ unknownRefSamples }, 'WAL replay skipped samples whose series definition was lost with a damaged WAL segment');
    }
    log.info(
      // durationMs: the whole open (segments, then the WAL replay); each part on its own too.
      { ...report, durationMs: Math.round(performance.now() - openStarted), segmentsOpenMs, walReplayMs: Math.round(performance.now() - started), segments: manifest.segments.length },
      'storage opened',
    );
    engine.startFlushTimer();
    engine.startCompactionTimer();
    return engine;
  }

  private tenantState(tenant: string): TenantState {
    let t = this.tenants.get(tenant);
    if (!t) {
      const registry = new SeriesRegistry();
      t = { tenant, registry, active: new Head(registry), frozen: [] };
      this.tenants.set(tenant, t);
    }
    return t;
  }

  /**
   * Appends validated series and exemplars; resolves once durable in the WAL. onLogged runs
   * synchronously once the records are encoded (the exemplar store inserts there, so a flush's
   * WAL cut never separates what is stored from what is logged). Throws TOO_MANY_REQUESTS under
   * back-pressure, before anything is logged, so a retry cannot double anything.
   */
  append(tenant: string, series: readonly AppendSeries[], exemplars: readonly WalExemplar[] = [], onLogged?: () => void): Promise<void> {
    return this.appendBatch(tenant, batchOfSeries(series), exemplars, onLogged);
  }

  /** append() for a columnar batch (the ingest pipeline's path: no object per series). */
  appendBatch(tenant: string, batch: AppendBatch, exemplars: readonly WalExemplar[] = [], onLogged?: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new MochaError('SHUTTING_DOWN', 'storage is shutting down'));
    const memBytes = this.memtableBytes();
    if (memBytes > this.memtableTotalBytesMax) {
      this.backpressure.memtable++;
      // A flush is what frees memory: the frozen heads go to segments and the registries forget
      // series without recent samples. Ask for one (it also runs when there is nothing to write).
      this.requestFlush();
      return Promise.reject(
        new MochaError(
          'TOO_MANY_REQUESTS',
          `memtables and series registries hold ${memBytes} bytes, above the limit of ${this.memtableTotalBytesMax}: flushes are behind; retry later`,
        ),
      );
    }
    const walPending = this.wal.pendingBytes();
    if (walPending > this.walPendingBytesMax) {
      this.backpressure.wal++;
      return Promise.reject(
        new MochaError('TOO_MANY_REQUESTS', `the WAL has ${walPending} bytes waiting to be written, above the limit of ${this.walPendingBytesMax}: the disk is behind; retry later`),
      );
    }
    const t = this.tenantState(tenant);
    const { series, offsets } = batch;
    const count = series.length;
    const total = offsets[count]!;
    const refsPerSeries = new Uint32Array(count);
    const sampleRefs = new Uint32Array(total);
    let newRefs: number[] | undefined;
    let newLabels: Labels[] | undefined;
    const registry = t.registry;
    const epoch = registry.epoch;
    for (let i = 0; i < count; i++) {
      const s = series[i]!;
      const memo = s.refMemo;
      let ref: number | undefined;
      // A label set from a decoder's cache remembers its ref: no lookup by key (see SeriesRefMemo).
      if (memo !== undefined && memo.registry === registry && memo.epoch === epoch) ref = memo.ref;
      else {
        ref = registry.getRef(s.key);
        if (ref === undefined) {
          ref = registry.create(s.labels, s.key);
          (newRefs ??= []).push(ref);
          (newLabels ??= []).push(s.labels);
        }
        if (memo !== undefined) {
          memo.registry = registry;
          memo.epoch = epoch;
          memo.ref = ref;
        }
      }
      refsPerSeries[i] = ref;
      for (let j = offsets[i]!, end = offsets[i + 1]!; j < end; j++) sampleRefs[j] = ref;
    }
    // The batch's columns go to the WAL encoder as they are (it copies them into its arena).
    const timestampsMs = batch.timestampsMs.length === total ? batch.timestampsMs : batch.timestampsMs.subarray(0, total);
    const values = batch.values.length === total ? batch.values : batch.values.subarray(0, total);
    const records: WalRecord[] = [];
    if (newRefs !== undefined) records.push({ type: 'series', tenant, refs: Uint32Array.from(newRefs), labels: newLabels! });
    if (total > 0) records.push({ type: 'samples', tenant, refs: sampleRefs, timestampsMs, values });
    if (exemplars.length > 0) records.push({ type: 'exemplars', tenant, exemplars });
    if (records.length === 0) return Promise.resolve();
    const durable = this.wal.append(records);
    onLogged?.();
    // Same tick as the WAL encode: see the ordering rule at the top.
    if (total > 0) t.active.appendBatch(refsPerSeries, offsets, timestampsMs, values);
    this.statsCounters.samplesAppended += total;
    this.statsCounters.seriesCreated += newRefs?.length ?? 0;
    if (this.activeBytes() > this.memtableBytesMax) this.requestFlush();
    return durable;
  }

  private requestFlush(): void {
    if (this.flushRequested || this.closed) return;
    this.flushRequested = true;
    void this.flush().catch(() => undefined);
  }

  /** Series in the tenant's memtable registry (the "active series" of the ingest limits). */
  seriesCount(tenant: string): number {
    return this.tenants.get(tenant)?.registry.size ?? 0;
  }

  hasSeries(tenant: string, key: string): boolean {
    return this.tenants.get(tenant)?.registry.getRef(key) !== undefined;
  }

  private activeBytes(): number {
    let b = 0;
    for (const t of this.tenants.values()) b += t.active.bytesEstimate();
    return b;
  }

  /** Heads and registries: what back-pressure bounds. */
  private memtableBytes(): number {
    let b = 0;
    for (const t of this.tenants.values()) {
      b += t.registry.bytesEstimate() + t.active.bytesEstimate();
      for (const f of t.frozen) b += f.bytesEstimate();
    }
    return b;
  }

  private startFlushTimer(): void {
    const every = this.opts.flushCheckIntervalMs ?? 30_000;
    this.flushTimer = setInterval(() => {
      const hasData = [...this.tenants.values()].some((t) => t.active.sampleCount > 0);
      if (hasData && Date.now() - this.activeSinceMs >= this.flushIntervalMs) void this.flush().catch(() => undefined);
    }, every);
    this.flushTimer.unref();
  }

  /** Freezes the memtables and writes them as segments; resolves when they are on disk and in the manifest. */
  flush(): Promise<void> {
    return this.serial(() => this.flushOnce());
  }

  /** Runs fn after every flush and compaction step queued before it, alone. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.flushChain.then(fn);
    // Keep the chain alive after a failure; the caller still sees the error.
    this.flushChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async flushOnce(): Promise<void> {
    this.flushRequested = false;
    if (this.closed) return;
    const started = performance.now();
    // 1. Freeze, in one tick with the WAL cut.
    const frozenNow: Array<{ t: TenantState; head: Head }> = [];
    for (const t of this.tenants.values()) {
      if (t.active.sampleCount === 0) continue;
      const head = t.active;
      head.freeze();
      t.frozen.push(head);
      t.active = new Head(t.registry);
      frozenNow.push({ t, head });
    }
    // Retry heads left frozen by an earlier failed flush too.
    const toWrite: Array<{ t: TenantState; head: Head }> = [];
    for (const t of this.tenants.values()) for (const head of t.frozen) toWrite.push({ t, head });
    if (toWrite.length === 0) {
      // Nothing to write, but back-pressure may have asked because the registries are big:
      // forget series that no head references (their definitions stay in the WAL until cut).
      for (const t of this.tenants.values()) t.registry.retainOnly(t.active.refs());
      return;
    }
    this.activeSinceMs = Date.now();
    const walCut = this.wal.cut();
    // 2. Re-log every series still referenced, so WAL segments <= walCut can be deleted.
    const dump: WalRecord[] = [];
    for (const t of this.tenants.values()) {
      const keep = new RoaringBitmap32();
      for (const h of [t.active, ...t.frozen]) keep.orInPlace(h.refs());
      t.registry.retainOnly(keep);
      const refs = keep.toUint32Array();
      if (refs.length > 0) dump.push({ type: 'series', tenant: t.tenant, refs, labels: Array.from(refs, (r) => t.registry.labelsOf(r)) });
    }
    // Exemplars are not in segments: log the ones still buffered again, after the cut.
    for (const { tenant, exemplars } of this.opts.exemplarLog?.retained() ?? []) {
      if (exemplars.length > 0) dump.push({ type: 'exemplars', tenant, exemplars });
    }
    const dumpDurable = dump.length > 0 ? this.wal.append(dump) : Promise.resolve();
    try {
      // 3. Encode and write segments in a worker, one tenant head at a time.
      const added: ManifestSegment[] = [];
      let nextSeq = this.nextSegmentSeq();
      for (const { t, head } of toWrite) {
        const packed = head.pack();
        const input: FlushTaskInput = {
          dataDir: this.opts.dataDir,
          tenant: t.tenant,
          firstSegmentSeq: nextSeq,
          labelsJson: packed.labelsJson,
          offsets: packed.offsets,
          timestampsMs: packed.timestampsMs,
          values: packed.values,
        };
        const out = await this.pool.runFlush(input);
        nextSeq = out.nextSegmentSeq;
        for (const m of out.segments) added.push(manifestEntryOf(m));
      }
      // 4. Open readers before the swap so a failure leaves the old state untouched.
      const opened = new Map<string, HeldSegment>();
      try {
        for (const seg of added) opened.set(segmentKey(seg), await openSegment(this.opts.dataDir, seg, true));
      } catch (e) {
        for (const r of opened.values()) r.close();
        throw e;
      }
      await dumpDurable;
      const manifest: Manifest = {
        formatVersion: 1,
        walCoveredThroughSegment: walCut,
        nextSegmentSeq: nextSeq,
        segments: [...this.manifest.segments, ...added],
      };
      try {
        await writeManifest(this.opts.dataDir, manifest);
      } catch (e) {
        for (const r of opened.values()) r.close();
        throw e;
      }
      // 5. Swap: readers see segments instead of the frozen heads, in one tick.
      this.swapSet(manifest, opened);
      for (const { t, head } of toWrite) t.frozen = t.frozen.filter((h) => h !== head);
      // 6. The WAL up to the cut is now covered by segments.
      await this.wal.truncate(walCut);
      const ms = performance.now() - started;
      this.statsCounters.flushes++;
      this.statsCounters.flushDurationMsTotal += ms;
      this.statsCounters.lastFlushDurationMs = ms;
      this.opts.logger.info(
        { segments: added.length, samples: added.reduce((a, s) => a + s.sampleCount, 0), durationMs: Math.round(ms), walCut },
        'flushed memtable to segments',
      );
      if (this.autoCompaction()) this.requestCompaction();
    } catch (e) {
      this.statsCounters.flushFailures++;
      this.opts.logger.error({ err: e }, 'flush failed; the frozen memtable stays in memory and in the WAL, and is retried at the next flush');
      throw e;
    }
  }

  /** A querier over one tenant's data as of now. Call close() when done. */
  querier(tenant: string): Querier {
    const set = this.segmentSet.acquire();
    const t = this.tenants.get(tenant);
    const segments = set.byTenant.get(tenant) ?? [];
    const sources: SeriesSource[] = [...segments];
    const sourceNames: (string | undefined)[] = segments.map((r) => r.meta.name);
    if (t) sources.push(...t.frozen, t.active);
    return new MergingQuerier(sources, () => this.releaseSet(set), {
      rollupLevels: this.rollupLevels,
      levelSources: set.levelsByTenant.get(tenant) ?? [],
      sourceNames,
    });
  }

  /** The rollup levels queries may read, finest first. */
  get rollupLevels(): readonly RollupLevel[] {
    return (this.rollupLevelsResolved ??= this.opts.rollupLevels ?? parseRollupLevels(DEFAULT_ROLLUP_LEVELS_TEXT));
  }
  private rollupLevelsResolved: readonly RollupLevel[] | undefined;


  /**
   * Drops a reference to a set. When it was the last, the set lets go of its segments; a segment
   * no set holds any more is closed, and its directory deleted unless the manifest still lists it
   * (only at close(), when the current set is let go too).
   */
  private releaseSet(set: SegmentSet): void {
    if (!set.release()) return;
    for (const seg of segmentsOf(set)) {
      const n = (this.segmentRefs.get(seg) ?? 0) - 1;
      if (n > 0) {
        this.segmentRefs.set(seg, n);
        continue;
      }
      this.segmentRefs.delete(seg);
      seg.close();
      const id = this.segmentIds.get(seg);
      this.segmentIds.delete(seg);
      if (id === undefined || this.closed) continue;
      if (this.manifest.segments.some((m) => m.tenant === id.tenant && m.name === id.name)) continue;
      const dir = segmentDir(this.opts.dataDir, id);
      const del = fs
        .rm(dir, { recursive: true, force: true })
        .catch((e: unknown) => this.opts.logger.warn({ err: e, dir }, 'could not delete a removed segment directory; it is removed at the next start'))
        .finally(() => this.pendingDeletes.delete(del));
      this.pendingDeletes.add(del);
    }
  }

  /** Counts a new set's hold on each of its segments. */
  private holdSet(set: SegmentSet): void {
    for (const seg of segmentsOf(set)) this.segmentRefs.set(seg, (this.segmentRefs.get(seg) ?? 0) + 1);
  }

  /**
   * Makes `manifest` (already written) current: its segments are the current set's readers plus
   * `opened` (readers of the segments it adds), in manifest order. Lets go of the old set.
   */
  private swapSet(manifest: Manifest, opened: ReadonlyMap<string, HeldSegment>): void {
    const byKey = new Map<string, HeldSegment>();
    for (const seg of segmentsOf(this.segmentSet)) {
      const id = this.segmentIds.get(seg);
      if (id !== undefined) byKey.set(segmentKey(id), seg);
    }
    for (const [key, seg] of opened) {
      byKey.set(key, seg);
      this.segmentIds.set(seg, idOfKey(key));
    }
    const next = setOf(manifest, byKey);
    this.holdSet(next);
    this.manifest = manifest;
    const old = this.segmentSet;
    this.segmentSet = next;
    this.releaseSet(old);
  }

  /** Waits for the deletions of removed segment directories started so far. */
  private async settleDeletes(): Promise<void> {
    while (this.pendingDeletes.size > 0) await Promise.all([...this.pendingDeletes]);
  }

  private autoCompaction(): boolean {
    return (this.opts.compactionIntervalMs ?? 0) > 0;
  }

  private startCompactionTimer(): void {
    if (!this.autoCompaction()) return;
    this.compactionTimer = setInterval(() => this.requestCompaction(), this.opts.compactionIntervalMs);
    this.compactionTimer.unref();
  }

  /** Starts a background compaction run of settled partitions, or one more after the running one. */
  private requestCompaction(): void {
    if (this.closed) return;
    if (this.compactionRunning) {
      this.compactionAgain = true;
      return;
    }
    this.compactionRunning = true;
    void (async () => {
      try {
        do {
          this.compactionAgain = false;
          await this.compact({ force: false });
        } while (this.compactionAgain && !this.closed);
      } catch {
        // logged by the run
      } finally {
        this.compactionRunning = false;
      }
    })();
  }

  /**
   * Compacts: drops segments past retention, merges each raw partition's segments into one and
   * builds each day's rollup levels from all its raw segments (compaction/planner.ts). force:
   * every partition and day, also the ones the memtable may still write to (the admin call);
   * otherwise only partitions (days) that ended a flush interval ago.
   * Resolves when done; a partition that fails is logged, counted and left as it was.
   */
  compact(opts: { force?: boolean; tenant?: string } = {}): Promise<CompactionSummary> {
    const run = this.compactionChain.then(() => this.compactionRun(opts.force ?? true, opts.tenant));
    this.compactionChain = run.catch(() => undefined);
    return run;
  }

  private async compactionRun(force: boolean, tenant: string | undefined): Promise<CompactionSummary> {
    const started = performance.now();
    const summary: CompactionSummary = {
      partitions: 0,
      segmentsMerged: 0,
      rawSegmentsWritten: 0,
      levelSegmentsWritten: 0,
      levelSegmentsRemoved: 0,
      segmentsExpired: 0,
      samplesIn: 0,
      samplesOut: 0,
      failures: 0,
      durationMs: 0,
    };
    // Partitions done or failed in this run are not planned again by it.
    const visited = new Set<string>();
    while (!this.closed) {
      const did = await this.compactionStep(force, tenant, visited, summary);
      if (!did) break;
    }
    await this.settleDeletes();
    summary.durationMs = performance.now() - started;
    if (summary.partitions + summary.segmentsExpired + summary.failures > 0) this.opts.logger.info(summary, 'compaction run done');
    return summary;
  }

  /**
   * One unit of compaction work; false when nothing is left. Planning (and a retention drop) and
   * the manifest swap run alone on the flush chain; the task in between (seconds to minutes for a
   * big day) runs off it, so a flush waits for neither the task nor a free worker (pool.ts).
   */
  private async compactionStep(force: boolean, tenant: string | undefined, visited: Set<string>, summary: CompactionSummary): Promise<boolean> {
    const job = await this.serial(async () => this.planCompactionStep(force, tenant, visited, summary));
    if (typeof job === 'boolean') return job;
    const started = performance.now();
    try {
      const done = await this.runCompactionJob(job, summary);
      await this.serial(async () => this.swapCompactionJob(done, summary));
      this.statsCounters.compactions++;
    } catch (e) {
      summary.failures++;
      this.statsCounters.compactionFailures++;
      this.opts.logger.error(
        { err: e, tenant: job.work.tenant, partitionStartMs: job.work.partitionStartMs },
        'compaction of a partition failed; its segments stay as they were and it is tried again at the next run',
      );
    } finally {
      this.statsCounters.compactionDurationMsTotal += performance.now() - started;
    }
    return true;
  }

  /**
   * On the chain: drops expired segments (true), or picks the next partition and reserves the
   * segment names of its outputs (a job), or finds nothing left (false).
   */
  private async planCompactionStep(force: boolean, tenant: string | undefined, visited: Set<string>, summary: CompactionSummary): Promise<CompactionJob | boolean> {
    if (this.closed) return false;
    const nowMs = Date.now();
    const plan = planCompaction(this.manifest.segments as readonly PlannedSegment[], {
      nowMs,
      levels: this.rollupLevels,
      retention: this.opts.retention ?? new Map(),
      settledBeforeMs: force ? Infinity : nowMs - this.flushIntervalMs,
      ...(tenant !== undefined ? { tenant } : {}),
    });
    if (plan.expired.length > 0) {
      const gone = new Set(plan.expired.map(segmentKey));
      const manifest: Manifest = { ...this.manifest, segments: this.manifest.segments.filter((s) => !gone.has(segmentKey(s))) };
      await writeManifest(this.opts.dataDir, manifest);
      this.swapSet(manifest, new Map());
      summary.segmentsExpired += plan.expired.length;
      this.statsCounters.compactionSegmentsExpired += plan.expired.length;
      this.opts.logger.info({ segments: plan.expired.map((s) => `${s.tenant}/${s.name}`) }, 'dropped segments past their retention');
      return true;
    }
    const work = plan.partitions.find((p) => !visited.has(partitionKey(p.tenant, p.partitionStartMs, p.partitionEndMs)));
    if (work === undefined) return false;
    visited.add(partitionKey(work.tenant, work.partitionStartMs, work.partitionEndMs));
    // Names from above every name handed out: flushes during the task allocate after them.
    let seq = this.nextSegmentSeq();
    const input: CompactionTaskInput = {
      dataDir: this.opts.dataDir,
      tenant: work.tenant,
      partitionStartMs: work.partitionStartMs,
      partitionEndMs: work.partitionEndMs,
      inputs: work.raws.map((r) => r.name),
      levels: [],
    };
    if (work.merge) input.rawOutputName = segmentName('raw', work.partitionStartMs, seq++);
    for (const l of work.build) input.levels.push({ level: l.name, widthMs: l.widthMs, name: levelSegmentName(l.name, work.partitionStartMs, seq++) });
    this.segmentSeqReserved = seq;
    const outputs = [...(input.rawOutputName !== undefined ? [input.rawOutputName] : []), ...input.levels.map((l) => l.name)];
    return { work, input, outputs, nextSegmentSeq: seq };
  }

  /** The next free segment sequence number: the manifest's, or past the names a running compaction task reserved. */
  private nextSegmentSeq(): number {
    return Math.max(this.manifest.nextSegmentSeq, this.segmentSeqReserved);
  }

  /**
   * Off the chain: runs the task in the compaction worker and opens its outputs. The inputs stay
   * listed meanwhile (only compaction and retention remove segments, and they run one step at a
   * time); flushes may add segments, which the swap keeps.
   */
  private async runCompactionJob(job: CompactionJob, summary: CompactionSummary): Promise<CompactionJobDone> {
    const { work, input, outputs } = job;
    const opened = new Map<string, HeldSegment>();
    const added: ManifestSegment[] = [];
    let levelsWritten = 0;
    try {
      if (outputs.length > 0) {
        const out = await this.pool.runCompaction(input);
        if (out.raw !== undefined) added.push(manifestEntryOf(out.raw));
        for (const l of out.levels) added.push(l.manifestEntry);
        levelsWritten = out.levels.length;
        // One segment at a time, each its own event-loop turns (opening reads and checks files).
        for (const seg of added) opened.set(segmentKey(seg), await openSegment(this.opts.dataDir, seg, true));
        summary.samplesIn += out.samplesIn;
        summary.samplesOut += out.samplesOut;
        if (work.merge) this.statsCounters.compactionSamplesMerged += out.samplesIn;
        this.opts.logger.info(
          { tenant: work.tenant, partitionStartMs: work.partitionStartMs, partitionEndMs: work.partitionEndMs, inputs: input.inputs.length, outputs, series: out.seriesCount, samplesIn: out.samplesIn, samplesOut: out.samplesOut, batchSamplesMax: out.batchSamplesMax, durationMs: Math.round(out.durationMs), threadNice: out.threadPriority?.nice ?? out.threadPriority?.skipped },
          'compaction task done',
        );
      }
      const delayMs = this.opts.compactionSwapDelayMs ?? 0;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    } catch (e) {
      for (const r of opened.values()) r.close();
      // Written but never listed: not needed (and removed at the next start anyway).
      await this.removeOutputs(job);
      throw e;
    }
    return { job, added, opened, levelsWritten };
  }

  private async removeOutputs(job: CompactionJob): Promise<void> {
    await Promise.all(job.outputs.map((name) => fs.rm(segmentDir(this.opts.dataDir, { tenant: job.work.tenant, name }), { recursive: true, force: true }).catch(() => undefined)));
  }

  /** On the chain: one manifest swap adds the outputs and removes the inputs and replaced levels, from the manifest as it is now. */
  private async swapCompactionJob(done: CompactionJobDone, summary: CompactionSummary): Promise<void> {
    const { job, added, opened, levelsWritten } = done;
    const { work } = job;
    let swapping = false;
    const manifest: Manifest = { ...this.manifest, nextSegmentSeq: Math.max(this.manifest.nextSegmentSeq, job.nextSegmentSeq), segments: [] };
    try {
      if (this.closed) throw new Error('storage closed during compaction');
      const removed = new Set<string>(work.removeLevels.map(segmentKey));
      if (work.merge) for (const r of work.raws) removed.add(segmentKey(r));
      let placed = false;
      for (const s of this.manifest.segments) {
        if (!removed.has(segmentKey(s))) {
          manifest.segments.push(s);
          continue;
        }
        // The merged segment takes the place of the partition's first raw segment (segments a
        // flush added meanwhile come after it: newer data, and later wins).
        if (!placed && s.level === RAW_LEVEL) {
          manifest.segments.push(...added.filter((a) => a.level === RAW_LEVEL));
          placed = true;
        }
      }
      if (!placed) manifest.segments.push(...added.filter((a) => a.level === RAW_LEVEL));
      manifest.segments.push(...added.filter((a) => a.level !== RAW_LEVEL));
      swapping = true;
      await writeManifest(this.opts.dataDir, manifest);
    } catch (e) {
      for (const r of opened.values()) r.close();
      // Once the manifest write began, the file on disk may list the outputs: leave them to the next start.
      if (!swapping) await this.removeOutputs(job);
      throw e;
    }
    this.swapSet(manifest, opened);
    summary.partitions++;
    if (work.merge) {
      summary.segmentsMerged += work.raws.length;
      summary.rawSegmentsWritten++;
    }
    summary.levelSegmentsWritten += levelsWritten;
    summary.levelSegmentsRemoved += work.removeLevels.length;
  }

  tenantIds(): string[] {
    return [...new Set([...this.tenants.keys(), ...this.segmentSet.byTenant.keys()])].sort();
  }

  stats(): EngineStats {
    let seriesActive = 0;
    let memtableSamples = 0;
    let frozen = 0;
    let registryBytes = 0;
    for (const t of this.tenants.values()) {
      seriesActive += t.registry.size;
      registryBytes += t.registry.bytesEstimate();
      memtableSamples += t.active.sampleCount;
      for (const f of t.frozen) memtableSamples += f.sampleCount;
      frozen += t.frozen.length;
    }
    return {
      tenants: this.tenants.size,
      seriesActive,
      memtableBytes: this.memtableBytes(),
      memtableSamples,
      frozenMemtables: frozen,
      segments: this.manifest.segments.length,
      segmentBytes: this.manifest.segments.reduce((a, s) => a + s.bytes, 0),
      segmentsByLevel: this.segmentsByLevel(),
      registryBytes,
      ...this.statsCounters,
    };
  }

  /** Live segments and bytes per level; configured levels and raw appear even with none. */
  private segmentsByLevel(): Record<string, { segments: number; bytes: number }> {
    const out: Record<string, { segments: number; bytes: number }> = { [RAW_LEVEL]: { segments: 0, bytes: 0 } };
    for (const l of this.rollupLevels) out[l.name] = { segments: 0, bytes: 0 };
    for (const s of this.manifest.segments) {
      const e = (out[s.level] ??= { segments: 0, bytes: 0 });
      e.segments++;
      e.bytes += s.bytes;
    }
    return out;
  }

  /** Writes refused with 429 so far, by cause. */
  backpressureStats(): BackpressureStats {
    return { ...this.backpressure };
  }

  walStats(): ReturnType<Wal['stats']> {
    return this.wal.stats();
  }

  /**
   * Stops accepting writes, waits for a running flush, and closes the WAL (fsynced). What is
   * still in the memtable replays from the WAL at the next start.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.compactionTimer) clearInterval(this.compactionTimer);
    await this.flushChain;
    await this.compactionChain;
    await this.wal.close();
    await this.pool.close();
    await this.settleDeletes();
    for (const seg of this.segmentRefs.keys()) seg.close();
    this.segmentRefs.clear();
  }
}

function segmentDir(dataDir: string, seg: { tenant: string; name: string }): string {
  return path.join(dataDir, 'tenants', seg.tenant, 'segments', seg.name);
}

/** "tenant/name": tenant ids and segment names hold no "/". */
function segmentKey(seg: { tenant: string; name: string }): string {
  return `${seg.tenant}/${seg.name}`;
}

function idOfKey(key: string): { tenant: string; name: string } {
  const i = key.indexOf('/');
  return { tenant: key.slice(0, i), name: key.slice(i + 1) };
}

/** Level segment names follow raw ones: `<level>-<partitionStartMs>-<seq>`. */
function levelSegmentName(level: string, partitionStartMs: number, seq: number): string {
  return segmentName('raw', partitionStartMs, seq).replace(/^raw/, level);
}

/**
 * Opens a listed segment. `justWritten`: a flush's or a compaction's output, written and fsynced
 * by this process moments ago, whose data file is not streamed through its CRC-32 again (main-
 * thread CPU while compaction keeps the cores busy, i.e. ingest latency); every later open
 * (start-up) checks it.
 */
async function openSegment(dataDir: string, seg: ManifestSegment, justWritten = false): Promise<HeldSegment> {
  const dir = segmentDir(dataDir, seg);
  return seg.level === RAW_LEVEL ? SegmentReader.open(dir, { verifySamplesChecksum: !justWritten }) : openLevelSource(dir, { verifyChecksum: !justWritten });
}

/**
 * Opens the manifest's segments, SEGMENT_OPEN_CONCURRENCY at a time, by key in manifest order.
 * When one cannot be opened, the ones already open are closed and its error is thrown.
 */
async function openSegments(dataDir: string, segments: readonly ManifestSegment[]): Promise<Map<string, HeldSegment>> {
  const held: (HeldSegment | undefined)[] = new Array<HeldSegment | undefined>(segments.length);
  let next = 0;
  let failed = false;
  const opener = async (): Promise<void> => {
    while (!failed && next < segments.length) {
      const i = next++;
      try {
        held[i] = await openSegment(dataDir, segments[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(SEGMENT_OPEN_CONCURRENCY, segments.length) }, opener));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected !== undefined) {
    for (const seg of held) seg?.close();
    throw rejected.reason;
  }
  const opened = new Map<string, HeldSegment>();
  for (let i = 0; i < segments.length; i++) opened.set(segmentKey(segments[i]!), held[i]!);
  return opened;
}

/** The segment set of a manifest, from open segments by key (every listed segment must be there). */
function setOf(manifest: Manifest, byKey: ReadonlyMap<string, HeldSegment>): SegmentSet {
  const raws = new Map<string, SegmentReader[]>();
  const levels = new Map<string, LevelSource[]>();
  for (const m of manifest.segments) {
    const seg = byKey.get(segmentKey(m));
    if (seg === undefined) throw new Error(`segment ${segmentKey(m)} is in the manifest but not open`);
    if (m.level === RAW_LEVEL) {
      let list = raws.get(m.tenant);
      if (!list) raws.set(m.tenant, (list = []));
      list.push(seg as SegmentReader);
    } else {
      let list = levels.get(m.tenant);
      if (!list) levels.set(m.tenant, (list = []));
      list.push(seg as LevelSource);
    }
  }
  return new SegmentSet(raws, levels);
}

/** What a MergingQuerier needs to answer selectBuckets (all optional: raw only without them). */
export interface MergingQuerierRollup {
  readonly rollupLevels?: readonly RollupLevel[];
  /** Level segments of the tenant, any order. */
  readonly levelSources?: readonly BucketSource[];
  /** sourceNames[i]: the raw segment name of sources[i]; undefined for memtable heads. */
  readonly sourceNames?: readonly (string | undefined)[];
}

/**
 * Merges sources (segments oldest first, then frozen heads, then the active head) into one view.
 * The same series in several sources is merged by time; on equal timestamps the later source
 * wins (last write wins, as within the memtable).
 */
export class MergingQuerier implements Querier {
  private closed = false;
  readonly rollupLevels: readonly RollupLevel[];
  private readonly buckets: BucketQuerier;

  constructor(
    private readonly sources: readonly SeriesSource[],
    private readonly onClose: () => void,
    rollup: MergingQuerierRollup = {},
  ) {
    this.rollupLevels = rollup.rollupLevels ?? [];
    const names = rollup.sourceNames ?? [];
    // Read at each selection: the active head's bounds grow while the querier is open.
    const extents = () => this.sources.map((s, i) => ({ name: names[i], minTMs: s.minTMs, maxTMs: s.maxTMs }));
    this.buckets = new BucketQuerier(extents, rollup.levelSources ?? [], (m, minT, maxT, hints) => this.selectSeries(m, minT, maxT, hints));
  }

  /** Buckets of a level (rollup/bucket-querier.ts): valid level segments, raw samples elsewhere. */
  async selectBuckets(matchers: readonly Matcher[], level: RollupLevel, minTMs: number, maxTMs: number, hints?: SelectHints): Promise<BucketSelection> {
    if (this.closed) throw new Error('querier used after close');
    const out = await this.buckets.selectBuckets(matchers, level, minTMs, maxTMs, hints);
    if (this.closed) throw new Error('querier used after close');
    return out;
  }

  levelSegmentsOverlapping(level: RollupLevel, minTMs: number, maxTMs: number): number {
    return this.buckets.levelSegmentsOverlapping(level, minTMs, maxTMs);
  }

  private overlapping(minTMs: number, maxTMs: number): SeriesSource[] {
    return this.sources.filter((s) => s.maxTMs >= minTMs && s.minTMs <= maxTMs);
  }

  /** Each overlapping source's answer, oldest source first; empty answers left out. */
  private async selectEach(matchers: readonly Matcher[], minTMs: number, maxTMs: number, withSamples: boolean): Promise<SourceSeries[][]> {
    if (this.closed) throw new Error('querier used after close');
    // Concurrently: segment reads decompress on the thread pool while another source decodes.
    const selected = await Promise.all(this.overlapping(minTMs, maxTMs).map((source) => source.select(matchers, minTMs, maxTMs, withSamples)));
    if (this.closed) throw new Error('querier used after close');
    return selected.filter((list) => list.length > 0);
  }

  private async gather(matchers: readonly Matcher[], minTMs: number, maxTMs: number, withSamples: boolean): Promise<Map<string, SourceSeries[]>> {
    return groupByKey(await this.selectEach(matchers, minTMs, maxTMs, withSamples));
  }

  async selectSeries(matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints?: SelectHints): Promise<SeriesData[]> {
    const lists = await this.selectEach(matchers, minTMs, maxTMs, true);
    let out: SeriesData[];
    if (lists.length === 1) {
      // One source answered (a range inside one partition, or only the memtable): a source's
      // series are distinct already, so there is nothing to group or merge.
      out = lists[0]!;
      checkSeriesMax(out.length, hints);
      let samples = 0;
      for (const s of out) samples += s.timestampsMs.length;
      checkSamplesMax(samples, hints);
    } else {
      const byKey = groupByKey(lists);
      checkSeriesMax(byKey.size, hints);
      out = [];
      let samples = 0;
      for (const parts of byKey.values()) {
        const merged = parts.length === 1 ? parts[0]! : mergeRuns(parts);
        samples += merged.timestampsMs.length;
        checkSamplesMax(samples, hints);
        out.push(merged);
      }
    }
    // A segment answers in label order already: check in O(n) before sorting in O(n log n).
    if (!sortedByLabels(out)) out.sort((a, b) => compareLabels(a.labels, b.labels));
    return out;
  }

  /**
   * selectSeries in batches (Querier.selectSeriesBatches): every overlapping source lists its
   * matching series first (segments: postings and series.arrow only; heads: one select, they
   * are in memory anyway), the series are grouped by key and sorted by labels, then cut into
   * batches of at most hints.batchSamplesMax() samples by the sources' upper bounds. A batch
   * loads its series from every source holding them (concurrently). A series held by one
   * source is handed out as that source answers it (views of cached chunks); a series spread
   * over many sources (a long range: one segment per partition) is written run after run into
   * one arena reused by every batch of the selection, so a 30-day scan allocates no array per
   * chunk or per series; runs that overlap in time (unmerged segments, heads) are merged
   * (mergeRuns) into arrays of their own. The arena is overwritten by the next batch: the
   * consumer is done with a batch when it asks for the next one (the Querier contract).
   */
  async *selectSeriesBatches(matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints: BatchHints): AsyncGenerator<SeriesData[]> {
    if (this.closed) throw new Error('querier used after close');
    // One chunk-cache budget for all segments of the selection (see CacheBudget).
    const cacheBudget: CacheBudget = {};
    const sels = await Promise.all(this.overlapping(minTMs, maxTMs).map((source) => lazySelectionOf(source, matchers, minTMs, maxTMs, cacheBudget)));
    if (this.closed) throw new Error('querier used after close');
    const groups = groupLazy(sels);
    checkSeriesMax(groups.length, hints);
    if (!sortedByLabels(groups)) groups.sort((a, b) => compareLabels(a.labels, b.labels));
    // A selection that fits in the chunk cache may fill it (a repeated query then decodes
    // nothing); one bigger than the cache caches nothing: the prefix it could keep saves little
    // on the next run, and every cached chunk costs an array (16% of a 30-day scan's time,
    // profiled); its chunks are decoded straight into the arena instead.
    let boundTotal = 0;
    for (const grp of groups) boundTotal += grp.samplesBound;
    const decodedBytes = boundTotal * DECODED_SAMPLE_BYTES;
    if (cacheBudget.bytes !== undefined) cacheBudget.bytes = decodedBytes <= (cacheBudget.cacheBytesMax ?? 0) ? Math.max(cacheBudget.bytes, decodedBytes) : 0;
    const cursor = new Int32Array(sels.length);
    const seriesCost = hints.seriesCost ?? 0;
    let arenaT = new Float64Array(0);
    let arenaV = new Float64Array(0);
    let g = 0;
    while (g < groups.length) {
      const budget = hints.batchSamplesMax();
      let end = g;
      let bound = 0;
      let arenaBound = 0;
      do {
        const grp = groups[end++]!;
        bound += grp.samplesBound + seriesCost;
        if (grp.sources.length > 1) arenaBound += grp.samplesBound;
      } while (end < groups.length && bound + groups[end]!.samplesBound + seriesCost <= budget);
      // Each source's indices, in group order; answers are read back in the same order.
      const wanted: number[][] = sels.map(() => []);
      for (let k = g; k < end; k++) {
        const grp = groups[k]!;
        for (let p = 0; p < grp.sources.length; p++) wanted[grp.sources[p]!]!.push(grp.indices[p]!);
      }
      const loaded = await Promise.all(sels.map((sel, si) => (wanted[si]!.length > 0 ? sel.load(wanted[si]!) : undefined)));
      if (this.closed) throw new Error('querier used after close');
      if (arenaT.length < arenaBound) {
        arenaT = new Float64Array(arenaBound);
        arenaV = new Float64Array(arenaBound);
      }
      cursor.fill(0);
      const out: SeriesData[] = [];
      let at = 0;
      for (let k = g; k < end; k++) {
        const grp = groups[k]!;
        if (grp.sources.length === 1) {
          const si = grp.sources[0]!;
          const s = loaded[si]!.series(cursor[si]++);
          if (s !== undefined) out.push(s);
          continue;
        }
        const s = concatRuns(grp, loaded, cursor, arenaT, arenaV, at);
        if (s === undefined) continue;
        if (s.timestampsMs.buffer === arenaT.buffer) at += s.timestampsMs.length;
        out.push(s);
      }
      g = end;
      if (out.length > 0) yield out;
    }
  }

  async series(matchers: readonly Matcher[], minTMs: number, maxTMs: number, limit?: number): Promise<Labels[]> {
    const byKey = await this.gather(matchers, minTMs, maxTMs, false);
    const out = [...byKey.values()].map((parts) => parts[0]!.labels).sort(compareLabels);
    return limit !== undefined && limit > 0 ? out.slice(0, limit) : out;
  }

  async labelNames(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]> {
    const names = new Set<string>();
    for (const parts of (await this.gather(matchers, minTMs, maxTMs, false)).values()) for (const l of parts[0]!.labels) names.add(l.name);
    return [...names].sort();
  }

  async labelValues(name: string, matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]> {
    const values = new Set<string>();
    for (const parts of (await this.gather(matchers, minTMs, maxTMs, false)).values()) {
      for (const l of parts[0]!.labels) if (l.name === name) values.add(l.value);
    }
    return [...values].sort();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

/** Bytes of one decoded sample (timestamp and value as float64), as the chunk cache counts them. */
const DECODED_SAMPLE_BYTES = 16;

/** One series of a lazy selection: which sources hold it (oldest first) and at which index. */
interface LazyGroup {
  readonly labels: Labels;
  readonly sources: number[];
  readonly indices: number[];
  samplesBound: number;
}

/** A source's LazySelection: its own, or one over a single select() (memtable heads). */
async function lazySelectionOf(source: SeriesSource, matchers: readonly Matcher[], minTMs: number, maxTMs: number, cacheBudget: CacheBudget): Promise<LazySelection> {
  if (source.selectLazily !== undefined) return source.selectLazily(matchers, minTMs, maxTMs, cacheBudget);
  const all = await source.select(matchers, minTMs, maxTMs, true);
  return {
    labels: all.map((s) => s.labels),
    keys: all.map((s) => s.key),
    samplesBound: all.map((s) => s.timestampsMs.length),
    load: (indices) =>
      Promise.resolve({
        series: (k: number) => all[indices[k]!],
        copyInto: (k: number, ts: Float64Array, vs: Float64Array, at: number) => {
          const s = all[indices[k]!]!;
          ts.set(s.timestampsMs, at);
          vs.set(s.values, at); // a typed-array copy keeps NaN payloads (stale markers)
          return s.timestampsMs.length;
        },
      }),
  };
}

/**
 * The runs of one series from its sources (oldest first) written one after the other into
 * ts/vs from index at; a view of them when they follow each other in time (the usual case),
 * else their merge (mergeRuns, new arrays). Undefined when no source has a sample.
 */
function concatRuns(
  grp: LazyGroup,
  loaded: readonly (LoadedSamples | undefined)[],
  cursor: Int32Array,
  ts: Float64Array,
  vs: Float64Array,
  at: number,
): SeriesData | undefined {
  let n = at;
  let ordered = true;
  let runStarts: number[] | undefined;
  for (let p = 0; p < grp.sources.length; p++) {
    const si = grp.sources[p]!;
    const start = n;
    n += loaded[si]!.copyInto(cursor[si]++, ts, vs, n);
    if (n === start) continue;
    if (start > at && !(ts[start]! > ts[start - 1]!)) ordered = false;
    (runStarts ??= []).push(start);
  }
  if (n === at) return undefined;
  if (ordered) return { labels: grp.labels, timestampsMs: ts.subarray(at, n), values: vs.subarray(at, n) };
  const starts = runStarts!;
  const parts: SourceSeries[] = starts.map((a, i) => {
    const z = i + 1 < starts.length ? starts[i + 1]! : n;
    return { labels: grp.labels, key: '', timestampsMs: ts.subarray(a, z), values: vs.subarray(a, z) };
  });
  const merged = mergeRuns(parts);
  // mergeRuns returns views of its input when nothing overlaps; copy so the arena can be reused.
  return merged.timestampsMs.buffer === ts.buffer
    ? { labels: grp.labels, timestampsMs: merged.timestampsMs.slice(), values: merged.values.slice() }
    : { labels: grp.labels, timestampsMs: merged.timestampsMs, values: merged.values };
}

/** Series of all selections grouped by key, in first-seen order; sources oldest first per group. */
function groupLazy(sels: readonly LazySelection[]): LazyGroup[] {
  const byKey = new Map<string, LazyGroup>();
  const out: LazyGroup[] = [];
  for (let si = 0; si < sels.length; si++) {
    const sel = sels[si]!;
    for (let i = 0; i < sel.keys.length; i++) {
      const key = sel.keys[i]!;
      let grp = byKey.get(key);
      if (grp === undefined) {
        grp = { labels: sel.labels[i]!, sources: [], indices: [], samplesBound: 0 };
        byKey.set(key, grp);
        out.push(grp);
      }
      grp.sources.push(si);
      grp.indices.push(i);
      grp.samplesBound += sel.samplesBound[i]!;
    }
  }
  return out;
}

/** Series of all lists by key; each group keeps the order of the lists (oldest source first). */
function groupByKey(lists: readonly (readonly SourceSeries[])[]): Map<string, SourceSeries[]> {
  const byKey = new Map<string, SourceSeries[]>();
  for (const list of lists) {
    for (const s of list) {
      const group = byKey.get(s.key);
      if (group) group.push(s);
      else byKey.set(s.key, [s]);
    }
  }
  return byKey;
}

function checkSeriesMax(count: number, hints: { readonly seriesMax?: number } | undefined): void {
  if (hints?.seriesMax !== undefined && count > hints.seriesMax) {
    throw new MochaError('QUERY_TOO_MANY_SERIES', `query selects ${count} series; the limit is ${hints.seriesMax}`);
  }
}

function checkSamplesMax(samples: number, hints: SelectHints | undefined): void {
  if (hints?.samplesMax !== undefined && samples > hints.samplesMax) {
    throw new MochaError('QUERY_TOO_MANY_SAMPLES', `query processing would load too many samples into memory (limit ${hints.samplesMax})`);
  }
}

function sortedByLabels(series: readonly { readonly labels: Labels }[]): boolean {
  for (let i = 1; i < series.length; i++) if (compareLabels(series[i - 1]!.labels, series[i]!.labels) > 0) return false;
  return true;
}

/** Merges sorted runs of one series; for equal timestamps the later run wins. */
export function mergeRuns(parts: readonly SourceSeries[]): SourceSeries {
  // The common case: a series split by partitions or flushes, each run after the previous one.
  let total = 0;
  let disjoint = true;
  for (let k = 0; k < parts.length; k++) {
    const t = parts[k]!.timestampsMs;
    total += t.length;
    if (k > 0 && t.length > 0) {
      const prev = lastTimestamp(parts, k);
      if (prev !== undefined && !(t[0]! > prev)) disjoint = false;
    }
  }
  if (disjoint) {
    const outT = new Float64Array(total);
    const outV = new Float64Array(total);
    let n = 0;
    for (const p of parts) {
      outT.set(p.timestampsMs, n);
      outV.set(p.values, n); // a typed-array copy keeps NaN payloads (stale markers)
      n += p.timestampsMs.length;
    }
    return { labels: parts[0]!.labels, key: parts[0]!.key, timestampsMs: outT, values: outV };
  }
  // Pairwise merge keeps it linear per pass; parts is small (segments + heads of a partition).
  let ts: Float64Array = parts[0]!.timestampsMs;
  let vs: Float64Array = parts[0]!.values;
  for (let k = 1; k < parts.length; k++) {
    const bt = parts[k]!.timestampsMs;
    const bv = parts[k]!.values;
    const outT = new Float64Array(ts.length + bt.length);
    const outV = new Float64Array(ts.length + bt.length);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < ts.length || j < bt.length) {
      if (j >= bt.length || (i < ts.length && ts[i]! < bt[j]!)) {
        outT[n] = ts[i]!;
        outV[n] = vs[i]!; // typed-array to typed-array keeps NaN payloads (stale markers)
        i++;
      } else {
        if (i < ts.length && ts[i]! === bt[j]!) i++; // newer part wins
        outT[n] = bt[j]!;
        outV[n] = bv[j]!;
        j++;
      }
      n++;
    }
    ts = outT.subarray(0, n);
    vs = outV.subarray(0, n);
  }
  return { labels: parts[0]!.labels, key: parts[0]!.key, timestampsMs: ts, values: vs };
}

/** The last timestamp of the nearest non-empty part before part k. */
function lastTimestamp(parts: readonly SourceSeries[], k: number): number | undefined {
  for (let j = k - 1; j >= 0; j--) {
    const t = parts[j]!.timestampsMs;
    if (t.length > 0) return t[t.length - 1];
  }
  return undefined;
}
