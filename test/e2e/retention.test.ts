// Retention per level, end to end: with --retention raw=2h,5m=1d, samples backfilled two days ago
// are answered until compaction runs; POST /api/v1/admin/compact first builds the levels still
// kept (1h, 1d; not 5m, past its retention) from them, then drops their raw segment: it is gone
// from the manifest and from disk and raw queries over that range return nothing, while recent
// data stays. The levels stay, still naming their vanished raw source, and answer the queries
// they serve exactly (an hour-aligned count_over_time gives the same count as raw did).
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { LEVEL_PARTITION_MS, PARTITION_MS } from '../../src/constants.js';
import { readManifest } from '../../src/segment/manifest.js';
import { tenantSegmentsDir } from '../../src/segment/format.js';
import { postRemoteWrite, promGet, startServer, type ServerProcess } from '../helpers/server-process.js';

const NOW_MS = Date.now();
const OLD_P = Math.floor(NOW_MS / PARTITION_MS) * PARTITION_MS - 24 * PARTITION_MS; // two days back
const RECENT_MS = NOW_MS - 20 * 60_000;

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) {
    await s.kill9();
    fs.rmSync(s.dataDir, { recursive: true, force: true });
  }
});

type Matrix = { status: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };

async function rangeQuery(url: string, expr: string, atMs: number, resolution = 'auto'): Promise<Matrix['data']['result']> {
  const res = await promGet<Matrix>(url, `/api/v1/query?query=${encodeURIComponent(expr)}&time=${atMs / 1000}&resolution=${resolution}`);
  expect(res.status).toBe(200);
  return res.body.data.result;
}

describe('retention', () => {
  it('drops raw data past its retention at compaction: queries return nothing there, files are gone, recent data stays', async () => {
    const server = await startServer({ args: ['--retention', 'raw=2h,5m=1d', '--compaction-interval', '0'] });
    servers.push(server);
    const old = { labels: { __name__: 'ret_m', age: 'old' }, timestampsMs: Float64Array.from({ length: 100 }, (_, i) => OLD_P + 5 + i * 60_000), values: Float64Array.from({ length: 100 }, (_, i) => i) };
    const recent = { labels: { __name__: 'ret_m', age: 'recent' }, timestampsMs: Float64Array.from({ length: 10 }, (_, i) => RECENT_MS + i * 1000), values: Float64Array.from({ length: 10 }, (_, i) => 100 + i) };
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1([old, recent]))).status).toBe(204);
    expect((await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' })).status).toBe(200);

    // Until compaction runs, the expired data is still answered.
    const oldEnd = OLD_P + 100 * 60_000;
    expect((await rangeQuery(server.url, 'ret_m[2h]', oldEnd))[0]?.values.length).toBe(100);
    const rawCount = await promGet<{ data: { result: Array<{ value: [number, string] }> } }>(
      server.url,
      `/api/v1/query?query=${encodeURIComponent('count_over_time(ret_m{age="old"}[1h])')}&time=${(OLD_P + 3_600_000) / 1000}&resolution=raw`,
    );
    expect(rawCount.body.data.result.map((r) => r.value[1])).toEqual(['60']);
    const before = await readManifest(server.dataDir);
    const oldNames = before.segments.filter((s) => s.partitionStartMs === OLD_P).map((s) => s.name);
    expect(oldNames.length).toBe(1);

    const res = await fetch(server.url + '/api/v1/admin/compact', { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; data: { segmentsExpired: number; failures: number; levelSegmentsWritten: number } };
    expect(body.status).toBe('success');
    expect(body.data.segmentsExpired).toBe(1);
    // Levels of the old day (1h, 1d) and of the recent one (5m, 1h, 1d).
    expect(body.data.levelSegmentsWritten).toBe(5);
    expect(body.data.failures).toBe(0);

    expect(await rangeQuery(server.url, 'ret_m[2h]', oldEnd)).toEqual([]);
    // A kept level still answers the queries it serves exactly (an hour-aligned window of a
    // range function): the 1h level's count of the first hour, 60 samples; raw finds nothing.
    const hourExpr = 'count_over_time(ret_m{age="old"}[1h])';
    const atHour = (OLD_P + 3_600_000) / 1000;
    const fromLevel = await promGet<{ data: { result: Array<{ value: [number, string] }>; stats?: { rollup?: Array<{ level: string }> } } }>(
      server.url,
      `/api/v1/query?query=${encodeURIComponent(hourExpr)}&time=${atHour}&stats=all`,
    );
    expect(fromLevel.body.data.result.map((r) => r.value[1])).toEqual(['60']);
    expect(fromLevel.body.data.stats?.rollup?.map((r) => r.level)).toEqual(['1h']);
    const fromRaw = await promGet<{ data: { result: unknown[] } }>(server.url, `/api/v1/query?query=${encodeURIComponent(hourExpr)}&time=${atHour}&resolution=raw`);
    expect(fromRaw.body.data.result).toEqual([]);
    // Over 3 days at "now": raw sees only the recent series; auto answers from the 1h level plus
    // a raw tail (docs/API.md), where the old series' kept buckets still count.
    expect((await rangeQuery(server.url, 'count_over_time(ret_m[3d])', NOW_MS, 'raw')).map((r) => r.metric)).toEqual([{ age: 'recent' }]);
    const threeDays = await rangeQuery(server.url, 'count_over_time(ret_m[3d])', NOW_MS);
    expect(threeDays.map((r) => r.metric)).toEqual([{ age: 'old' }, { age: 'recent' }]);
    expect(threeDays.map((r) => (r as unknown as { value: [number, string] }).value[1])).toEqual(['100', String(recent.values.length)]);
    const after = await readManifest(server.dataDir);
    expect(after.segments.some((s) => s.partitionStartMs === OLD_P && s.level === 'raw')).toBe(false);
    const onDisk = fs.readdirSync(tenantSegmentsDir(server.dataDir, 'default'));
    for (const n of oldNames) expect(onDisk).not.toContain(n);
    expect(onDisk.sort()).toEqual(after.segments.map((s) => s.name).sort());
    // The old day's levels (one level partition: the UTC day) stay, naming the raw segment that is gone.
    const oldDay = OLD_P - (OLD_P % LEVEL_PARTITION_MS);
    const oldLevels = after.segments.filter((s) => s.partitionStartMs === oldDay);
    for (const l of oldLevels) expect(l.partitionEndMs).toBe(oldDay + LEVEL_PARTITION_MS);
    expect(oldLevels.map((s) => s.level).sort()).toEqual(['1d', '1h']);
    for (const l of oldLevels) expect((l as { sources?: string[] }).sources).toEqual(oldNames);

    // The recent partition is younger than 2 h: kept, and answered in full.
    const recentAnswer = await rangeQuery(server.url, 'ret_m[1h]', NOW_MS);
    expect(recentAnswer.length).toBe(1);
    expect(recentAnswer[0]!.values.map((v) => Number(v[1]))).toEqual(Array.from(recent.values));

    // Metrics: the drop is counted, and the gauges per level show what is left.
    const metrics = await (await fetch(server.url + '/metrics')).text();
    expect(metrics).toMatch(/^mocha_retention_segments_dropped_total 1$/m);
    for (const level of ['raw', '5m', '1h', '1d']) {
      const segs = after.segments.filter((s) => s.level === level);
      expect(metrics).toMatch(new RegExp(`^mocha_segments\\{level="${level}"\\} ${segs.length}$`, 'm'));
      expect(metrics).toMatch(new RegExp(`^mocha_segment_bytes\\{level="${level}"\\} ${segs.reduce((a, x) => a + x.bytes, 0)}$`, 'm'));
    }
    // A restart opens the level segments whose sources are gone.
    await server.stop();
    const again = await startServer({ dataDir: server.dataDir, args: ['--retention', 'raw=2h,5m=1d', '--compaction-interval', '0'] });
    servers.push(again);
    expect(fs.readdirSync(tenantSegmentsDir(server.dataDir, 'default')).sort()).toEqual(onDisk.sort());
    expect((await rangeQuery(again.url, 'ret_m[1h]', NOW_MS)).length).toBe(1);
    const res2 = (await (await fetch(again.url + '/api/v1/admin/compact', { method: 'POST' })).json()) as { data: { partitions: number; segmentsExpired: number } };
    expect(res2.data).toMatchObject({ partitions: 0, segmentsExpired: 0 });
  });
});
