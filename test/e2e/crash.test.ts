// Crash safety: the server is killed with SIGKILL while clients write (and while a flush runs);
// after each restart every sample that was acknowledged with 2xx must be there, with its value.
// Samples of unacknowledged requests may or may not be there, but nothing else may appear.
// Every write protocol takes part: the writers rotate remote write 1.0, 2.0 and OTLP/HTTP
// (protobuf), each acknowledged by its own success status.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';

import { encodeRemoteWriteV1, encodeRemoteWriteV2 } from '../../src/ingest/remote-write-encode.js';
import { attrs, encodeExportMetricsRequest, msToNanos } from '../../bench/lib/otlp-payload.js';
import { mulberry32 } from '../helpers/prng.js';
import { postRemoteWrite, promPostForm, startServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const SERIES = 200;
const SAMPLES_PER_SERIES_PER_REQUEST = 5;
const STEP_MS = 1000;
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 60 * 60 * 1000;

/** The value of series s at time t: deterministic, so any stored sample can be checked. */
function valueOf(s: number, t: number): number {
  return s * 1e6 + (t - BASE_MS) / STEP_MS + 0.25;
}

interface Acked {
  /** Per series: acknowledged timestamps. */
  perSeries: Array<Set<number>>;
}

const PROTOCOLS = ['remote_write_v1', 'remote_write_v2', 'otlp'] as const;
type Protocol = (typeof PROTOCOLS)[number];
let requestNo = 0;
/** Acknowledged requests per protocol: each must have been exercised. */
const sentBy: Record<Protocol, number> = { remote_write_v1: 0, remote_write_v2: 0, otlp: 0 };

type WriterSeries = { labels: { __name__: string; series: string }; timestampsMs: Float64Array; values: Float64Array };

async function send(url: string, protocol: Protocol, series: WriterSeries[]): Promise<{ status: number }> {
  if (protocol === 'remote_write_v1') return postRemoteWrite(url, encodeRemoteWriteV1(series));
  if (protocol === 'remote_write_v2') {
    return postRemoteWrite(url, encodeRemoteWriteV2(series), { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'x-prometheus-remote-write-version': '2.0.0' });
  }
  // OTLP: one gauge whose data points carry the series attribute; no resource attributes, so the
  // translated series are exactly {__name__="crash_metric", series="<s>"}.
  const dataPoints = series.flatMap((s) =>
    Array.from(s.timestampsMs, (t, k) => ({ attributes: attrs({ series: s.labels.series }), timeUnixNano: msToNanos(t), asDouble: s.values[k]! })),
  );
  const body = encodeExportMetricsRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'crash_metric', gauge: { dataPoints } }] }] }] });
  const res = await fetch(url + '/v1/metrics', { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  const answer = Buffer.from(await res.arrayBuffer());
  // A 200 with partial_success would mean some points were rejected: not an acknowledgement of all.
  if (res.status === 200 && answer.length > 0) return { status: 0 };
  return { status: res.status };
}

/** Writes from several concurrent clients until stopped; records what was acknowledged. */
function startWriters(url: string, firstTick: { value: number }, acked: Acked, concurrency = 3): { stop: () => Promise<void> } {
  let stopped = false;
  const loops: Promise<void>[] = [];
  for (let w = 0; w < concurrency; w++) {
    loops.push(
      (async () => {
        while (!stopped) {
          const tick = firstTick.value;
          firstTick.value += SAMPLES_PER_SERIES_PER_REQUEST;
          const series: WriterSeries[] = [];
          for (let s = 0; s < SERIES; s++) {
            const ts = new Float64Array(SAMPLES_PER_SERIES_PER_REQUEST);
            const vs = new Float64Array(SAMPLES_PER_SERIES_PER_REQUEST);
            for (let k = 0; k < ts.length; k++) {
              ts[k] = BASE_MS + (tick + k) * STEP_MS;
              vs[k] = valueOf(s, ts[k]!);
            }
            series.push({ labels: { __name__: 'crash_metric', series: String(s) }, timestampsMs: ts, values: vs });
          }
          try {
            const protocol = PROTOCOLS[requestNo++ % PROTOCOLS.length]!;
            const res = await send(url, protocol, series);
            if (res.status === 204 || (protocol === 'otlp' && res.status === 200)) {
              sentBy[protocol]++;
              for (let s = 0; s < SERIES; s++) for (const t of series[s]!.timestampsMs) acked.perSeries[s]!.add(t);
            }
          } catch {
            // Connection refused or reset: the server is gone; this request is not acknowledged.
            await new Promise((r) => setTimeout(r, 10));
          }
        }
      })(),
    );
  }
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function verify(url: string, acked: Acked, phase: string): Promise<number> {
  const endS = (BASE_MS + 2 * 60 * 60 * 1000) / 1000;
  const res = await promPostForm<{ status: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }>(
    url,
    '/api/v1/query',
    { query: 'crash_metric[3h]', time: String(endS) },
  );
  expect(res.status, phase).toBe(200);
  const got = new Map(res.body.data.result.map((r) => [Number(r.metric.series), r.values]));
  let checked = 0;
  for (let s = 0; s < SERIES; s++) {
    const values = got.get(s) ?? [];
    const seen = new Set<number>();
    for (const [t, v] of values) {
      const tMs = Math.round(t * 1000);
      // Nothing that was never sent may appear, and values must be intact.
      if (Number(v) !== valueOf(s, tMs)) throw new Error(`${phase}: series ${s} at ${tMs}: got ${v}, expected ${valueOf(s, tMs)}`);
      seen.add(tMs);
    }
    for (const t of acked.perSeries[s]!) {
      if (!seen.has(t)) throw new Error(`${phase}: acknowledged sample lost: series ${s} at ${t}`);
      checked++;
    }
  }
  return checked;
}

describe('crash safety under SIGKILL', () => {
  const dataDir = tempDataDir('mocha-crash-');
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged sample across kills during writes and flushes', async () => {
    const rnd = mulberry32(7);
    const acked: Acked = { perSeries: Array.from({ length: SERIES }, () => new Set<number>()) };
    const tick = { value: 0 };
    // A small memtable so flushes also start on their own while clients write.
    const args = ['--memtable-bytes-max', String(512 * 1024)];
    // write: kill while clients write (auto flushes may be running); flush: kill at some point of
    // an explicit flush; flushed: a flush completes, writing goes on, then the kill.
    const rounds: Array<{ kind: 'write' | 'flush' | 'flushed'; delayMs: number }> = [
      { kind: 'write', delayMs: 300 + Math.floor(rnd() * 300) },
      { kind: 'flush', delayMs: 0 },
      { kind: 'flushed', delayMs: 200 },
      { kind: 'flush', delayMs: 15 },
      { kind: 'write', delayMs: 1500 + Math.floor(rnd() * 500) },
      { kind: 'flush', delayMs: 120 + Math.floor(rnd() * 200) },
      { kind: 'flushed', delayMs: 0 },
      { kind: 'flush', delayMs: 350 },
    ];
    for (const [i, round] of rounds.entries()) {
      server = await startServer({ dataDir, args });
      if (i > 0) await verify(server.url, acked, `after kill ${i}`);
      const writers = startWriters(server.url, tick, acked);
      if (round.kind === 'write') {
        await new Promise((r) => setTimeout(r, round.delayMs));
      } else if (round.kind === 'flushed') {
        await new Promise((r) => setTimeout(r, 300));
        expect((await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' })).status).toBe(200);
        await new Promise((r) => setTimeout(r, round.delayMs));
      } else {
        // Let some data accumulate, start a flush, kill while it runs.
        await new Promise((r) => setTimeout(r, 400));
        void fetch(server.url + '/api/v1/admin/flush', { method: 'POST' }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, round.delayMs));
      }
      await server.kill9();
      await writers.stop();
    }
    server = await startServer({ dataDir, args });
    const checked = await verify(server.url, acked, 'final');
    for (const p of PROTOCOLS) expect(sentBy[p], p).toBeGreaterThan(5);
    expect(checked).toBeGreaterThan(SERIES * 50);
    // The kills did hit a data directory with flushed segments, not just a WAL.
    const manifest = JSON.parse(fs.readFileSync(`${dataDir}/manifest.json`, 'utf8')) as { segments: unknown[]; walCoveredThroughSegment: number };
    expect(manifest.segments.length).toBeGreaterThan(0);
    expect(manifest.walCoveredThroughSegment).toBeGreaterThan(0);
    // The damage report of a torn tail, if any, is a warning, never a failure to start.
    expect(server.logs().some((l) => l.includes('"level":50') || l.includes('"level":60'))).toBe(false);
  }, 240_000);
});
