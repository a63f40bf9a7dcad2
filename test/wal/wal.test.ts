import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { MochaError } from '../../src/errors.js';
import { SEGMENT_HEADER_BYTES, segmentPath } from '../../src/wal/segment.js';
import { Wal, type WalRecord } from '../../src/wal/wal.js';
import { canon, frameMap, openReplayed, removeDir, samplesRecord, segmentNumbers, seriesRecord, silentLogger, tempDir } from './helpers.js';

const dirs: string[] = [];
function newDir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('Wal', () => {
  it('round-trips both record types across segments and restarts', async () => {
    const dir = newDir();
    const { wal, report } = await openReplayed({ dir, segmentBytesMax: 2048, logger: silentLogger });
    expect(report).toEqual({ segmentsRead: 0, recordsRead: 0, bytesRead: 0 });
    const written: WalRecord[] = [];
    for (let i = 0; i < 20; i++) {
      const recs = [seriesRecord(`t${i % 3}`, i * 4 + 1, 4, `m${i}`), samplesRecord(`t${i % 3}`, i + 1, 10 + i)];
      written.push(...recs);
      await wal.append(recs);
    }
    wal.assertInvariants();
    const stats = wal.stats();
    expect(stats.recordsWritten).toBe(40);
    expect(stats.segmentsLive).toBeGreaterThanOrEqual(3);
    await wal.close();
    for (const n of segmentNumbers(dir)) expect(fs.statSync(segmentPath(dir, n)).size).toBeLessThanOrEqual(2048);

    const again = await openReplayed({ dir, segmentBytesMax: 2048 });
    expect(again.report.corruption).toBeUndefined();
    expect(again.report.recordsRead).toBe(40);
    expect(again.report.segmentsRead).toBe(stats.segmentsLive);
    expect(again.records.map(canon)).toEqual(written.map(canon));
    // Appends after a restart go to a new segment after the last one.
    expect(again.wal.stats().currentSegment).toBe(stats.segmentsLive + 1);
    await again.wal.append([samplesRecord('t0', 77, 5)]);
    await again.wal.close();
    const third = await openReplayed({ dir, segmentBytesMax: 2048 });
    expect(third.records.map(canon)).toEqual([...written, samplesRecord('t0', 77, 5)].map(canon));
    await third.wal.close();
  });

  it('keeps the order of append() calls and splits records above the record limit', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir, recordBytesMax: 1024 });
    const big = samplesRecord('t', 5, 500); // ~10 kB: split into ~10 records
    const small = samplesRecord('u', 6, 3);
    const p1 = wal.append([big]);
    const p2 = wal.append([small]);
    await Promise.all([p1, p2]);
    await wal.close();
    const { records } = await openReplayed({ dir });
    expect(records.length).toBeGreaterThan(5);
    const last = records.pop()!;
    expect(canon(last)).toEqual(canon(small));
    const refs = records.flatMap((r) => (r.type === 'samples' ? Array.from(r.refs) : []));
    const values = Buffer.concat(records.map((r) => (r.type === 'samples' ? Buffer.from(r.values.buffer, r.values.byteOffset, r.values.byteLength) : Buffer.alloc(0))));
    expect(refs).toEqual(Array.from(big.refs));
    expect(values.equals(Buffer.from(big.values.buffer))).toBe(true);
  });

  it('group commit: many concurrent appends share far fewer fsyncs, and all resolve', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir });
    // 40 clients, each appending 25 times, the next append once the previous one is durable.
    const clients = 40;
    const perClient = 25;
    let resolved = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          await wal.append([samplesRecord(`c${c}`, c * 1000 + i, 20)]);
          resolved++;
        }
      }),
    );
    const appends = clients * perClient;
    expect(resolved).toBe(appends);
    const { fsyncs, recordsWritten } = wal.stats();
    expect(recordsWritten).toBe(appends);
    expect(fsyncs).toBeGreaterThan(0);
    expect(fsyncs).toBeLessThan(appends / 5);
    // A burst from one tick is one batch: one fsync (plus none for segment roll-over here).
    const before = wal.stats().fsyncs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append([samplesRecord('burst', i, 5)])));
    expect(wal.stats().fsyncs - before).toBe(1);
    await wal.close();
    const { records } = await openReplayed({ dir });
    expect(records.length).toBe(appends + 200);
  });

  it("fsync 'off' resolves without fdatasync and syncs once at close", async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir, fsync: 'off' });
    await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append([samplesRecord('t', i, 5)])));
    await wal.append([samplesRecord('t', 99, 5)]);
    expect(wal.stats().fsyncs).toBe(0);
    await wal.close();
    expect(wal.stats().fsyncs).toBe(1);
    expect((await openReplayed({ dir })).records.length).toBe(51);
  });

  it('cut(): earlier records in segments <= n, later ones after n; no empty segments', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir });
    expect(wal.cut()).toBe(0); // nothing written yet: segment 1 is still empty
    const a = wal.append([samplesRecord('t', 1, 5)]);
    const n = wal.cut();
    expect(n).toBe(1);
    expect(wal.cut()).toBe(1); // nothing appended since: same answer, no empty segment
    const b = wal.append([samplesRecord('t', 2, 5), seriesRecord('t', 1, 2, 'x')]);
    await Promise.all([a, b]);
    const m = wal.cut();
    expect(m).toBe(2);
    await wal.append([samplesRecord('t', 3, 5)]);
    await wal.close();
    expect(segmentNumbers(dir)).toEqual([1, 2, 3]);
    const { segments } = await openReplayed({ dir });
    expect(segments).toEqual([1, 2, 2, 3]);
  });

  it('truncate() removes segments <= n but never the current one; replay from n+1 reads the rest', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir, segmentBytesMax: 1024 });
    for (let i = 0; i < 30; i++) await wal.append([samplesRecord('t', i, 10)]);
    const segs = segmentNumbers(dir);
    expect(segs.length).toBeGreaterThanOrEqual(5);
    const current = wal.stats().currentSegment;
    expect(current).toBe(segs[segs.length - 1]);
    await wal.truncate(3);
    expect(segmentNumbers(dir)).toEqual(segs.filter((n) => n > 3));
    expect(wal.stats().segmentsLive).toBe(segs.length - 3);
    await wal.truncate(current + 10); // the current segment stays
    expect(segmentNumbers(dir)).toEqual([current]);
    wal.assertInvariants();
    await wal.append([samplesRecord('t', 100, 10)]);
    await wal.close();
    const { records, report } = await openReplayed({ dir }, current);
    expect(report.corruption).toBeUndefined();
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(canon(records[records.length - 1]!)).toEqual(canon(samplesRecord('t', 100, 10)));
  });

  it('replay(from) deletes the covered segments below from and reads the others', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir, segmentBytesMax: 1024 });
    for (let i = 0; i < 20; i++) await wal.append([samplesRecord('t', i, 10)]);
    await wal.close();
    const frames = await frameMap(dir);
    const again = await openReplayed({ dir, segmentBytesMax: 1024 }, 3);
    expect(again.report.corruption).toBeUndefined();
    expect(again.records.length).toBe(frames.filter((f) => f.segment >= 3).length);
    expect(segmentNumbers(dir)[0]).toBe(3);
    await again.wal.close();
  });

  it('a fresh WAL starting at fromSegment numbers its first segment fromSegment', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir }, 42);
    expect(wal.cut()).toBe(41);
    await wal.append([samplesRecord('t', 1, 3)]);
    await wal.close();
    expect(segmentNumbers(dir)).toEqual([42]);
  });

  it('append after close rejects; append before replay rejects; close is idempotent', async () => {
    const dir = newDir();
    const wal = await Wal.open({ dir });
    expect(String(await rejection(wal.append([samplesRecord('t', 1, 3)])))).toMatch(/before replay/);
    await wal.replay(1, () => undefined);
    await expect(wal.replay(1, () => undefined)).rejects.toThrow(/once/);
    const pending = wal.append([samplesRecord('t', 1, 3)]);
    const closing = wal.close();
    await pending; // accepted before close: written
    await closing;
    await wal.close();
    const err = await rejection(wal.append([samplesRecord('t', 2, 3)]));
    expect(err).toBeInstanceOf(MochaError);
    expect((err as MochaError).code).toBe('SHUTTING_DOWN');
    expect((await openReplayed({ dir })).records.length).toBe(1);
  });

  it('rejects an invalid record without encoding any record of that call', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir });
    const bad: WalRecord = { type: 'samples', tenant: 'no spaces allowed', refs: new Uint32Array(1), timestampsMs: new Float64Array(1), values: new Float64Array(1) };
    await expect(wal.append([samplesRecord('t', 1, 3), bad])).rejects.toThrow(/tenant/);
    await wal.append([samplesRecord('t', 2, 3)]);
    await wal.close();
    const { records } = await openReplayed({ dir });
    expect(records.map(canon)).toEqual([canon(samplesRecord('t', 2, 3))]);
  });

  it('errors thrown by onRecord propagate out of replay', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir });
    await wal.append([samplesRecord('t', 1, 3)]);
    await wal.close();
    const again = await Wal.open({ dir });
    await expect(
      again.replay(1, () => {
        throw new Error('memtable said no');
      }),
    ).rejects.toThrow('memtable said no');
    expect(segmentNumbers(dir)).toEqual([1]); // nothing was "repaired"
  });

  it('a newer format version is refused, not repaired', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir });
    await wal.append([samplesRecord('t', 1, 3)]);
    await wal.close();
    const file = segmentPath(dir, 1);
    const buf = fs.readFileSync(file);
    buf.writeUInt16LE(3, 8);
    fs.writeFileSync(file, buf);
    const again = await Wal.open({ dir });
    await expect(again.replay(1, () => undefined)).rejects.toThrow(/format version 3/);
    expect(fs.statSync(file).size).toBe(buf.length);
  });

  it('reads a format version 1 segment (written before exemplars existed)', async () => {
    const dir = newDir();
    const { wal } = await openReplayed({ dir });
    await wal.append([samplesRecord('t', 1, 3)]);
    await wal.close();
    const file = segmentPath(dir, 1);
    const buf = fs.readFileSync(file);
    expect(buf.readUInt16LE(8)).toBe(2);
    buf.writeUInt16LE(1, 8); // series and samples records are byte-identical in versions 1 and 2
    fs.writeFileSync(file, buf);
    const again = await Wal.open({ dir });
    const got: WalRecord[] = [];
    const report = await again.replay(1, (r) => got.push(r));
    expect(report.corruption).toBeUndefined();
    expect(got.map((r) => r.type)).toEqual(['samples']);
    await again.close();
  });

  it('rejects bad options', async () => {
    const dir = newDir();
    await expect(Wal.open({ dir, segmentBytesMax: 100 })).rejects.toThrow(/segmentBytesMax/);
    await expect(Wal.open({ dir, recordBytesMax: 1 })).rejects.toThrow(/recordBytesMax/);
    await expect(Wal.open({ dir, fsync: 'always' as 'off' })).rejects.toThrow(/fsync/);
  });
});

describe('Wal under simulated faults', () => {
  it('a failed fdatasync rejects every append of the batch and every later append', async () => {
    const dir = newDir();
    let syncs = 0;
    const warnings: string[] = [];
    const { wal } = await openReplayed({
      dir,
      logger: { warn: (_o, msg) => warnings.push(msg), info: () => undefined },
      fileOps: {
        datasync: async (fh: FileHandle) => {
          if (++syncs >= 2) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
          await fh.datasync();
        },
      },
    });
    await wal.append([samplesRecord('t', 1, 3)]); // first fsync succeeds
    const batch = Array.from({ length: 10 }, (_, i) => wal.append([samplesRecord('t', 10 + i, 3)]));
    const results = await Promise.allSettled(batch);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const err = (results[0] as PromiseRejectedResult).reason as MochaError;
    expect(err).toBeInstanceOf(MochaError);
    expect(err.message).toMatch(/EIO/);
    expect(err.message).toMatch(/refuses further appends/);
    const later = await rejection(wal.append([samplesRecord('t', 99, 3)]));
    expect(later).toBe(err);
    expect(warnings.length).toBe(1);
    await wal.close(); // still closes the file
  });

  it('appends queued behind a failing batch are rejected too', async () => {
    const dir = newDir();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { wal } = await openReplayed({
      dir,
      fileOps: {
        datasync: async () => {
          await gate;
          throw new Error('EIO: fdatasync');
        },
      },
    });
    const first = wal.append([samplesRecord('t', 1, 3)]);
    await new Promise((r) => setTimeout(r, 20)); // the first batch is now waiting in fsync
    const queued = wal.append([samplesRecord('t', 2, 3)]);
    release();
    await expect(first).rejects.toThrow(/EIO/);
    await expect(queued).rejects.toThrow(/EIO/);
    await wal.close();
  });

  it('a torn write fails the append; the torn record is cut at the next start and appends go on after it', async () => {
    const dir = newDir();
    let writes = 0;
    const good = [samplesRecord('t', 1, 50), samplesRecord('t', 2, 50)];
    const { wal } = await openReplayed({
      dir,
      fileOps: {
        write: async (fh, buf, position) => {
          writes++;
          // The header and the first two batches go through; the third is torn halfway.
          if (writes === 4) {
            const half = Math.floor(buf.length / 2);
            await fh.write(buf, 0, half, position);
            throw new Error('ENOSPC: no space left on device, write');
          }
          return (await fh.write(buf, 0, buf.length, position)).bytesWritten;
        },
      },
    });
    await wal.append([good[0]!]);
    await wal.append([good[1]!]);
    await expect(wal.append([samplesRecord('t', 3, 50)])).rejects.toThrow(/ENOSPC/);
    await wal.close();

    const warnings: object[] = [];
    const again = await openReplayed({ dir, logger: { warn: (o) => warnings.push(o), info: () => undefined } });
    expect(again.records.map(canon)).toEqual(good.map(canon));
    expect(again.report.corruption).toMatchObject({ segment: 1, reason: expect.stringMatching(/torn/), segmentsDropped: [] });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ segment: 1, offset: again.report.corruption!.offset });
    await again.wal.append([samplesRecord('t', 4, 5)]);
    await again.wal.close();
    const third = await openReplayed({ dir });
    expect(third.report.corruption).toBeUndefined();
    expect(third.records.map(canon)).toEqual([...good, samplesRecord('t', 4, 5)].map(canon));
    expect(third.segments).toEqual([1, 1, 2]);
    expect(fs.statSync(segmentPath(dir, 1)).size).toBe(again.report.corruption!.offset);
    expect(again.report.corruption!.offset).toBeGreaterThan(SEGMENT_HEADER_BYTES);
  });
});
