// Round trip through the real server: 10k series x 2 h of 15 s samples sent by remote write,
// read back bit-exactly through /api/v1/query_range before a flush, after a flush, and after a
// restart. Values include NaN, +-Inf, -0, large and tiny magnitudes; stale markers end series.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { mulberry32 } from '../helpers/prng.js';
import { diffSeries, expectedRange, type MatrixResult, type ModelSeries } from '../helpers/expected.js';
import { postRemoteWrite, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

const SERIES = 10_000;
const SHARDS = 50;
const INTERVAL_MS = 15_000;
const SPAN_MS = 2 * 60 * 60 * 1000;
const SERIES_PER_REQUEST = 500;
const SAMPLES_PER_REQUEST_PER_SERIES = 120; // 60k samples per request
const END_MS = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
const START_MS = END_MS - SPAN_MS + INTERVAL_MS;

function makeData(): ModelSeries[] {
  const rnd = mulberry32(20261122);
  const n = SPAN_MS / INTERVAL_MS;
  const out: ModelSeries[] = [];
  for (let i = 0; i < SERIES; i++) {
    const kind = i % 5;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    let v = kind === 0 ? 0 : rnd() * 1000;
    for (let k = 0; k < n; k++) {
      ts[k] = START_MS + k * INTERVAL_MS;
      if (kind === 0) v += Math.floor(rnd() * 10); // counter
      else if (kind === 1) v += rnd() - 0.5; // random-walk gauge
      else if (kind === 2) v = Math.round(rnd() * 100) / 10; // decimal gauge
      else if (kind === 3) v = 42; // constant
      else v = rnd() < 0.5 ? rnd() * 1e-9 : rnd() * 1e200; // extreme magnitudes
      vs[k] = v;
    }
    if (i % 101 === 0) {
      vs[10] = NaN;
      vs[11] = Infinity;
      vs[12] = -Infinity;
      vs[13] = -0;
    }
    let keep: number[] | undefined;
    if (i % 97 === 0) {
      // A stale marker ends the series for 20 minutes; then it comes back.
      vs[200] = STALE_NAN;
      keep = [];
      for (let k = 0; k < n; k++) if (k <= 200 || k > 280) keep.push(k);
    } else if (i % 89 === 0) {
      // A 3-minute gap (within the 5 m lookback) and a 10-minute gap (beyond it).
      keep = [];
      for (let k = 0; k < n; k++) if (!(k > 100 && k <= 112) && !(k > 300 && k <= 340)) keep.push(k);
    }
    const series: ModelSeries = {
      labels: { __name__: `rt_metric_${i % 7}`, instance: `host-${i}`, shard: String(i % SHARDS), kind: String(kind) },
      timestampsMs: keep ? Float64Array.from(keep, (k) => ts[k]!) : ts,
      values: keep ? new Float64Array(keep.length) : vs,
    };
    if (keep) keep.forEach((k, j) => (series.values[j] = vs[k]!)); // typed-array copy keeps NaN bits
    out.push(series);
  }
  return out;
}

async function sendAll(url: string, data: ModelSeries[]): Promise<void> {
  const bodies: Buffer[] = [];
  for (let off = 0; off < SPAN_MS / INTERVAL_MS; off += SAMPLES_PER_REQUEST_PER_SERIES) {
    for (let s = 0; s < data.length; s += SERIES_PER_REQUEST) {
      const chunk = data.slice(s, s + SERIES_PER_REQUEST).map((d) => {
        const lo = START_MS + off * INTERVAL_MS;
        const hi = lo + SAMPLES_PER_REQUEST_PER_SERIES * INTERVAL_MS;
        let a = 0;
        while (a < d.timestampsMs.length && d.timestampsMs[a]! < lo) a++;
        let b = a;
        while (b < d.timestampsMs.length && d.timestampsMs[b]! < hi) b++;
        return { labels: d.labels, timestampsMs: d.timestampsMs.subarray(a, b), values: d.values.subarray(a, b) };
      });
      bodies.push(encodeRemoteWriteV1(chunk));
    }
  }
  // Four concurrent senders, like Prometheus' shards.
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const res = await postRemoteWrite(url, body);
      if (res.status !== 204) throw new Error(`remote write answered ${res.status}: ${res.text}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

async function checkAll(url: string, data: ModelSeries[], phase: string): Promise<void> {
  const byInstance = new Map(data.map((d) => [d.labels.instance!, d]));
  for (let shard = 0; shard < SHARDS; shard++) {
    const res = await promPostForm<{ status: string; data: { resultType: string; result: MatrixResult[] } }>(url, '/api/v1/query_range', {
      query: `{shard="${shard}"}`,
      start: String(START_MS / 1000),
      end: String(END_MS / 1000),
      step: '15s',
    });
    expect(res.status, `${phase}: ${JSON.stringify(res.body).slice(0, 500)}`).toBe(200);
    expect(res.body.data.resultType).toBe('matrix');
    const expectedSeries = data.filter((d) => d.labels.shard === String(shard));
    expect(res.body.data.result.length, `${phase} shard ${shard}`).toBe(expectedSeries.length);
    for (const r of res.body.data.result) {
      const d = byInstance.get(r.metric.instance!)!;
      expect(r.metric, phase).toEqual(d.labels);
      const diff = diffSeries(expectedRange(d, START_MS, END_MS, INTERVAL_MS), r.values);
      if (diff !== undefined) throw new Error(`${phase}: ${JSON.stringify(d.labels)}: ${diff}`);
    }
  }
}

describe('remote write -> query_range round trip (10k series x 2 h)', () => {
  const data = makeData();
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('reads back exactly from the memtable, after a flush, and after a restart', async () => {
    onTestFailed(() => {
      console.error(server.logs().filter((l) => /"level":(40|50|60)/.test(l) || !l.startsWith('{')).join('\n'));
    });
    await sendAll(server.url, data);
    await checkAll(server.url, data, 'memtable');

    const flush = await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' });
    expect(flush.status).toBe(200);
    const segDir = `${server.dataDir}/tenants/default/segments`;
    expect(fs.readdirSync(segDir).length).toBeGreaterThan(0);
    await checkAll(server.url, data, 'segments');

    expect(await server.stop()).toBe(0);
    server = await startServer({ dataDir: server.dataDir });
    await checkAll(server.url, data, 'restart');
  }, 300_000);
});
