// The rollup planner over HTTP: the real server answers /api/v1/query and /api/v1/query_range
// the same with resolution=raw, auto and a forced level (5m, 1h), by GET and form POST; the plan
// shows in data.stats.rollup with stats=all or explain=true; /metrics counts selections per
// level; an unknown resolution is a 400 bad_data.
//
// Without level segments (before compaction builds them), `auto` reads raw samples and a forced
// level computes its buckets from raw samples: from the memtable, then from flushed segments
// plus the memtable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { mulberry32 } from '../helpers/prng.js';
import { valuesEqual } from '../helpers/promql-cases.js';
import { postRemoteWrite, promGet, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
/** Three hours of 15 s samples ending an hour before now, on hour boundaries. */
const END_MS = Math.floor(Date.now() / H) * H - H;
const START_MS = END_MS - 3 * H;

interface PlanEntry {
  expr: string;
  level: string;
  reason?: string;
  levelSegmentsRead: number;
  rawPiecesRead: number;
  edge?: { windowsFromRaw: number; rawReads: number };
}
interface QueryBody {
  status: string;
  errorType?: string;
  error?: string;
  data: {
    resultType: string;
    result: { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] }[];
    stats?: { samples: { totalQueryableSamples: number }; rollup: PlanEntry[] };
  };
  infos?: string[];
}

function makeSeries(): EncodeSeries[] {
  const rnd = mulberry32(77);
  const out: EncodeSeries[] = [];
  for (let i = 0; i < 12; i++) {
    const counter = i % 2 === 0;
    const ts: number[] = [];
    const vs: number[] = [];
    let v = counter ? 0 : 50;
    const phase = 1 + Math.floor(rnd() * 14_000);
    for (let t = START_MS + phase; t < END_MS; t += 15 * S) {
      if (i === 3 && t > START_MS + H && t < START_MS + H + 20 * M) continue; // a gap
      v = counter ? (rnd() < 0.01 ? 0 : v + Math.floor(rnd() * 10)) : v + rnd() - 0.5;
      ts.push(t);
      vs.push(v);
    }
    const values = Float64Array.from(vs);
    if (i === 5) values[values.length >> 1] = STALE_NAN;
    out.push({ labels: { __name__: counter ? 'req_total' : 'temp', id: String(i), grp: `g${i % 3}` }, timestampsMs: Float64Array.from(ts), values });
  }
  return out;
}

const QUERIES = [
  'rate(req_total[5m])',
  'sum by (grp) (increase(req_total[1h]))',
  'avg_over_time(temp[15m])',
  'max_over_time(temp[1h]) - min_over_time(temp[1h])',
  'temp',
  'last_over_time(temp[10m] offset 5m)',
  'rate(temp[30m])', // "might not be a counter" infos on every path
  'quantile_over_time(0.9, temp[15m])', // raw on every path
  // Grafana's $__rate_interval at a 5 m step (step + scrape interval): edge extension on 5m.
  'sum by (grp) (rate(req_total[5m15s]))',
  'avg_over_time(temp[5m40s])', // edges holding several samples: raw edge reads
];

describe('rollup resolution over HTTP', () => {
  let server: ServerProcess;
  const seen: Record<string, number> = {};

  beforeAll(async () => {
    server = await startServer();
    const res = await postRemoteWrite(server.url, encodeRemoteWriteV1(makeSeries()));
    expect(res.status).toBe(204);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  async function rangeAt(query: string, resolution: string | undefined, extra: Record<string, string> = {}, post = false): Promise<QueryBody> {
    const params: Record<string, string> = { query, start: String((START_MS + H) / 1000), end: String(END_MS / 1000), step: '300', ...extra };
    if (resolution !== undefined) params['resolution'] = resolution;
    const res = post
      ? await promPostForm<QueryBody>(server.url, '/api/v1/query_range', params)
      : await promGet<QueryBody>(server.url, '/api/v1/query_range?' + new URLSearchParams(params).toString());
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    for (const e of res.body.data.stats?.rollup ?? []) seen[e.level] = (seen[e.level] ?? 0) + 1;
    return res.body;
  }

  function sameResult(a: QueryBody, b: QueryBody, what: string): void {
    const key = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort());
    const ra = new Map(a.data.result.map((s) => [key(s.metric), s.values ?? [s.value!]]));
    const rb = new Map(b.data.result.map((s) => [key(s.metric), s.values ?? [s.value!]]));
    expect([...rb.keys()].sort(), what).toEqual([...ra.keys()].sort());
    for (const [k, va] of ra) {
      const vb = rb.get(k)!;
      expect(vb.map((p) => p[0]), `${what} ${k}`).toEqual(va.map((p) => p[0]));
      va.forEach((p, i) => expect(valuesEqual(Number(vb[i]![1]), Number(p[1])), `${what} ${k} at ${p[0]}: ${p[1]} vs ${vb[i]![1]}`).toBe(true));
    }
    expect([...(b.infos ?? [])].sort(), what).toEqual([...(a.infos ?? [])].sort());
  }

  async function compareAll(phase: string): Promise<void> {
    for (const query of QUERIES) {
      const raw = await rangeAt(query, 'raw', { stats: 'all' });
      expect(raw.data.result.length, query).toBeGreaterThan(0);
      expect(raw.data.stats!.rollup.every((e) => e.level === 'raw'), query).toBe(true);
      const auto = await rangeAt(query, undefined, { stats: 'all' });
      const forced5m = await rangeAt(query, '5m', { explain: 'true' }, true);
      sameResult(raw, auto, `${phase} ${query} auto`);
      sameResult(raw, forced5m, `${phase} ${query} 5m`);
      // No level segments yet: auto reads raw; 5m computes buckets from raw samples.
      for (const e of auto.data.stats!.rollup) expect(e.level, `${query}: ${e.reason}`).toBe('raw');
      const exact = !query.startsWith('quantile_over_time');
      for (const e of forced5m.data.stats!.rollup) {
        expect(e.level, query).toBe(exact ? '5m' : 'raw');
        if (exact) expect(e).toMatchObject({ levelSegmentsRead: 0 });
        // Edge extension is reported: one-scrape edges from the level alone, longer ones with raw edge reads.
        if (query.includes('[5m15s]')) expect(e.edge, query).toEqual({ windowsFromRaw: 0, rawReads: 0 });
        else if (query.includes('[5m40s]')) expect(e.edge!.windowsFromRaw, query).toBeGreaterThan(0);
        else expect(e.edge, query).toBeUndefined();
      }
    }
    // Hourly windows on an hourly grid read 1h buckets when forced; 5m buckets are exact too.
    for (const resolution of ['1h', '5m']) {
      const q = 'sum by (grp) (increase(req_total[1h]))';
      const forced = await rangeAt(q, resolution, { step: '3600', stats: '1' });
      sameResult(await rangeAt(q, 'raw', { step: '3600' }), forced, `${phase} ${q} ${resolution}`);
      expect(forced.data.stats!.rollup).toEqual([{ expr: 'increase(req_total[1h])', level: resolution, levelSegmentsRead: 0, rawPiecesRead: 1 }]);
    }
    // Instant queries too.
    const t = String(END_MS / 1000);
    const inst = async (resolution: string) =>
      (await promGet<QueryBody>(server.url, `/api/v1/query?${new URLSearchParams({ query: 'sum(rate(req_total[1h]))', time: t, resolution, stats: 'all' })}`)).body;
    const i1h = await inst('1h');
    sameResult(await inst('raw'), i1h, `${phase} instant`);
    expect(i1h.data.stats!.rollup[0]!.level).toBe('1h');
  }

  it('answers the same from the memtable at every resolution', async () => {
    await compareAll('memtable');
  }, 120_000);

  it('answers the same from segments and the memtable after a flush', async () => {
    // Half the data flushed, then more samples for the last 20 minutes' series into a new memtable.
    const flushed = await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' });
    expect(flushed.status).toBe(200);
    const late: EncodeSeries[] = [{ labels: { __name__: 'req_total', id: 'late', grp: 'g0' }, timestampsMs: Float64Array.from([END_MS - 20 * M + 1, END_MS - 10 * M + 1]), values: Float64Array.from([1, 5]) }];
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1(late))).status).toBe(204);
    await compareAll('segments');
  }, 120_000);

  it('refuses an unknown resolution with 400 bad_data', async () => {
    for (const res of [
      await promGet<QueryBody>(server.url, `/api/v1/query?query=up&resolution=2m`),
      await promPostForm<QueryBody>(server.url, '/api/v1/query_range', { query: 'up', start: '0', end: '60', step: '15', resolution: 'fine' }),
    ]) {
      expect(res.status).toBe(400);
      expect(res.body.errorType).toBe('bad_data');
      expect(res.body.error).toMatch(/^invalid parameter "resolution": unknown resolution "(2m|fine)"; use one of auto, raw, 5m, 1h, 1d$/);
    }
  });

  it('leaves stats out unless asked, and counts selections per level in /metrics', async () => {
    const plain = await rangeAt('rate(req_total[5m])', '5m');
    expect(plain.data.stats).toBeUndefined();
    const text = await (await fetch(server.url + '/metrics')).text();
    const count = (level: string) => Number(new RegExp(`^mocha_query_selections_total\\{level="${level}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect(text).toContain('# TYPE mocha_query_selections_total counter');
    // At least what this file saw in the stats (other queries count too).
    for (const level of ['raw', '5m', '1h']) expect(count(level), level).toBeGreaterThanOrEqual(seen[level] ?? 0);
    expect(count('5m')).toBeGreaterThanOrEqual((seen['5m'] ?? 0) + 1);
  });
});
