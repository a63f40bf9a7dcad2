// Back-pressure: a server started with tiny memory and WAL-queue bounds is pushed by concurrent
// clients faster than it can flush. It must answer 429 with Retry-After instead of growing, keep
// its resident memory bounded, store every sample it acknowledged (2xx), and nothing of the
// requests it refused (a 429 is answered before anything is stored, so a retry cannot double).
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

const SERIES = 200;
const SAMPLES_PER_SERIES = 25;
const STEP_MS = 10;
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 2 * 60 * 60 * 1000;
const PUSH_MS = 6000;
const CLIENTS = 8;
/** RSS bound: a few hundred MiB of V8 and Arrow baseline plus the tiny memtable bounds. */
const RSS_BYTES_MAX = 450 * 1024 * 1024;

function valueOf(s: number, t: number): number {
  return s * 1e7 + (t - BASE_MS) / STEP_MS;
}

async function metricValue(url: string, line: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  const l = text.split('\n').find((x) => x.startsWith(line + ' '));
  return l === undefined ? 0 : Number(l.slice(line.length + 1));
}

describe('back-pressure under a sender faster than the server', () => {
  let server: ServerProcess | undefined;
  afterAll(async () => {
    const dir = server?.dataDir;
    await server?.kill9();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers 429 with Retry-After, stays within its memory bound, and stores exactly what it acknowledged', async () => {
    server = await startServer({
      args: ['--wal-fsync', 'batch', '--memtable-bytes-max', String(256 * 1024), '--memtable-total-bytes-max', String(1024 * 1024), '--wal-pending-bytes-max', String(256 * 1024)],
    });
    const url = server.url;
    const ackedTicks: number[] = [];
    const refusedTicks: number[] = [];
    const otherStatuses: string[] = [];
    let retryAfterMissing = 0;
    let nextTick = 0;
    let rssMax = 0;
    const stopAt = Date.now() + PUSH_MS;

    const sampler = (async () => {
      while (Date.now() < stopAt) {
        rssMax = Math.max(rssMax, await metricValue(url, 'mocha_process_resident_memory_bytes'));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < stopAt) {
        const tick = nextTick;
        nextTick += SAMPLES_PER_SERIES;
        const series = [];
        for (let s = 0; s < SERIES; s++) {
          const ts = new Float64Array(SAMPLES_PER_SERIES);
          const vs = new Float64Array(SAMPLES_PER_SERIES);
          for (let k = 0; k < SAMPLES_PER_SERIES; k++) {
            ts[k] = BASE_MS + (tick + k) * STEP_MS;
            vs[k] = valueOf(s, ts[k]!);
          }
          series.push({ labels: { __name__: 'bp_metric', series: String(s) }, timestampsMs: ts, values: vs });
        }
        const res = await fetch(url + '/api/v1/write', {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
          body: encodeRemoteWriteV1(series),
        });
        const text = await res.text();
        if (res.status === 204) ackedTicks.push(tick);
        else if (res.status === 429) {
          refusedTicks.push(tick);
          if (!(Number(res.headers.get('retry-after')) > 0)) retryAfterMissing++;
          expect(text).toMatch(/retry later/);
        } else otherStatuses.push(`${res.status} ${text}`);
      }
    });
    await Promise.all([...clients, sampler]);

    expect(otherStatuses).toEqual([]);
    expect(refusedTicks.length, 'the server never pushed back').toBeGreaterThan(0);
    expect(ackedTicks.length, 'the server acknowledged nothing').toBeGreaterThan(0);
    expect(retryAfterMissing).toBe(0);
    expect(rssMax).toBeGreaterThan(0);
    expect(rssMax).toBeLessThan(RSS_BYTES_MAX);
    const backpressure =
      (await metricValue(url, 'mocha_write_backpressure_rejections_total{cause="memtable"}')) + (await metricValue(url, 'mocha_write_backpressure_rejections_total{cause="wal"}'));
    expect(backpressure).toBe(refusedTicks.length);
    console.log(
      `back-pressure: ${ackedTicks.length} requests acknowledged, ${refusedTicks.length} refused with 429 ` +
        `(memtable ${await metricValue(url, 'mocha_write_backpressure_rejections_total{cause="memtable"}')}, wal ${await metricValue(url, 'mocha_write_backpressure_rejections_total{cause="wal"}')}), ` +
        `RSS max ${(rssMax / 1048576).toFixed(0)} MiB`,
    );
    expect(await metricValue(url, 'mocha_http_requests_total{route="/api/v1/write",code="429"}')).toBe(refusedTicks.length);

    // Everything acknowledged is there with its value; nothing of a refused request is.
    const endS = (BASE_MS + nextTick * STEP_MS + 1000) / 1000;
    const res = await promPostForm<{ data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }>(url, '/api/v1/query', {
      query: `bp_metric[${Math.ceil(endS - BASE_MS / 1000) + 10}s]`,
      time: String(endS),
    });
    expect(res.status).toBe(200);
    const refused = new Set(refusedTicks);
    const acked = new Set(ackedTicks);
    expect(res.body.data.result).toHaveLength(SERIES);
    for (const r of res.body.data.result) {
      const s = Number(r.metric.series);
      const seen = new Set<number>();
      for (const [t, v] of r.values) {
        const tMs = Math.round(t * 1000);
        expect(Number(v)).toBe(valueOf(s, tMs));
        const tick = Math.round((tMs - BASE_MS) / STEP_MS);
        const requestTick = tick - (tick % SAMPLES_PER_SERIES);
        if (refused.has(requestTick)) throw new Error(`series ${s}: sample at ${tMs} of a request answered 429 was stored`);
        expect(acked.has(requestTick)).toBe(true);
        seen.add(tick);
      }
      expect(seen.size).toBe(r.values.length); // no timestamp twice
      expect(seen.size).toBe(ackedTicks.length * SAMPLES_PER_SERIES);
    }
  }, 90_000);
});
