// The write-ahead log: one per data directory, shared by all tenants, in <dataDir>/wal/ as
// numbered segment files (format: docs/format/wal.md).
//
// Life cycle: open() -> replay() once -> append()/cut()/truncate() -> close().
//
// Write path (group commit). append() validates and encodes its records synchronously into the
// pending batch, so records are in the log in the order of append() calls and the caller can
// update the memtable in the same tick. One writer loop takes the whole pending batch, writes it
// (pwrite), fdatasyncs it under the 'batch' policy, and resolves every append of the batch;
// appends arriving meanwhile accumulate in the next batch. A write or fsync error rejects the
// batch and everything pending, and the WAL refuses every later append: after a failed fsync
// the kernel may have dropped the dirty pages, so nothing more can be acknowledged honestly.
//
// Segments. Which segment a record goes to is decided at encode time (a record never spans
// files; a segment rolls over when the next frame would pass segmentBytesMax), which makes cut()
// exact and synchronous. Segment numbers are consecutive with no gaps: a number is only used by
// a segment that gets at least one record, and replay resumes right after the last kept one.
//
// Invariants (assertInvariants):
// - live segments on disk are consecutive and ascending; the open file is the last of them;
// - fileSegment <= headSegment (the writer never runs ahead of the encoder);
// - the pending batch's ranges are ascending in segment and offset, none before fileSegment;
// - every segment other than the open one was fdatasync'ed when it was closed.
import fs, { type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { WAL_RECORD_BYTES_MAX, WAL_SEGMENT_BYTES_MAX } from '../constants.js';
import { MochaError } from '../errors.js';
import { nodeFileOps, type WalFileOps } from './file-ops.js';
import { ByteArena, decodeRecord, encodeFrameInto, splitRecord, validateRecord, type WalRecord } from './records.js';
import {
  encodeSegmentHeader,
  parseSegmentFileName,
  scanSegment,
  SEGMENT_HEADER_BYTES,
  SEGMENT_NUMBER_MAX,
  SEGMENT_NUMBER_MIN,
  segmentPath,
} from './segment.js';

export type { WalRecord } from './records.js';
export type { WalFileOps } from './file-ops.js';

/**
 * batch (default): append() resolves after fdatasync of the batch that holds its records; one
 *   fdatasync serves every append that arrived while the previous one was in flight.
 * off: append() resolves after write(2); the data is in the page cache only. A process crash
 *   loses nothing, a power loss or kernel crash can lose the last seconds of acknowledged
 *   writes. Segments are still fdatasync'ed when they are closed (roll-over and close()).
 */
export type WalFsyncPolicy = 'batch' | 'off';

export interface WalLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface WalOptions {
  dir: string;
  /** A segment rolls over before a frame would take it past this (default WAL_SEGMENT_BYTES_MAX). */
  segmentBytesMax?: number;
  fsync?: WalFsyncPolicy;
  logger?: WalLogger;
  /** Largest record payload; bigger batches are split (default WAL_RECORD_BYTES_MAX; tests lower it). */
  recordBytesMax?: number;
  /** File operations of the writer; tests replace some to simulate torn writes and failed fsyncs. */
  fileOps?: Partial<WalFileOps>;
}

export interface WalReplayReport {
  segmentsRead: number;
  recordsRead: number;
  /** Bytes of whole, valid records and headers read (what was kept). */
  bytesRead: number;
  corruption?: {
    /** The damaged segment (for a gap: the missing number). */
    segment: number;
    /** Offset of the first bad byte in it: the file is cut there (0 = header damaged or file missing). */
    offset: number;
    reason: string;
    /** Bytes removed from the damaged segment (its whole size when its header was bad). */
    bytesCut: number;
    /** Later segments removed because they follow the damage. */
    segmentsDropped: number[];
  };
}

export interface WalStats {
  bytesWritten: number;
  recordsWritten: number;
  fsyncs: number;
  fsyncDurationMsTotal: number;
  segmentsLive: number;
  /** The segment new appends go to. */
  currentSegment: number;
  /** Bytes encoded and not yet written (and fsynced, under 'batch'): the group-commit queue. */
  pendingBytes: number;
}

/** Smallest allowed segmentBytesMax: a header and a few records; tests use a few KiB. */
export const WAL_SEGMENT_BYTES_MIN = 1024;
const SEGMENT_BYTES_LIMIT = 2 ** 32;
const RECORD_BYTES_MIN = 256;
/**
 * An encode arena is kept for the next batch only up to this size, so one huge burst does not
 * pin its memory forever; below it, reuse saves an allocation per batch.
 */
const ARENA_RETAIN_BYTES_MAX = 16 * 1024 * 1024;
const ARENA_INITIAL_BYTES = 256 * 1024;

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

/** Records encoded and waiting for the writer: arena bytes split into per-segment ranges. */
interface Batch {
  arena: ByteArena;
  /** Contiguous ranges of arena bytes: [start, next range's start or arena.length) goes to segment. */
  ranges: Array<{ segment: number; start: number }>;
  waiters: Waiter[];
  records: number;
}

type State = 'opened' | 'ready' | 'closed';

const noopLogger: WalLogger = { warn: () => undefined, info: () => undefined };

export class Wal {
  private state: State = 'opened';
  /** Set by the first write/fsync error; every later append rejects with it. */
  private failure: MochaError | undefined;
  private pending: Batch;
  private spareArena: ByteArena | undefined;
  private writing = false;
  /** Bytes of the batch the writer loop is writing now (the pending batch is counted apart). */
  private inflightBytes = 0;
  private loopDone: Promise<void> = Promise.resolve();
  private dirChain: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  // Encoder side: where the next frame goes.
  private headSegment = 0;
  private headBytes = 0;
  private headRecords = 0;

  // Writer side: the open segment file.
  private fh: FileHandle | undefined;
  private fileSegment = 0;
  private fileBytes = 0;
  private fileUnsynced = false;

  /** Segment numbers that exist on disk, ascending and consecutive. */
  private live: number[] = [];

  private readonly counters = { bytesWritten: 0, recordsWritten: 0, fsyncs: 0, fsyncDurationMsTotal: 0 };
  private readonly dir: string;
  private readonly segmentBytesMax: number;
  private readonly recordBytesMax: number;
  private readonly fsyncPolicy: WalFsyncPolicy;
  private readonly log: WalLogger;
  private readonly ops: WalFileOps;

  private constructor(opts: WalOptions) {
    this.dir = opts.dir;
    this.segmentBytesMax = opts.segmentBytesMax ?? WAL_SEGMENT_BYTES_MAX;
    this.recordBytesMax = opts.recordBytesMax ?? WAL_RECORD_BYTES_MAX;
    this.fsyncPolicy = opts.fsync ?? 'batch';
    this.log = opts.logger ?? noopLogger;
    this.ops = { ...nodeFileOps, ...opts.fileOps };
    if (!Number.isInteger(this.segmentBytesMax) || this.segmentBytesMax < WAL_SEGMENT_BYTES_MIN || this.segmentBytesMax > SEGMENT_BYTES_LIMIT) {
      throw new Error(`WAL segmentBytesMax must be an integer in ${WAL_SEGMENT_BYTES_MIN}..${SEGMENT_BYTES_LIMIT}, got ${this.segmentBytesMax}`);
    }
    if (!Number.isInteger(this.recordBytesMax) || this.recordBytesMax < RECORD_BYTES_MIN || this.recordBytesMax > WAL_RECORD_BYTES_MAX) {
      throw new Error(`WAL recordBytesMax must be an integer in ${RECORD_BYTES_MIN}..${WAL_RECORD_BYTES_MAX}, got ${this.recordBytesMax}`);
    }
    if (this.fsyncPolicy !== 'batch' && this.fsyncPolicy !== 'off') throw new Error(`WAL fsync policy must be batch or off, got ${String(this.fsyncPolicy)}`);
    this.pending = this.newBatch();
  }

  /** Creates the directory if needed. Does not read it: call replay() next. */
  static async open(opts: WalOptions): Promise<Wal> {
    const wal = new Wal(opts);
    await fs.mkdir(opts.dir, { recursive: true });
    return wal;
  }

  /**
   * Reads segments >= fromSegment in order and calls onRecord for each record; deletes the
   * segments below fromSegment (covered by flushed data). Damage (torn or zero-filled tail, bad
   * length, checksum mismatch, undecodable payload, bad header, a missing segment number) is
   * repaired: the damaged segment is cut at its last whole record, every later segment is
   * removed, a warning is logged, and appends continue after the cut. Must be called exactly
   * once, before the first append. Errors thrown by onRecord propagate (they are not damage).
   */
  async replay(fromSegment: number, onRecord: (rec: WalRecord, segment: number) => void): Promise<WalReplayReport> {
    if (this.state !== 'opened') throw new Error(`WAL replay() must be called once, before append(); state is ${this.state}`);
    const from = Math.max(SEGMENT_NUMBER_MIN, Math.floor(fromSegment));
    const onDisk: number[] = [];
    for (const name of await fs.readdir(this.dir)) {
      const n = parseSegmentFileName(name);
      if (n !== undefined) onDisk.push(n);
    }
    onDisk.sort((a, b) => a - b);

    let dirChanged = false;
    const covered = onDisk.filter((n) => n < from);
    for (const n of covered) await unlinkIfExists(segmentPath(this.dir, n));
    if (covered.length > 0) dirChanged = true;

    const candidates = onDisk.filter((n) => n >= from);
    const report: WalReplayReport = { segmentsRead: 0, recordsRead: 0, bytesRead: 0 };
    const kept: number[] = [];
    let expected = from;
    let dropFrom = candidates.length;
    for (let i = 0; i < candidates.length; i++) {
      const n = candidates[i]!;
      if (n !== expected) {
        report.corruption = { segment: expected, offset: 0, reason: `missing segment ${expected} (the next on disk is ${n})`, bytesCut: 0, segmentsDropped: [] };
        dropFrom = i;
        break;
      }
      const file = segmentPath(this.dir, n);
      const fh = await fs.open(file, 'r');
      let scan;
      try {
        scan = await scanSegment(fh, n, WAL_RECORD_BYTES_MAX, (type, buf, start, end) => {
          let rec: WalRecord;
          try {
            rec = decodeRecord(type, buf, start, end);
          } catch (e) {
            if (e instanceof MochaError && e.code === 'WAL_CORRUPT') return e.message;
            throw e;
          }
          onRecord(rec, n);
          report.recordsRead++;
          return undefined;
        });
      } finally {
        await fh.close();
      }
      report.segmentsRead++;
      report.bytesRead += scan.validBytes;
      if (scan.damage) {
        const { offset, reason } = scan.damage;
        report.corruption = { segment: n, offset, reason, bytesCut: scan.fileBytes - offset, segmentsDropped: [] };
        if (offset < SEGMENT_HEADER_BYTES) {
          await unlinkIfExists(file); // nothing whole in it; its number is reused
        } else {
          kept.push(n);
          await truncateFile(file, offset);
        }
        dirChanged = true;
        dropFrom = i + 1;
        break;
      }
      kept.push(n);
      expected = n + 1;
    }
    if (report.corruption) {
      const dropped = candidates.slice(dropFrom);
      for (const n of dropped) await unlinkIfExists(segmentPath(this.dir, n));
      report.corruption.segmentsDropped = dropped;
      dirChanged = true;
      this.log.warn(
        { ...report.corruption, dir: this.dir },
        'WAL damaged: cut at the last whole record and removed the later segments; acknowledged writes after that point are lost',
      );
    }
    if (dirChanged) await this.ops.fsyncDir(this.dir);

    this.live = kept;
    this.headSegment = kept.length > 0 ? kept[kept.length - 1]! + 1 : from;
    this.headBytes = SEGMENT_HEADER_BYTES;
    this.headRecords = 0;
    this.state = 'ready';
    this.assertInvariants();
    return report;
  }

  /**
   * Encodes the records now (synchronously, in call order) and resolves when they are written,
   * and fdatasync'ed under the 'batch' policy. Rejects when the WAL is closed or failed; a
   * record that breaks the encoder's rules (bad tenant, mismatched columns) rejects before
   * anything of this call is encoded.
   */
  append(records: readonly WalRecord[]): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new MochaError('SHUTTING_DOWN', 'WAL is closed; the write was not logged'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.state !== 'ready') return Promise.reject(new Error('WAL append() before replay(): call replay() once after open()'));
    try {
      for (const rec of records) validateRecord(rec, this.recordBytesMax);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    for (const rec of records) {
      for (const part of splitRecord(rec, this.recordBytesMax)) this.encodeFrame(part);
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  /**
   * Synchronous: every record appended before this call is in segments <= the returned number,
   * every record appended after goes to a later segment. Does not create a file: the next
   * segment appears with its first record, so segment numbers have no gaps.
   */
  cut(): number {
    if (this.state === 'opened') throw new Error('WAL cut() before replay()');
    if (this.headRecords === 0) return this.headSegment - 1;
    const n = this.headSegment;
    this.rollHead();
    return n;
  }

  /** Deletes segment files <= throughSegment, never the one being written or appended to; fsyncs the directory. */
  truncate(throughSegment: number): Promise<void> {
    if (this.state === 'opened') return Promise.reject(new Error('WAL truncate() before replay()'));
    const run = this.dirChain.then(async () => {
      const current = this.fh ? this.fileSegment : this.headSegment;
      const limit = Math.min(throughSegment, current - 1);
      const doomed = this.live.filter((n) => n <= limit);
      if (doomed.length === 0) return;
      for (const n of doomed) {
        await unlinkIfExists(segmentPath(this.dir, n), this.ops);
        this.live = this.live.filter((x) => x !== n);
      }
      await this.ops.fsyncDir(this.dir);
      this.log.info({ throughSegment: limit, removed: doomed.length }, 'WAL segments covered by flushed data removed');
    });
    this.dirChain = run.catch(() => undefined);
    return run;
  }

  stats(): WalStats {
    return { ...this.counters, segmentsLive: this.live.length, currentSegment: this.headSegment, pendingBytes: this.pendingBytes() };
  }

  /** Bytes appended and not yet durable: the pending batch plus the one being written. Back-pressure reads it. */
  pendingBytes(): number {
    return this.pending.arena.length + this.inflightBytes;
  }

  /** Waits for pending appends, fdatasyncs and closes the open segment; later appends reject. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.state = 'closed';
    this.closing = (async () => {
      await this.loopDone;
      await this.dirChain;
      const fh = this.fh;
      if (!fh) return;
      this.fh = undefined;
      try {
        if (!this.failure && this.fileUnsynced) await this.datasync(fh);
      } finally {
        await fh.close();
      }
    })();
    return this.closing;
  }

  assertInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`WAL invariant broken: ${msg}`);
    };
    for (let i = 1; i < this.live.length; i++) if (this.live[i] !== this.live[i - 1]! + 1) fail(`live segments not consecutive: ${this.live.join(',')}`);
    if (this.fh && this.live[this.live.length - 1] !== this.fileSegment) fail(`open segment ${this.fileSegment} is not the last live one (${this.live.join(',')})`);
    if (this.state !== 'opened') {
      if (this.fileSegment > this.headSegment) fail(`writer at segment ${this.fileSegment} ahead of encoder at ${this.headSegment}`);
      if (this.headBytes < SEGMENT_HEADER_BYTES) fail(`head segment size ${this.headBytes} below the header size`);
      if (this.headRecords === 0 && this.headBytes !== SEGMENT_HEADER_BYTES) fail('empty head segment with bytes');
    }
    const b = this.pending;
    for (let i = 0; i < b.ranges.length; i++) {
      const r = b.ranges[i]!;
      if (r.start > b.arena.length) fail(`pending range starts past the arena (${r.start} > ${b.arena.length})`);
      if (r.segment < this.fileSegment) fail(`pending range for segment ${r.segment} behind the writer (${this.fileSegment})`);
      if (i > 0 && !(r.segment > b.ranges[i - 1]!.segment && r.start > b.ranges[i - 1]!.start)) fail('pending ranges not ascending');
    }
    if (b.ranges.length > 0 && b.ranges[0]!.start !== 0) fail('first pending range does not start at 0');
  }

  // --- encoder side -------------------------------------------------------------------------

  private newBatch(): Batch {
    const arena = this.spareArena ?? new ByteArena(ARENA_INITIAL_BYTES);
    this.spareArena = undefined;
    arena.length = 0;
    return { arena, ranges: [], waiters: [], records: 0 };
  }

  private encodeFrame(rec: WalRecord): void {
    const b = this.pending;
    const start = b.arena.length;
    const frameBytes = encodeFrameInto(rec, b.arena);
    // A frame bigger than a whole segment still gets a segment of its own rather than failing.
    if (this.headRecords > 0 && this.headBytes + frameBytes > this.segmentBytesMax) this.rollHead();
    const last = b.ranges[b.ranges.length - 1];
    if (!last || last.segment !== this.headSegment) b.ranges.push({ segment: this.headSegment, start });
    this.headBytes += frameBytes;
    this.headRecords++;
    b.records++;
  }

  private rollHead(): void {
    if (this.headSegment >= SEGMENT_NUMBER_MAX) throw new Error(`WAL segment numbers exhausted (${SEGMENT_NUMBER_MAX})`);
    this.headSegment++;
    this.headBytes = SEGMENT_HEADER_BYTES;
    this.headRecords = 0;
  }

  // --- writer side --------------------------------------------------------------------------

  private kick(): void {
    if (this.writing) return;
    this.writing = true;
    this.loopDone = this.writeLoop();
  }

  /** Never rejects: failures are handed to the waiters. */
  private async writeLoop(): Promise<void> {
    try {
      // Let the appends of the current tick join the first batch.
      await null;
      while (this.pending.waiters.length > 0) {
        const batch = this.pending;
        this.pending = this.newBatch();
        this.inflightBytes = batch.arena.length;
        if (this.failure) {
          for (const w of batch.waiters) w.reject(this.failure);
          continue;
        }
        try {
          await this.writeBatch(batch);
        } catch (e) {
          this.fail(e, batch);
          continue;
        }
        if (batch.arena.buf.length <= ARENA_RETAIN_BYTES_MAX) this.spareArena = batch.arena;
        for (const w of batch.waiters) w.resolve();
      }
    } finally {
      this.inflightBytes = 0;
      this.writing = false;
    }
  }

  private async writeBatch(batch: Batch): Promise<void> {
    const { arena, ranges } = batch;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      const end = i + 1 < ranges.length ? ranges[i + 1]!.start : arena.length;
      if (r.segment !== this.fileSegment || !this.fh) await this.openSegment(r.segment);
      await this.writeAll(arena.buf.subarray(r.start, end));
    }
    if (this.fsyncPolicy === 'batch' && this.fileUnsynced && this.fh) await this.datasync(this.fh);
    this.counters.recordsWritten += batch.records;
  }

  private async openSegment(n: number): Promise<void> {
    if (this.fh) {
      if (n !== this.fileSegment + 1) throw new Error(`WAL writer asked to skip from segment ${this.fileSegment} to ${n}`);
      // Every closed segment is durable, whatever the policy: truncate() and replay rely on it.
      if (this.fileUnsynced) await this.datasync(this.fh);
      const old = this.fh;
      this.fh = undefined;
      await old.close();
    }
    const fh = await this.ops.create(segmentPath(this.dir, n));
    this.fh = fh;
    this.fileSegment = n;
    this.fileBytes = 0;
    this.live.push(n);
    await this.writeAll(encodeSegmentHeader(n));
    // The new directory entry must survive a crash before any record in it is acknowledged.
    await this.ops.fsyncDir(this.dir);
  }

  private async writeAll(buf: Uint8Array): Promise<void> {
    const fh = this.fh!;
    let done = 0;
    while (done < buf.length) {
      const n = await this.ops.write(fh, done === 0 ? buf : buf.subarray(done), this.fileBytes + done);
      if (!(n > 0)) throw new Error(`WAL write returned ${n} bytes`);
      done += n;
    }
    this.fileBytes += buf.length;
    this.fileUnsynced = true;
    this.counters.bytesWritten += buf.length;
  }

  private async datasync(fh: FileHandle): Promise<void> {
    const t0 = performance.now();
    await this.ops.datasync(fh);
    this.counters.fsyncs++;
    this.counters.fsyncDurationMsTotal += performance.now() - t0;
    this.fileUnsynced = false;
  }

  private fail(e: unknown, batch: Batch): void {
    const cause = e instanceof Error ? e.message : String(e);
    this.failure = new MochaError(
      'INTERNAL',
      `WAL write failed in segment ${this.fileSegment} (${cause}); the WAL refuses further appends until the process restarts`,
      { segment: this.fileSegment, offset: this.fileBytes },
    );
    this.log.warn({ err: cause, segment: this.fileSegment, offset: this.fileBytes }, 'WAL write or fsync failed: rejecting pending appends and refusing new ones');
    for (const w of batch.waiters) w.reject(this.failure);
    // Appends that queued behind this batch are rejected by the loop's next turn.
  }
}

async function unlinkIfExists(file: string, ops: Pick<WalFileOps, 'unlink'> = nodeFileOps): Promise<void> {
  try {
    await ops.unlink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

async function truncateFile(file: string, bytes: number): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    await fh.truncate(bytes);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
