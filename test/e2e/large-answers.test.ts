// A large range-query answer, written by the main thread and a format worker together
// (--query-format-threads, src/query/format-pool.ts), over HTTP from the real server: every point
// ingested comes back, in order, and each series' JSON is byte for byte what the same query for
// that series alone (an answer small enough for the main thread alone) gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import { mulberry32 } from '../helpers/prng.js';
import { postRemoteWrite, startServer, type ServerProcess } from '../helpers/server-process.js';

const S = 1000;
const H = 3600 * S;
const STEP_MS = 15 * S;
/** Two hours of 15 s samples (481 points a series) ending an hour before now, on a step. */
const END_MS = Math.floor(Date.now() / H) * H - H;
const START_MS = END_MS - 2 * H;
const SERIES = 80;

/** Gauges of several shapes: decimals, long fractions, integers, tiny and huge values, negatives. */
function makeSeries(): EncodeSeries[] {
  const rnd = mulberry32(77);
  const out: EncodeSeries[] = [];
  for (let i = 0; i < SERIES; i++) {
    const ts: number[] = [];
    const vs: number[] = [];
    for (let t = START_MS; t <= END_MS; t += STEP_MS) {
      ts.push(t);
      const r = rnd();
      vs.push(i % 4 === 0 ? Math.round(r * 1e4) / 100 : i % 4 === 1 ? (r - 0.5) / 3 : i % 4 === 2 ? Math.floor(r * 1e6) : r * 1e-8 + (i % 8 === 2 ? 1e22 : 0));
    }
    out.push({ labels: { __name__: 'big_answer', id: String(i), note: i % 5 === 0 ? 'é "quoted" <tag>' : 'plain' }, timestampsMs: Float64Array.from(ts), values: Float64Array.from(vs) });
  }
  return out;
}

describe('large range answers written by two threads', () => {
  let server: ServerProcess;
  const series = makeSeries();

  beforeAll(async () => {
    server = await startServer({ args: ['--query-format-threads', '1'] });
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1(series))).status).toBe(204);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  async function rangeText(query: string): Promise<string> {
    const res = await fetch(server.url + '/api/v1/query_range', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query, start: String(START_MS / 1000), end: String(END_MS / 1000), step: '15' }).toString(),
    });
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).toBe(200);
    return text;
  }

  /** The JSON text of each series object of a matrix answer, by its id label. */
  function seriesTexts(text: string): Map<string, string> {
    const body = JSON.parse(text) as { data: { result: { metric: Record<string, string> }[] } };
    const out = new Map<string, string>();
    // Series objects as written: cut the result array at its top-level `},{"metric":` joins.
    const inner = text.slice(text.indexOf('"result":[') + 10, text.lastIndexOf(']}'));
    const parts = inner.split(/(?<=\]\}),(?=\{"metric":)/);
    expect(parts.length).toBe(body.data.result.length);
    body.data.result.forEach((s, i) => out.set(s.metric.id!, parts[i]!));
    return out;
  }

  it('answers every point, and each series exactly as it is answered alone', async () => {
    const text = await rangeText('big_answer');
    const body = JSON.parse(text) as { status: string; data: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] } };
    expect(body.status).toBe('success');
    expect(body.data.result.length).toBe(SERIES);
    const byId = new Map(series.map((s) => [(s.labels as Record<string, string>).id!, s]));
    for (const s of body.data.result) {
      const sent = byId.get(s.metric.id!)!;
      expect(s.metric).toEqual(sent.labels);
      expect(s.values.length).toBe(sent.timestampsMs.length);
      s.values.forEach(([t, v], k) => {
        expect(t * 1000).toBe(sent.timestampsMs[k]);
        expect(Number(v)).toBe(sent.values[k]);
      });
    }
    // The same bytes as each series' own (small, main-thread) answer.
    const texts = seriesTexts(text);
    for (const id of ['0', '1', '2', '3', '41', '79']) {
      const alone = seriesTexts(await rangeText(`big_answer{id="${id}"}`));
      expect(alone.size).toBe(1);
      expect(texts.get(id)).toBe(alone.get(id));
    }
    // A format worker wrote part of it (this is not the main thread compared with itself).
    const metrics = await (await fetch(server.url + '/metrics')).text();
    expect(Number(/^mocha_query_answer_parts_formatted_total (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/^mocha_query_answer_parts_format_failed_total (\S+)$/m.exec(metrics)?.[1])).toBe(0);
  }, 60_000);
});
