// Every function the pyramid serves, read from REAL level segments (built by compaction) over
// HTTP, answers what raw data answers. A level block is decoded field by field as queries read
// it (segment/level-reader.ts): each function decodes only its fields and the ones they are
// predicted from, so the queries run one after another against the same cached blocks, in one
// order and, after a restart (nothing decoded), in the reverse order, then with no decoded block
// kept at all -- a field list that misses a field, or a block whose later fields decode against
// wrong inputs, gives a wrong answer here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { ROLLUP_FUNCTIONS } from '../../src/rollup/eval.js';
import { mulberry32 } from '../helpers/prng.js';
import { valuesEqual } from '../helpers/promql-cases.js';
import { postRemoteWrite, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
/** Six hours of 15 s samples ending two hours before now, on hour boundaries. */
const END_MS = Math.floor(Date.now() / H) * H - 2 * H;
const START_MS = END_MS - 6 * H;

interface QueryBody {
  status: string;
  data: {
    result: { metric: Record<string, string>; values: [number, string][] }[];
    stats?: { rollup: { level: string; levelSegmentsRead: number }[] };
  };
}

/** Counters with resets and gauges (a decimal walk, one with values of both signs), a gap, a stale marker. */
function makeSeries(): EncodeSeries[] {
  const rnd = mulberry32(2026);
  const out: EncodeSeries[] = [];
  for (let i = 0; i < 8; i++) {
    const counter = i % 2 === 0;
    const ts: number[] = [];
    const vs: number[] = [];
    let v = counter ? 100 : i === 3 ? 0 : 20;
    const phase = 1 + Math.floor(rnd() * 14_000);
    for (let t = START_MS + phase; t < END_MS; t += 15 * S) {
      if (i === 1 && t > START_MS + 2 * H && t < START_MS + 2 * H + 25 * M) continue;
      v = counter ? (rnd() < 0.005 ? Math.floor(rnd() * 5) : v + Math.floor(rnd() * 20)) : Math.round((v + rnd() * 2 - 1) * 10) / 10;
      ts.push(t);
      vs.push(v);
    }
    const values = Float64Array.from(vs);
    if (i === 5) values[values.length >> 1] = STALE_NAN;
    out.push({ labels: { __name__: counter ? 'lr_total' : 'lr_gauge', id: String(i) }, timestampsMs: Float64Array.from(ts), values });
  }
  return out;
}

/** Every rollup function on the metric it is meant for, over an aligned range and (window functions) Grafana's $__rate_interval. */
function queries(): string[] {
  const out: string[] = [];
  for (const fn of [...ROLLUP_FUNCTIONS].sort()) {
    const metric = ['rate', 'increase', 'resets', 'irate'].includes(fn) ? 'lr_total' : 'lr_gauge';
    out.push(`${fn}(${metric}[1h])`);
    if (!['last_over_time', 'ts_of_last_over_time', 'present_over_time', 'irate', 'idelta'].includes(fn)) out.push(`${fn}(${metric}[1h15s])`);
  }
  out.push('lr_gauge', 'sum(rate(lr_total[1h])) / sum(avg_over_time(lr_gauge[1h]))');
  return out;
}

describe('rollup functions from level segments over HTTP', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer();
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1(makeSeries()))).status).toBe(204);
    expect((await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' })).status).toBe(200);
    expect((await fetch(server.url + '/api/v1/admin/compact', { method: 'POST' })).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  async function range(query: string, resolution: string): Promise<QueryBody> {
    const res = await promPostForm<QueryBody>(server.url, '/api/v1/query_range', { query, start: String((START_MS + H) / 1000), end: String(END_MS / 1000), step: '3600', resolution, stats: 'all' });
    expect(res.status, `${query}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(200);
    return res.body;
  }

  async function compareAll(order: string[]): Promise<number> {
    let levelReads = 0;
    for (const query of order) {
      const raw = await range(query, 'raw');
      const auto = await range(query, 'auto');
      for (const e of auto.data.stats!.rollup) levelReads += e.levelSegmentsRead;
      const key = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort());
      const want = new Map(raw.data.result.map((s) => [key(s.metric), s.values]));
      const got = new Map(auto.data.result.map((s) => [key(s.metric), s.values]));
      expect(raw.data.result.length, query).toBeGreaterThan(0);
      expect([...got.keys()].sort(), query).toEqual([...want.keys()].sort());
      for (const [k, wv] of want) {
        const gv = got.get(k)!;
        expect(gv.map((p) => p[0]), `${query} ${k}`).toEqual(wv.map((p) => p[0]));
        wv.forEach((p, i) => expect(valuesEqual(Number(gv[i]![1]), Number(p[1])), `${query} ${k} at ${p[0]}: ${gv[i]![1]} vs raw ${p[1]}`).toBe(true));
      }
    }
    return levelReads;
  }

  it('answers every function as raw data does, the blocks decoded function by function', async () => {
    const qs = queries();
    expect(qs.length).toBeGreaterThan(30);
    // Level segments read for (nearly) every query: the 1h level answers the aligned ones and, by
    // edge extension, the [1h15s] ones.
    expect(await compareAll(qs)).toBeGreaterThanOrEqual(qs.length);
  }, 120_000);

  it('and again after a restart (nothing decoded), in the reverse order', async () => {
    expect(await server.stop()).toBe(0);
    server = await startServer({ dataDir: server.dataDir });
    const qs = queries().reverse();
    expect(await compareAll(qs)).toBeGreaterThanOrEqual(qs.length);
  }, 120_000);

  it('and with no decoded block kept between queries: each decodes only what it reads', async () => {
    // Above, a field one function forgot to ask for may have been decoded by an earlier one
    // (avg_over_time's mean serves stddev_over_time too); with caches of one byte nothing stays.
    expect(await server.stop()).toBe(0);
    server = await startServer({ dataDir: server.dataDir, args: ['--segment-cache-bytes-max', '1'] });
    const qs = queries();
    expect(await compareAll(qs)).toBeGreaterThanOrEqual(qs.length);
  }, 120_000);

  it('times queries in /metrics by what they read (mocha_query_duration_seconds)', async () => {
    // Since the last restart: every query of the test above twice, raw and auto.
    const text = await (await fetch(server.url + '/metrics')).text();
    expect(text).toContain('# TYPE mocha_query_duration_seconds histogram');
    const value = (name: string, labels: string) => Number(new RegExp(`^mocha_query_duration_seconds_${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const n = queries().length;
    expect(value('count', 'endpoint="query_range",read="raw"')).toBe(n);
    // auto: every query read a level (the one selector of each, both of the composite one).
    expect(value('count', 'endpoint="query_range",read="levels"')).toBe(n);
    for (const read of ['raw', 'levels']) {
      expect(value('bucket', `endpoint="query_range",read="${read}",le="\\+Inf"`), read).toBe(n);
      expect(value('sum', `endpoint="query_range",read="${read}"`), read).toBeGreaterThan(0);
    }
  });
});
