// Table-driven damage: each case writes the same known log across several small segments,
// damages it on disk, reopens and replays, and checks exactly which records were kept, the
// replay report, the warning, the files left, and that appends after the repair replay too.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { crc32c } from '../../src/wal/crc32c.js';
import { FRAME_HEADER_BYTES } from '../../src/wal/records.js';
import { segmentPath } from '../../src/wal/segment.js';
import type { WalRecord } from '../../src/wal/wal.js';
import { canon, frameMap, openReplayed, recordingLogger, removeDir, samplesRecord, segmentNumbers, seriesRecord, silentLogger, tempDir, type FrameAt } from './helpers.js';

const SEGMENT_BYTES_MAX = 1024;
const APPENDS = 24;

/** The known log: each append defines one series and writes 10 samples. */
function knownRecords(): WalRecord[] {
  const out: WalRecord[] = [];
  for (let i = 0; i < APPENDS; i++) out.push(seriesRecord(`tenant${i % 2}`, i + 1, 1, `m${i}`), samplesRecord(`tenant${i % 2}`, 1000 + i, 10, i + 1));
  return out;
}

interface Layout {
  dir: string;
  frames: FrameAt[];
  segments: number[];
  size(segment: number): number;
  /** The n-th frame (0-based) of a segment. */
  frameIn(segment: number, n: number): FrameAt;
  framesThrough(segment: number): number;
}

interface Expected {
  keptRecords: number;
  corruption: { segment: number; offset: number; reason: RegExp; bytesCut: number; segmentsDropped: number[] };
  /** Segment files left after the repair. */
  segmentsAfter: number[];
  /** The segment the first append after the repair goes to. */
  nextSegment: number;
}

function patch(file: string, at: number, bytes: Uint8Array): void {
  const buf = fs.readFileSync(file);
  buf.set(bytes, at);
  fs.writeFileSync(file, buf);
}

const u32le = (v: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

const cases: Array<{ name: string; damage(l: Layout): Expected }> = [
  {
    name: 'truncated tail: the last record cut mid-payload',
    damage: (l) => {
      const last = l.frames[l.frames.length - 1]!;
      const keep = last.offset + Math.floor(last.bytes / 2);
      fs.truncateSync(segmentPath(l.dir, last.segment), keep);
      return {
        keptRecords: l.frames.length - 1,
        corruption: { segment: last.segment, offset: last.offset, reason: /^torn record: length/, bytesCut: keep - last.offset, segmentsDropped: [] },
        segmentsAfter: l.segments,
        nextSegment: last.segment + 1,
      };
    },
  },
  {
    name: 'truncated tail: the last record cut inside its frame header',
    damage: (l) => {
      const last = l.frames[l.frames.length - 1]!;
      fs.truncateSync(segmentPath(l.dir, last.segment), last.offset + 5);
      return {
        keptRecords: l.frames.length - 1,
        corruption: { segment: last.segment, offset: last.offset, reason: /torn record header/, bytesCut: 5, segmentsDropped: [] },
        segmentsAfter: l.segments,
        nextSegment: last.segment + 1,
      };
    },
  },
  {
    name: 'flipped byte in a middle record',
    damage: (l) => {
      const target = l.frameIn(2, 1);
      const file = segmentPath(l.dir, 2);
      const at = target.offset + FRAME_HEADER_BYTES + 3;
      patch(file, at, Uint8Array.of(fs.readFileSync(file)[at]! ^ 0x10));
      return {
        keptRecords: target.index,
        corruption: { segment: 2, offset: target.offset, reason: /checksum mismatch/, bytesCut: l.size(2) - target.offset, segmentsDropped: l.segments.filter((n) => n > 2) },
        segmentsAfter: [1, 2],
        nextSegment: 3,
      };
    },
  },
  {
    name: 'bad length in a middle record',
    damage: (l) => {
      const target = l.frameIn(3, 0);
      patch(segmentPath(l.dir, 3), target.offset, u32le(0x7fffffff));
      return {
        keptRecords: target.index,
        corruption: { segment: 3, offset: target.offset, reason: /bad record length 2147483647/, bytesCut: l.size(3) - target.offset, segmentsDropped: l.segments.filter((n) => n > 3) },
        segmentsAfter: [1, 2, 3],
        nextSegment: 4,
      };
    },
  },
  {
    name: 'a record with a valid checksum whose payload does not decode',
    damage: (l) => {
      const target = l.frameIn(2, 0);
      const file = segmentPath(l.dir, 2);
      const buf = fs.readFileSync(file);
      buf[target.offset + FRAME_HEADER_BYTES] = 0; // tenant length 0
      buf.writeUInt32LE(crc32c(buf, 0, target.offset + 8, target.offset + target.bytes), target.offset + 4);
      fs.writeFileSync(file, buf);
      return {
        keptRecords: target.index,
        corruption: { segment: 2, offset: target.offset, reason: /does not decode: tenant length 0/, bytesCut: l.size(2) - target.offset, segmentsDropped: l.segments.filter((n) => n > 2) },
        segmentsAfter: [1, 2],
        nextSegment: 3,
      };
    },
  },
  {
    name: 'zero-filled tail (4 KiB, like preallocation) on the last segment',
    damage: (l) => {
      const last = l.segments[l.segments.length - 1]!;
      fs.appendFileSync(segmentPath(l.dir, last), Buffer.alloc(4096));
      return {
        keptRecords: l.frames.length,
        corruption: { segment: last, offset: l.size(last), reason: /zero-filled tail of 4096 bytes/, bytesCut: 4096, segmentsDropped: [] },
        segmentsAfter: l.segments,
        nextSegment: last + 1,
      };
    },
  },
  {
    name: 'zero-filled tail on a middle segment',
    damage: (l) => {
      fs.appendFileSync(segmentPath(l.dir, 2), Buffer.alloc(100));
      return {
        keptRecords: l.framesThrough(2),
        corruption: { segment: 2, offset: l.size(2), reason: /zero-filled tail/, bytesCut: 100, segmentsDropped: l.segments.filter((n) => n > 2) },
        segmentsAfter: [1, 2],
        nextSegment: 3,
      };
    },
  },
  {
    name: 'missing middle segment file',
    damage: (l) => {
      fs.rmSync(segmentPath(l.dir, 3));
      return {
        keptRecords: l.framesThrough(2),
        corruption: { segment: 3, offset: 0, reason: /missing segment 3 \(the next on disk is 4\)/, bytesCut: 0, segmentsDropped: l.segments.filter((n) => n > 3) },
        segmentsAfter: [1, 2],
        nextSegment: 3,
      };
    },
  },
  {
    name: 'missing first segment file',
    damage: (l) => {
      fs.rmSync(segmentPath(l.dir, 1));
      return {
        keptRecords: 0,
        corruption: { segment: 1, offset: 0, reason: /missing segment 1/, bytesCut: 0, segmentsDropped: l.segments.filter((n) => n > 1) },
        segmentsAfter: [],
        nextSegment: 1,
      };
    },
  },
  {
    name: 'bad header (magic) on a middle segment',
    damage: (l) => {
      patch(segmentPath(l.dir, 3), 0, Buffer.from('XXXX'));
      return {
        keptRecords: l.framesThrough(2),
        corruption: { segment: 3, offset: 0, reason: /bad header: magic/, bytesCut: l.size(3), segmentsDropped: l.segments.filter((n) => n > 3) },
        segmentsAfter: [1, 2],
        nextSegment: 3,
      };
    },
  },
  {
    name: 'bad header: the file says it is another segment',
    damage: (l) => {
      patch(segmentPath(l.dir, 2), 12, u32le(99));
      return {
        keptRecords: l.framesThrough(1),
        corruption: { segment: 2, offset: 0, reason: /says it is segment 99/, bytesCut: l.size(2), segmentsDropped: l.segments.filter((n) => n > 2) },
        segmentsAfter: [1],
        nextSegment: 2,
      };
    },
  },
  {
    name: 'empty last segment file (crash while creating it)',
    damage: (l) => {
      const next = l.segments[l.segments.length - 1]! + 1;
      fs.writeFileSync(segmentPath(l.dir, next), Buffer.alloc(0));
      return {
        keptRecords: l.frames.length,
        corruption: { segment: next, offset: 0, reason: /bad header: file has 0 bytes/, bytesCut: 0, segmentsDropped: [] },
        segmentsAfter: l.segments,
        nextSegment: next,
      };
    },
  },
];

describe('WAL replay repairs damage', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const dir = tempDir('mocha-waldmg-');
      dirs.push(dir);
      const written = knownRecords();
      const first = await openReplayed({ dir, segmentBytesMax: SEGMENT_BYTES_MAX, logger: silentLogger });
      for (let i = 0; i < written.length; i += 2) await first.wal.append(written.slice(i, i + 2));
      await first.wal.close();

      const frames = await frameMap(dir);
      const segments = segmentNumbers(dir);
      expect(frames.length).toBe(written.length);
      expect(segments.length).toBeGreaterThanOrEqual(5);
      const sizes = new Map(segments.map((n) => [n, fs.statSync(segmentPath(dir, n)).size]));
      const layout: Layout = {
        dir,
        frames,
        segments,
        size: (n) => sizes.get(n)!,
        frameIn: (segment, n) => frames.filter((f) => f.segment === segment)[n]!,
        framesThrough: (segment) => frames.filter((f) => f.segment <= segment).length,
      };
      const want = c.damage(layout);

      const { logger, warnings } = recordingLogger();
      const second = await openReplayed({ dir, segmentBytesMax: SEGMENT_BYTES_MAX, logger });
      const kept = written.slice(0, want.keptRecords);
      expect(second.records.map(canon)).toEqual(kept.map(canon));
      const { reason, ...exact } = want.corruption;
      expect(second.report.corruption).toMatchObject(exact);
      expect(second.report.corruption!.reason).toMatch(reason);
      expect(second.report.recordsRead).toBe(want.keptRecords);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.obj).toMatchObject({ segment: exact.segment, offset: exact.offset, reason: second.report.corruption!.reason });
      expect(segmentNumbers(dir)).toEqual(want.segmentsAfter);
      const damaged = want.corruption.segment;
      if (want.segmentsAfter.includes(damaged)) expect(fs.statSync(segmentPath(dir, damaged)).size).toBe(want.corruption.offset);
      expect(second.wal.stats().currentSegment).toBe(want.nextSegment);

      // Appends after the repair land at a fresh position and replay cleanly after it.
      const after = samplesRecord('after', 4242, 7);
      await second.wal.append([after]);
      second.wal.assertInvariants();
      await second.wal.close();
      const third = await openReplayed({ dir, segmentBytesMax: SEGMENT_BYTES_MAX, logger: silentLogger });
      expect(third.report.corruption).toBeUndefined();
      expect(third.records.map(canon)).toEqual([...kept, after].map(canon));
      expect(third.segments[third.segments.length - 1]).toBe(want.nextSegment);
      await third.wal.close();
    });
  }
});
