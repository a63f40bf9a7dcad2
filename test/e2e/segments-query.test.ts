// PromQL over segments answers exactly what the memtable answers: two real servers get the same
// remote-write data; A never flushes (memtable only, which prometheus-diff.test.ts checks against
// Prometheus), B flushes. The same query set is asked of both after each step, every answer
// twice on B (cold, then from the segment caches), and compared byte for byte:
//   1. B flushed: segments only (data crosses a partition boundary, so series span two segments);
//   2. newer data sent to both: B answers from segments and its memtable;
//   3. B flushed again: more segments, the segment set swapped;
//   4. B restarted: segments opened afresh.
// Data has counters with resets, decimal and random-walk gauges, gaps and stale markers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { mulberry32 } from '../helpers/prng.js';
import { postRemoteWrite, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

const S = 1000;
const M = 60 * S;
const INTERVAL_MS = 15 * S;
const SERIES = 300;
/** Data: [START, END); part 1 is [START, SPLIT), part 2 [SPLIT, END). */
const END_MS = Math.floor(Date.now() / M) * M - M;
const START_MS = END_MS - 120 * M;
const SPLIT_MS = END_MS - 20 * M;

interface Data {
  labels: Record<string, string>;
  timestampsMs: Float64Array;
  values: Float64Array;
}

function makeData(): Data[] {
  const rnd = mulberry32(4242);
  const out: Data[] = [];
  for (let i = 0; i < SERIES; i++) {
    const kind = i % 3;
    const ts: number[] = [];
    const vs: number[] = [];
    let v = kind === 0 ? 0 : Math.round(rnd() * 1000);
    // Sample times have a non-zero millisecond part: never on a query's whole-second edge.
    const phase = 1 + Math.floor(rnd() * 14_000);
    for (let t = START_MS + phase; t < END_MS; t += INTERVAL_MS) {
      if (i % 11 === 0 && t > START_MS + 40 * M && t < START_MS + 52 * M) continue; // a gap beyond the lookback
      if (kind === 0) v = rnd() < 0.003 ? 0 : v + Math.floor(rnd() * 20);
      else if (kind === 1) v = Math.round(rnd() * 1000) / 10;
      else v += rnd() - 0.5;
      ts.push(t);
      vs.push(v);
    }
    const values = Float64Array.from(vs);
    if (i % 13 === 0) values[Math.floor(values.length / 2)] = STALE_NAN; // typed-array store keeps the payload
    out.push({
      labels: { __name__: ['c_total', 'g_dec', 'g_walk'][kind]!, id: String(i), grp: `g${i % 4}` },
      timestampsMs: Float64Array.from(ts),
      values,
    });
  }
  return out;
}

async function send(urls: string[], data: Data[], fromMs: number, toMs: number): Promise<void> {
  const bodies: Buffer[] = [];
  // 30-minute slices of 100 series per request, in time order per series.
  for (let lo = fromMs; lo < toMs; lo += 30 * M) {
    const hi = Math.min(toMs, lo + 30 * M);
    for (let s = 0; s < data.length; s += 100) {
      const part: EncodeSeries[] = [];
      for (const d of data.slice(s, s + 100)) {
        let a = 0;
        while (a < d.timestampsMs.length && d.timestampsMs[a]! < lo) a++;
        let b = a;
        while (b < d.timestampsMs.length && d.timestampsMs[b]! < hi) b++;
        if (b > a) part.push({ labels: d.labels, timestampsMs: d.timestampsMs.subarray(a, b), values: d.values.subarray(a, b) });
      }
      if (part.length > 0) bodies.push(encodeRemoteWriteV1(part));
    }
  }
  for (const url of urls) {
    for (const body of bodies) {
      const res = await postRemoteWrite(url, body);
      if (res.status !== 204) throw new Error(`remote write answered ${res.status}: ${res.text}`);
    }
  }
}

interface Q {
  query: string;
  /** Instant at timeS, or a range [startS, endS] with stepS. */
  timeS?: number;
  startS?: number;
  endS?: number;
  stepS?: number;
}

function querySet(endMs: number): Q[] {
  const endS = Math.floor(endMs / 1000);
  const startS = Math.floor(START_MS / 1000);
  // Instant times: the data's end, a partition boundary if one is inside, the middle of the gap,
  // an early time whose windows reach before the data.
  const boundaryS = Math.floor(endMs / (2 * 60 * M)) * 2 * 3600;
  const times = [endS, boundaryS > startS ? boundaryS + 90 : endS - 3000, startS + 46 * 60, startS + 200];
  const instant = [
    'c_total',
    'g_walk[5m]',
    'rate(c_total[5m])',
    'sum by (grp) (rate(c_total[5m]))',
    'topk(3, g_dec)',
    'max_over_time(g_walk[10m])',
    'count_over_time({__name__=~"g_.*"}[7m])',
    'last_over_time(g_dec[1h])',
    'g_dec offset 30m',
    'g_walk{id=~"1.*"}',
    'increase(c_total{grp="g1"}[1h])',
  ];
  const out: Q[] = [];
  for (const query of instant) for (const timeS of times) out.push({ query, timeS });
  for (const query of ['c_total', 'rate(c_total[5m])', 'sum by (grp) (g_dec)', 'avg_over_time(g_walk[3m])', 'resets(c_total[30m])']) {
    out.push({ query, startS, endS, stepS: 60 });
    out.push({ query, startS: endS - 3600, endS, stepS: 15 });
  }
  return out;
}

async function ask(url: string, q: Q): Promise<string> {
  const res =
    q.timeS !== undefined
      ? await promPostForm<{ status: string; data: unknown }>(url, '/api/v1/query', { query: q.query, time: String(q.timeS) })
      : await promPostForm<{ status: string; data: unknown }>(url, '/api/v1/query_range', { query: q.query, start: String(q.startS), end: String(q.endS), step: String(q.stepS) });
  if (res.status !== 200) throw new Error(`${q.query}: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  return JSON.stringify(res.body.data);
}

async function compareAll(a: ServerProcess, b: ServerProcess, endMs: number, phase: string): Promise<void> {
  let nonEmpty = 0;
  for (const q of querySet(endMs)) {
    const want = await ask(a.url, q);
    if (!want.includes('"result":[]')) nonEmpty++;
    for (const pass of ['cold', 'warm']) {
      const got = await ask(b.url, q);
      expect(got, `${phase} (${pass}): ${q.query} @ ${q.timeS ?? `${q.startS}..${q.endS}/${q.stepS}`}`).toBe(want);
    }
  }
  // The comparison means something only if most answers hold data.
  expect(nonEmpty).toBeGreaterThan(querySet(endMs).length * 0.8);
}

async function flush(s: ServerProcess): Promise<void> {
  const res = await fetch(s.url + '/api/v1/admin/flush', { method: 'POST' });
  expect(res.status).toBe(200);
}

describe('PromQL over segments equals PromQL over the memtable', () => {
  const data = makeData();
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    a = await startServer({ args: ['--wal-fsync', 'off'] });
    b = await startServer({ args: ['--wal-fsync', 'off'] });
  });
  afterAll(async () => {
    for (const s of [a, b]) {
      if (!s) continue;
      await s.kill9();
      fs.rmSync(s.dataDir, { recursive: true, force: true });
    }
  });

  it('after a flush, with newer data in the memtable, after a second flush and after a restart', async () => {
    await send([a.url, b.url], data, START_MS, SPLIT_MS);
    await flush(b);
    expect(fs.readdirSync(`${b.dataDir}/tenants/default/segments`).length).toBeGreaterThanOrEqual(1);
    await compareAll(a, b, SPLIT_MS, 'segments only');

    await send([a.url, b.url], data, SPLIT_MS, END_MS);
    await compareAll(a, b, END_MS, 'segments + memtable');

    await flush(b);
    await compareAll(a, b, END_MS, 'after a second flush');

    const dataDir = b.dataDir;
    expect(await b.stop()).toBe(0);
    b = await startServer({ dataDir, args: ['--wal-fsync', 'off'] });
    await compareAll(a, b, END_MS, 'after a restart');
    // Four rounds of ~54 queries on two servers plus two flushes and a restart: ~30-45 s on a quiet
    // 2-core machine, over 60 s when the machine is shared (seen at load 14-22).
  }, 240_000);
});
