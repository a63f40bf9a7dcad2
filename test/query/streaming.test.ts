// Range functions and instant selectors read series in batches (Querier.selectSeriesBatches):
// over an engine whose series span many segments (overlapping segments and the memtable head
// included), answers are identical to the all-at-once read, and a samples limit far below the
// total the query reads holds, because it bounds samples held at once (plus output cells).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Engine } from '../../src/engine.js';
import { PARTITION_MS } from '../../src/constants.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import type { BatchHints, Querier, SeriesData } from '../../src/model/querier.js';
import type { Matcher } from '../../src/model/matchers.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { MochaError } from '../../src/errors.js';
import { rangeQuery, type QueryResult } from '../../src/query/engine.js';

const M = 60_000;
const SERIES = 30;
let dataDir: string;
let engine: Engine;
let startMs: number;
let endMs: number;

function labelsOf(i: number): Labels {
  return [
    { name: '__name__', value: 'm_total' },
    { name: 'g', value: String(i % 3) },
    { name: 'i', value: String(i).padStart(2, '0') },
  ];
}

async function append(fromMs: number, toMs: number, value: (i: number, t: number) => number): Promise<void> {
  const batch = [];
  for (let i = 0; i < SERIES; i++) {
    const ts: number[] = [];
    for (let t = fromMs; t < toMs; t += M) ts.push(t + i * 100);
    const labels = labelsOf(i);
    batch.push({ labels, key: labelsKey(labels), timestampsMs: Float64Array.from(ts), values: Float64Array.from(ts, (t) => value(i, t)) });
  }
  await engine.append('default', batch);
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-stream-'));
  engine = await Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', compactionWorkers: 1 });
  // 12 h of per-minute counters over 7 partitions, flushed to segments ...
  const p = Math.floor(Date.now() / PARTITION_MS) * PARTITION_MS;
  startMs = p - 12 * 60 * M;
  endMs = p + 30 * M;
  await append(startMs, p, (i, t) => Math.floor((t - startMs) / M) * (i + 1) + (t > startMs + 300 * M ? 7 : 0) * (i % 4 === 0 ? -1 : 1));
  await engine.flush();
  // ... one partition rewritten with other values (a second, overlapping segment: later wins) and
  // a stale marker in one series ...
  await append(startMs + 200 * M, startMs + 230 * M, (i, t) => (t - startMs) / M + i * 1000);
  const stale = labelsOf(5);
  await engine.append('default', [{ labels: stale, key: labelsKey(stale), timestampsMs: Float64Array.of(startMs + 400 * M + 30_000), values: Float64Array.of(STALE_NAN) }]);
  await engine.flush();
  // ... and the last half hour in the memtable head only.
  await append(p, endMs, (i, t) => Math.floor((t - startMs) / M) * (i + 1));
});

afterAll(async () => {
  await engine?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

/** The engine's querier, counting the batches it hands out; or without batches at all (the all-at-once read). */
function querier(batched: boolean, counts: { batches: number; selections: number }): Querier {
  const q = engine.querier('default');
  const all: Querier = {
    selectSeries: (m, a, b, h) => q.selectSeries(m, a, b, h),
    series: (m, a, b, l) => q.series(m, a, b, l),
    labelNames: (m, a, b) => q.labelNames(m, a, b),
    labelValues: (n, m, a, b) => q.labelValues(n, m, a, b),
    close: () => q.close(),
  };
  if (!batched) return all;
  return {
    ...all,
    async *selectSeriesBatches(m: readonly Matcher[], a: number, b: number, h: BatchHints): AsyncGenerator<SeriesData[]> {
      counts.selections++;
      for await (const batch of q.selectSeriesBatches!(m, a, b, h)) {
        counts.batches++;
        yield batch;
      }
    },
  };
}

function plain(r: QueryResult): unknown {
  if (r.resultType !== 'matrix') throw new Error(r.resultType);
  return r.result.map((s) => ({ labels: s.labels, t: Array.from(s.timestampsMs), v: Array.from(s.values) }));
}

// With the limit each is run under: well below the samples read (30 series x ~750), above one
// series' samples plus the output columns held (30 series x 151 steps per selector).
const QUERIES: Array<[string, number]> = [
  ['sum by (g) (rate(m_total[10m]))', 9000],
  ['avg_over_time(m_total[15m])', 9000],
  ['m_total', 9000],
  ['max_over_time(m_total[1h]) - min_over_time(m_total[1h] offset 5m)', 15_000],
  ['resets(m_total[30m])', 9000],
  ['last_over_time(m_total[10m])', 9000],
  ['count_over_time(m_total{g="1"}[7m])', 4000],
];

describe('series read in batches', () => {
  test.each(QUERIES)('%s: same answer as the all-at-once read, within a samples limit of %d', async (expr, samplesMax) => {
    const stepMs = 5 * M;
    const whole = querier(false, { batches: 0, selections: 0 });
    const want = await rangeQuery(whole, expr, startMs, endMs, stepMs, { samplesMax: 1e9, stats: true });
    const total = want.stats!.samplesLoaded;
    expect(total).toBeGreaterThan(SERIES * 500 * (expr.includes('g="1"') ? 1 / 3 : 1));
    // A limit well below what the query reads: the old all-at-once read fails it ...
    expect(total).toBeGreaterThan(samplesMax);
    const e = await rangeQuery(whole, expr, startMs, endMs, stepMs, { samplesMax }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MochaError);
    expect((e as MochaError).code).toBe('QUERY_TOO_MANY_SAMPLES');
    // ... the batched read answers the same, reading the same samples in several batches.
    const counts = { batches: 0, selections: 0 };
    const got = await rangeQuery(querier(true, counts), expr, startMs, endMs, stepMs, { samplesMax, stats: true });
    expect(plain(got)).toEqual(plain(want));
    expect(got.stats!.samplesLoaded).toBe(total);
    expect(counts.batches).toBeGreaterThan(counts.selections);
    whole.close();
  });

  test('absent_over_time stops reading once every step is covered', async () => {
    const expr = 'absent_over_time(m_total[2m])';
    const whole = querier(false, { batches: 0, selections: 0 });
    const want = await rangeQuery(whole, expr, startMs, endMs, 5 * M, { stats: true });
    const counts = { batches: 0, selections: 0 };
    const got = await rangeQuery(querier(true, counts), expr, startMs, endMs, 5 * M, { samplesMax: 9000, stats: true });
    expect(plain(got)).toEqual(plain(want));
    expect(got.stats!.samplesLoaded).toBeLessThan(want.stats!.samplesLoaded);
    whole.close();
  });

  test('the default budget reads a small query in one batch per selector', async () => {
    const counts = { batches: 0, selections: 0 };
    const q = querier(true, counts);
    await rangeQuery(q, 'rate(m_total[10m])', startMs, endMs, 5 * M);
    expect(counts).toEqual({ batches: 1, selections: 1 });
    q.close();
  });

  test('one series must fit in what is left of the limit', async () => {
    const q = querier(true, { batches: 0, selections: 0 });
    // About 750 samples per series over the range: a limit of 500 cannot hold one.
    const e = await rangeQuery(q, 'rate(m_total[10m])', startMs, endMs, 5 * M, { samplesMax: 500 }).catch((x: unknown) => x);
    expect((e as MochaError).code).toBe('QUERY_TOO_MANY_SAMPLES');
    q.close();
  });
});
