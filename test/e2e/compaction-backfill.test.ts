// Backfill, end to end: remote write of samples days and hours old lands in their own
// partitions; compaction merges each partition and builds the levels of each day (level
// partition) from all its raw segments; a second backfill into an already compacted partition
// (older samples, and rewrites of existing timestamps) makes a new raw segment there, and the next
// compaction merges it and rebuilds that day's levels from the merged data (their sources name the
// new raw segment), leaving the other day alone. A range query over both days reads one level
// segment per day.
// Checked through queries (raw samples) and by reading the level segments the server wrote.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { LEVEL_PARTITION_MS, PARTITION_MS } from '../../src/constants.js';
import { readManifest, type ManifestSegment } from '../../src/segment/manifest.js';
import { tenantSegmentsDir } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { newMatcher } from '../../src/model/matchers.js';
import { buildBuckets } from '../../src/rollup/buckets.js';
import { postRemoteWrite, promGet, startServer, type ServerProcess } from '../helpers/server-process.js';

const NOW_P = Math.floor(Date.now() / PARTITION_MS) * PARTITION_MS;
// 04:00 UTC three days back: this partition and the next (the test writes up to 2 h past DAYS_P)
// stay inside one level day whatever the time of day (NOW_P - 40 partitions was 22:00 when the
// test ran between 06:00 and 08:00 UTC, and its last write landed in the next day).
const DAYS_P = NOW_P - (NOW_P % LEVEL_PARTITION_MS) - 3 * LEVEL_PARTITION_MS + 2 * PARTITION_MS;
const HOURS_P = NOW_P - 3 * PARTITION_MS;

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) {
    await s.kill9();
    fs.rmSync(s.dataDir, { recursive: true, force: true });
  }
});

/** series -> time -> value, last write wins. */
const model = new Map<string, Map<number, number>>();

async function write(url: string, id: string, times: number[], value: (t: number) => number): Promise<void> {
  const ts = Float64Array.from(times);
  const vs = Float64Array.from(times, value);
  const res = await postRemoteWrite(url, encodeRemoteWriteV1([{ labels: { __name__: 'bf_total', id }, timestampsMs: ts, values: vs }]));
  expect(res.status, res.text).toBe(204);
  let m = model.get(id);
  if (!m) model.set(id, (m = new Map()));
  for (let i = 0; i < ts.length; i++) m.set(ts[i]!, vs[i]!);
}

async function post(url: string, p: string): Promise<Record<string, number>> {
  const res = await fetch(url + p, { method: 'POST' });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Record<string, number> }).data;
}

async function checkRaw(url: string): Promise<void> {
  const res = await promGet<{ data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }>(
    url,
    `/api/v1/query?query=${encodeURIComponent('bf_total[5d]')}&time=${Date.now() / 1000}`,
  );
  const got = new Map(res.body.data.result.map((r) => [r.metric.id!, r.values.map(([t, v]) => [Math.round(t * 1000), Number(v)])]));
  expect([...got.keys()].sort()).toEqual([...model.keys()].sort());
  for (const [id, m] of model) expect(got.get(id)).toEqual([...m.entries()].sort((a, b) => a[0] - b[0]));
}

/** The level segments of the day holding p hold exactly buildBuckets of the model's samples in that day, built from all its raw segments. */
async function checkLevels(dataDir: string, p: number, segments: ManifestSegment[]): Promise<void> {
  const day = p - (p % LEVEL_PARTITION_MS);
  const dayEnd = day + LEVEL_PARTITION_MS;
  const levels = segments.filter((s) => s.level !== 'raw' && s.partitionStartMs === day);
  const raws = segments.filter((s) => s.level === 'raw' && s.partitionStartMs >= day && s.partitionStartMs < dayEnd);
  expect(raws.filter((s) => s.partitionStartMs === p).length).toBe(1);
  expect(levels.map((s) => s.level).sort()).toEqual(['1d', '1h', '5m']);
  for (const l of levels) {
    expect(l.partitionEndMs).toBe(dayEnd);
    const r = await LevelSegmentReader.open(path.join(tenantSegmentsDir(dataDir, 'default'), l.name));
    try {
      expect([...r.sources].sort()).toEqual(raws.map((x) => x.name).sort());
      const got = await r.selectBuckets([newMatcher('=', '__name__', 'bf_total')], day - 86_400_000, dayEnd + 86_400_000);
      expect(got.length).toBe(model.size);
      for (const g of got) {
        const id = g.labels.find((x) => x.name === 'id')!.value;
        const inDay = [...model.get(id)!.entries()].filter(([t]) => t >= day && t < dayEnd).sort((a, b) => a[0] - b[0]);
        const want = buildBuckets(Float64Array.from(inDay, (x) => x[0]), Float64Array.from(inDay, (x) => x[1]), r.widthMs);
        expect(Array.from(g.buckets.endMs)).toEqual(Array.from(want.endMs));
        expect(Array.from(g.buckets.count)).toEqual(Array.from(want.count));
        expect(Array.from(g.buckets.sum)).toEqual(Array.from(want.sum));
        expect(Array.from(g.buckets.lastV)).toEqual(Array.from(want.lastV));
        expect(Array.from(g.buckets.resets)).toEqual(Array.from(want.resets));
      }
    } finally {
      r.close();
    }
  }
}

describe('backfill and compaction', () => {
  it('backfilled partitions are merged and their levels rebuilt after a later backfill', async () => {
    const server = await startServer({ args: ['--compaction-interval', '0'] });
    servers.push(server);
    const minutes = (p: number, from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) }, (_, i) => p + (from + i * step) * 60_000);
    // A counter per id, written in two requests per partition (two flushes), with a reset.
    for (const id of ['a', 'b']) {
      await write(server.url, id, minutes(DAYS_P, 30, 90), (t) => ((t - DAYS_P) / 60_000) * (id === 'a' ? 1 : 2));
      await write(server.url, id, minutes(HOURS_P, 0, 120, 2), (t) => ((t - HOURS_P) / 60_000) % 50);
    }
    await post(server.url, '/api/v1/admin/flush');
    await write(server.url, 'a', minutes(DAYS_P, 90, 120), (t) => (t - DAYS_P) / 60_000);
    await post(server.url, '/api/v1/admin/flush');
    const first = await post(server.url, '/api/v1/admin/compact');
    // Work units: the days-old partition's merge, then one level build per day (two days).
    expect(first).toMatchObject({ partitions: 3, segmentsMerged: 2, rawSegmentsWritten: 1, levelSegmentsWritten: 6, failures: 0 });
    let m = await readManifest(server.dataDir);
    await checkLevels(server.dataDir, DAYS_P, m.segments);
    await checkLevels(server.dataDir, HOURS_P, m.segments);
    await checkRaw(server.url);
    const hoursDay = HOURS_P - (HOURS_P % LEVEL_PARTITION_MS);
    const inHoursDay = (s: ManifestSegment) => s.partitionStartMs >= hoursDay && s.partitionStartMs < hoursDay + LEVEL_PARTITION_MS;
    const hoursBefore = m.segments.filter(inHoursDay).map((s) => s.name).sort();

    // Backfill into the compacted days-old partition: older samples, and rewrites.
    await write(server.url, 'a', minutes(DAYS_P, 0, 30), () => 1000);
    await write(server.url, 'b', minutes(DAYS_P, 40, 50), (t) => 5000 + (t - DAYS_P) / 60_000);
    await post(server.url, '/api/v1/admin/flush');
    await checkRaw(server.url);
    const second = await post(server.url, '/api/v1/admin/compact');
    // The partition's merge, then its day's levels rebuilt (and the old ones removed).
    expect(second).toMatchObject({ partitions: 2, segmentsMerged: 2, rawSegmentsWritten: 1, levelSegmentsWritten: 3, levelSegmentsRemoved: 3, failures: 0 });
    m = await readManifest(server.dataDir);
    await checkLevels(server.dataDir, DAYS_P, m.segments);
    // The other day was left alone.
    expect(m.segments.filter(inHoursDay).map((s) => s.name).sort()).toEqual(hoursBefore);
    await checkRaw(server.url);
    expect(fs.readdirSync(tenantSegmentsDir(server.dataDir, 'default')).sort()).toEqual(m.segments.map((s) => s.name).sort());

    // ?tenant= limits a run; an invalid tenant id is a 400 that changes nothing.
    await write(server.url, 'a', minutes(DAYS_P, 120, 121), () => 7);
    await post(server.url, '/api/v1/admin/flush');
    expect(await post(server.url, '/api/v1/admin/compact?tenant=someone-else')).toMatchObject({ partitions: 0 });
    const bad = await fetch(server.url + '/api/v1/admin/compact?tenant=' + encodeURIComponent('../x'), { method: 'POST' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/tenant/);
    expect((await readManifest(server.dataDir)).segments.length).toBe(m.segments.length + 1);
    expect(await post(server.url, '/api/v1/admin/compact?tenant=default')).toMatchObject({ partitions: 1 });
    await checkRaw(server.url);

    // A range query over several days reads one level segment per day (not one per raw
    // partition), and answers as raw data does.
    m = await readManifest(server.dataDir);
    const raws = m.segments.filter((s) => s.level === 'raw');
    const days = new Set(raws.map((s) => s.partitionStartMs - (s.partitionStartMs % LEVEL_PARTITION_MS)));
    expect(days.size).toBe(2);
    expect(new Set(raws.map((s) => s.partitionStartMs)).size).toBeGreaterThan(days.size);
    const startS = Math.min(...days) / 1000;
    const endS = (Math.max(...days) + LEVEL_PARTITION_MS) / 1000;
    type RangeBody = { data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }>; stats?: { rollup?: Array<{ level: string; levelSegmentsRead: number; rawPiecesRead: number }> } } };
    const q = (res: string) =>
      promGet<RangeBody>(server.url, `/api/v1/query_range?query=${encodeURIComponent('sum(count_over_time(bf_total[1h]))')}&start=${startS}&end=${endS}&step=3600&stats=all&resolution=${res}`);
    const fromLevel = await q('1h');
    expect(fromLevel.body.data.stats?.rollup).toEqual([expect.objectContaining({ level: '1h', levelSegmentsRead: days.size, rawPiecesRead: 0 })]);
    const fromRaw = await q('raw');
    expect(fromLevel.body.data.result).toEqual(fromRaw.body.data.result);
    expect(fromRaw.body.data.result[0]!.values.length).toBeGreaterThan(3);
  });
});
