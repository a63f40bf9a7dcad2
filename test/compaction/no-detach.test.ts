// Data the main thread hands to worker threads is shared or copied, never transferred: a transfer
// detaches the main thread's buffer, and the first detach in a V8 isolate slows every typed-array
// loop of that thread for the rest of the process (src/model/shared-arrays.ts,
// bench/micro/detach-protector.ts). Checked here on each path that posts typed arrays to a
// worker: the flush input (Head.pack, packSeries, CompactionPool.runFlush) and the parts of large
// query answers (AnswerFormatter). A detached array has length 0.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packSeries } from '../../src/compaction/flush-task.js';
import { CompactionPool } from '../../src/compaction/pool.js';
import { PARTITION_MS } from '../../src/constants.js';
import { Head } from '../../src/memtable/head.js';
import { SeriesRegistry } from '../../src/memtable/series-registry.js';
import { labelsFromRecord, labelsKey } from '../../src/model/labels.js';
import type { QueryResult } from '../../src/query/engine.js';
import { AnswerFormatter } from '../../src/query/format-pool.js';
import { JsonBytes, writeQueryData } from '../../src/query/format.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const P0 = 1_700_006_400_000 - (1_700_006_400_000 % PARTITION_MS);

describe('no buffer of the main thread is detached by handing it to a worker', () => {
  it('flush input: Head.pack and packSeries give shared arrays, runFlush leaves them (and plain ones) attached', async () => {
    const reg = new SeriesRegistry();
    const head = new Head(reg);
    for (let i = 0; i < 3; i++) {
      const labels = labelsFromRecord({ __name__: 'm', i: String(i) });
      const ref = reg.create(labels, labelsKey(labels));
      for (let k = 0; k < 100; k++) head.append(ref, P0 + k * 1000, k * i);
    }
    const packed = head.pack();
    for (const a of [packed.offsets, packed.timestampsMs, packed.values]) expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    const fromSeries = packSeries([{ labels: labelsFromRecord({ __name__: 'f' }), timestampsMs: Float64Array.from([P0 + 5000]), values: Float64Array.from([1]) }]);
    for (const a of [fromSeries.offsets, fromSeries.timestampsMs, fromSeries.values]) expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    const plain = { labelsJson: JSON.stringify([labelsFromRecord({ __name__: 'p' })]), offsets: Uint32Array.from([0, 2]), timestampsMs: Float64Array.from([P0 + 1, P0 + 2]), values: Float64Array.from([1, 2]) };

    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-no-detach-'));
    dirs.push(dataDir);
    const pool = new CompactionPool(1);
    try {
      let seq = 1;
      for (const input of [packed, fromSeries, plain]) {
        const lengths = [input.offsets.length, input.timestampsMs.length, input.values.length];
        const out = await pool.runFlush({ dataDir, tenant: 'default', firstSegmentSeq: seq, labelsJson: input.labelsJson, offsets: input.offsets, timestampsMs: input.timestampsMs, values: input.values });
        seq = out.nextSegmentSeq;
        expect(out.segments.reduce((n, s) => n + s.sampleCount, 0)).toBe(input.timestampsMs.length);
        expect([input.offsets.length, input.timestampsMs.length, input.values.length]).toEqual(lengths);
      }
      expect(packed.timestampsMs[0]).toBe(P0);
    } finally {
      await pool.close();
    }
  });

  it('large answers: the series formatted by a worker stay attached, their copies are shared', async () => {
    const f = new AnswerFormatter({ threads: 1, pointsMin: 10 });
    try {
      const series = Array.from({ length: 4 }, (_, i) => ({
        labels: labelsFromRecord({ __name__: 'm', i: String(i) }),
        timestampsMs: Float64Array.from({ length: 50 }, (_, k) => P0 + k * 1000),
        values: Float64Array.from({ length: 50 }, (_, k) => k / 3),
      }));
      const result: QueryResult = { resultType: 'matrix', result: series };
      const w = new JsonBytes();
      await f.writeQueryData(w, result);
      expect(f.partsByWorkers).toBe(1);
      const want = new JsonBytes();
      writeQueryData(want, result);
      expect(w.toString()).toBe(want.toString());
      for (const s of series) expect([s.timestampsMs.length, s.values.length]).toEqual([50, 50]);
    } finally {
      await f.close();
    }
  });
});
