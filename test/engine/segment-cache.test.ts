// The engine and the shared segment cache: queries over flushed segments fill it, answers match
// what was written, and closing the engine (which closes every segment reader) drops every entry
// those readers put there.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Engine } from '../../src/engine.js';
import { segmentBatchCache, segmentChunkCache } from '../../src/segment/cache.js';
import { newMatcher } from '../../src/model/matchers.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { PARTITION_MS } from '../../src/constants.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

describe('engine over the shared segment cache', () => {
  it('fills the cache from segment reads, answers right, and releases it on close', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-engine-cache-'));
    dirs.push(dataDir);
    const engine = await Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', compactionWorkers: 1 });
    const before = { b: segmentBatchCache.stats().entries, c: segmentChunkCache.stats().entries };
    // 20 series spanning a partition boundary: each series ends up in two segments.
    const p = Math.floor(Date.now() / PARTITION_MS) * PARTITION_MS - PARTITION_MS;
    const start = p - 30 * 60_000;
    const n = 240;
    const series = Array.from({ length: 20 }, (_, i) => {
      const labels: Labels = [
        { name: '__name__', value: 'm' },
        { name: 'i', value: String(i) },
      ];
      const timestampsMs = Float64Array.from({ length: n }, (_, k) => start + k * 15_000 + i);
      const values = Float64Array.from({ length: n }, (_, k) => i * 1000 + k);
      return { labels, key: labelsKey(labels), timestampsMs, values };
    });
    await engine.append('default', series);
    await engine.flush();
    expect(engine.stats().segments).toBe(2);

    const q = engine.querier('default');
    try {
      for (let pass = 0; pass < 2; pass++) {
        const got = await q.selectSeries([newMatcher('=', '__name__', 'm')], start, start + n * 15_000);
        expect(got.length).toBe(20);
        for (const s of got) {
          const i = Number(s.labels.find((l) => l.name === 'i')!.value);
          expect(Array.from(s.timestampsMs)).toEqual(Array.from(series[i]!.timestampsMs));
          expect(Array.from(s.values)).toEqual(Array.from(series[i]!.values));
        }
        // A 5 minute window across the partition boundary.
        const w = await q.selectSeries([newMatcher('=', 'i', '3')], p - 150_000, p + 150_000);
        expect(Array.from(w[0]!.timestampsMs)).toEqual(Array.from(series[3]!.timestampsMs).filter((t) => t >= p - 150_000 && t <= p + 150_000));
      }
    } finally {
      q.close();
    }
    expect(segmentBatchCache.stats().entries).toBe(before.b + 2);
    expect(segmentChunkCache.stats().entries).toBe(before.c + 40);

    await engine.close();
    expect(segmentBatchCache.stats().entries).toBe(before.b);
    expect(segmentChunkCache.stats().entries).toBe(before.c);
  });
});
