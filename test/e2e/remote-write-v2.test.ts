// Remote write 1.0 and 2.0 against the real server (dist/cli.js): status codes, the 2.0
// X-Prometheus-Remote-Write-*-Written headers on every answer, partial rejection (valid series
// kept, 400 naming the bad one), structural errors that store nothing, start timestamps turned
// into zero samples, exemplars, and metric metadata surviving a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import snappy from 'snappy';
import { encodeRemoteWriteV1, encodeRemoteWriteV2, encodeRequestV2, encodeWriteRequestV1, type EncodeSeriesV2 } from '../../src/ingest/remote-write-encode.js';
import { postRemoteWrite, promGet, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';
import { fieldBytes, fieldDouble, fieldVarint, label, sample, timeSeries } from '../ingest/pb-builder.js';
import { histogram2, refs, sample2, symbols, ts2 } from '../ingest/v2-builder.js';

const NOW_MS = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';
const V2_HEADERS = { 'content-type': V2_TYPE, 'x-prometheus-remote-write-version': '2.0.0' };

interface PromBody<T> {
  status: string;
  data: T;
}
type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;
type Matrix = Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;

async function postV2(base: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; written: { samples: string | null; histograms: string | null; exemplars: string | null } }> {
  const res = await fetch(base + '/api/v1/write', { method: 'POST', headers: { 'content-encoding': 'snappy', ...V2_HEADERS, ...headers }, body });
  return {
    status: res.status,
    text: await res.text(),
    written: {
      samples: res.headers.get('x-prometheus-remote-write-samples-written'),
      histograms: res.headers.get('x-prometheus-remote-write-histograms-written'),
      exemplars: res.headers.get('x-prometheus-remote-write-exemplars-written'),
    },
  };
}

describe('remote write 1.0 and 2.0 end to end', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  const instant = async (query: string, timeMs: number): Promise<Vector> => {
    const res = await promPostForm<PromBody<{ result: Vector }>>(server.url, '/api/v1/query', { query, time: String(timeMs / 1000) });
    expect(res.status).toBe(200);
    return res.body.data.result;
  };
  const range = async (query: string, startMs: number, endMs: number, stepS = 15): Promise<Matrix> => {
    const res = await promPostForm<PromBody<{ result: Matrix }>>(server.url, '/api/v1/query_range', { query, start: String(startMs / 1000), end: String(endMs / 1000), step: String(stepS) });
    expect(res.status).toBe(200);
    return res.body.data.result;
  };
  const exemplarsOf = async (query: string): Promise<Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }> }>> => {
    const res = await promGet<PromBody<Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }> }>>>(
      server.url,
      `/api/v1/query_exemplars?query=${encodeURIComponent(query)}&start=${(NOW_MS - 3_600_000) / 1000}&end=${(NOW_MS + 60_000) / 1000}`,
    );
    expect(res.status).toBe(200);
    return res.body.data;
  };

  it('2.0: a valid request is 204 with the written headers, and its data, start zeros and metadata are found', async () => {
    const input: EncodeSeriesV2[] = [
      {
        labels: { __name__: 'v2_requests_total', job: 'api' },
        timestampsMs: [NOW_MS - 30_000, NOW_MS - 15_000, NOW_MS],
        values: [5, 7, 9],
        startTimestampsMs: [NOW_MS - 60_000, NOW_MS - 60_000, NOW_MS - 60_000],
        metadata: { type: 'counter', help: 'Requests served.', unit: '' },
      },
      { labels: { __name__: 'v2_temperature', room: 'kitchen' }, timestampsMs: [NOW_MS], values: [21.5], startTimestampsMs: [NOW_MS - 60_000], metadata: { type: 'gauge', help: 'Temperature.', unit: 'celsius' } },
    ];
    const res = await postV2(server.url, encodeRemoteWriteV2(input));
    expect(res.status, res.text).toBe(204);
    expect(res.written).toEqual({ samples: '4', histograms: '0', exemplars: '0' });
    expect(res.text).toBe('');
    const r = await range('v2_requests_total', NOW_MS - 60_000, NOW_MS, 15);
    // The start timestamp became a zero sample at NOW-60s (counter); the gauge's was ignored.
    expect(r[0]!.values.map(([t, v]) => [Math.round(t * 1000), Number(v)])).toEqual([
      [NOW_MS - 60_000, 0],
      [NOW_MS - 45_000, 0],
      [NOW_MS - 30_000, 5],
      [NOW_MS - 15_000, 7],
      [NOW_MS, 9],
    ]);
    expect(await range('v2_temperature', NOW_MS - 60_000, NOW_MS - 1000, 15)).toEqual([]);
    expect((await instant('v2_temperature', NOW_MS)).map((x) => x.value[1])).toEqual(['21.5']);
    const md = await promGet<PromBody<Record<string, unknown>>>(server.url, '/api/v1/metadata');
    expect(md.body.data.v2_requests_total).toEqual([{ type: 'counter', help: 'Requests served.', unit: '' }]);
    expect(md.body.data.v2_temperature).toEqual([{ type: 'gauge', help: 'Temperature.', unit: 'celsius' }]);
  });

  it('2.0: invalid series are rejected with 400 naming them, the valid ones are stored and counted in the headers', async () => {
    const body = Buffer.concat([
      symbols('', '__name__', 'v2_partial_ok', 'job', 'a', 'v2_partial_bad', 'bad-label'),
      ts2(refs(1, 2, 3, 4), sample2(1, NOW_MS), sample2(2, NOW_MS - 15_000)),
      ts2(refs(1, 5, 6, 4), sample2(3, NOW_MS)), // invalid label name
      ts2(refs(3, 4, 1, 5), sample2(4, NOW_MS)), // unsorted
    ]);
    const res = await postV2(server.url, snappy.compressSync(body));
    expect(res.status).toBe(400);
    expect(res.written).toEqual({ samples: '2', histograms: '0', exemplars: '0' });
    expect(res.text).toMatch(/rejected 2 samples: invalid_labels: 2 samples of 2 series \(e\.g\. invalid series timeseries\[1\] \{__name__="v2_partial_bad", bad-label="a"\}: label name "bad-label" is not valid/);
    expect((await instant('v2_partial_ok', NOW_MS)).map((x) => x.value[1])).toEqual(['1']);
    expect(await instant('v2_partial_bad', NOW_MS)).toEqual([]);
  });

  it('2.0: native histograms are refused as unsupported (400), float samples of the request kept', async () => {
    const body = Buffer.concat([symbols('', '__name__', 'v2_hist', 'v2_float'), ts2(refs(1, 2), histogram2()), ts2(refs(1, 3), sample2(1, NOW_MS))]);
    const res = await postV2(server.url, snappy.compressSync(body));
    expect(res.status).toBe(400);
    expect(res.written).toEqual({ samples: '1', histograms: '0', exemplars: '0' });
    expect(res.text).toMatch(/unsupported_type: 1 samples of 1 series .*native histograms are not supported/);
    expect(await instant('v2_float', NOW_MS)).toHaveLength(1);
  });

  it('2.0: structural errors answer 400 with zero written headers and store nothing', async () => {
    const bodies: Array<[string, Buffer, RegExp]> = [
      ['ref outside the symbol table', Buffer.concat([symbols('', '__name__', 'v2_struct_a'), ts2(refs(1, 2), sample2(1, NOW_MS)), ts2(refs(1, 9), sample2(1, NOW_MS))]), /reference 9 is outside the symbol table/],
      ['odd labels_refs', Buffer.concat([symbols('', '__name__', 'v2_struct_b'), ts2(refs(1, 2), sample2(1, NOW_MS)), ts2(refs(1), sample2(1, NOW_MS))]), /even number/],
      ['symbols[0] not empty', Buffer.concat([symbols('__name__', 'v2_struct_c'), ts2(refs(0, 1), sample2(1, NOW_MS))]), /symbols\[0\] must be the empty string/],
      ['a 1.0 body', encodeWriteRequestV1([{ labels: { __name__: 'v2_struct_d' }, timestampsMs: [NOW_MS], values: [1] }]), /reserved/],
      ['truncated', encodeRequestV2([{ labels: { __name__: 'v2_struct_e' }, timestampsMs: [NOW_MS], values: [1] }]).subarray(0, 30), /runs past the end|truncated/],
    ];
    for (const [what, body, message] of bodies) {
      const res = await postV2(server.url, snappy.compressSync(body));
      expect(res.status, what).toBe(400);
      expect(res.text, what).toMatch(message);
      expect(res.written, what).toEqual({ samples: '0', histograms: '0', exemplars: '0' });
    }
    const bad = await postV2(server.url, Buffer.from('not snappy at all'));
    expect(bad.status).toBe(400);
    expect(bad.written.samples).toBe('0');
    const series = await promGet<PromBody<unknown[]>>(server.url, `/api/v1/series?match[]=${encodeURIComponent('{__name__=~"v2_struct.*"}')}`);
    expect(series.body.data).toEqual([]);
  });

  it('2.0: unknown content types and encodings are 415, still with the written headers for 2.0', async () => {
    const body = encodeRemoteWriteV2([{ labels: { __name__: 'v2_415' }, timestampsMs: [NOW_MS], values: [1] }]);
    const gz = await postV2(server.url, body, { 'content-encoding': 'gzip' });
    expect(gz.status).toBe(415);
    expect(gz.written).toEqual({ samples: '0', histograms: '0', exemplars: '0' });
    const other = await postV2(server.url, body, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' });
    expect(other.status).toBe(415);
    expect(other.written.samples).toBeNull(); // not a 2.0 request: no 2.0 headers
    const json = await postRemoteWrite(server.url, body, { 'content-type': 'application/json' });
    expect(json.status).toBe(415);
    expect(await instant('v2_415', NOW_MS)).toEqual([]);
  });

  it('2.0 and 1.0: exemplars are decoded and counted; what the exemplar store keeps is what the header says', async () => {
    const res = await postV2(
      server.url,
      encodeRemoteWriteV2([
        {
          labels: { __name__: 'v2_latency_bucket', le: '0.5' },
          timestampsMs: [NOW_MS],
          values: [3],
          exemplars: [
            { labels: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' }, value: 0.42, timestampMs: NOW_MS },
            { labels: { 'bad-name': 'x' }, value: 1, timestampMs: NOW_MS }, // invalid: rejected alone, not the request
          ],
        },
      ]),
    );
    // Rejected exemplars alone do not fail a request (as in Prometheus).
    expect(res.status, res.text).toBe(204);
    expect(res.written.samples).toBe('1');
    const found = await exemplarsOf('v2_latency_bucket');
    const stored = found.flatMap((s) => s.exemplars);
    expect(Number(res.written.exemplars)).toBe(stored.length);
    if (stored.length > 0) expect(stored[0]!.labels).toEqual({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' });
    const metrics = await (await fetch(server.url + '/metrics')).text();
    expect(metrics).toMatch(/mocha_ingest_rejected_exemplars_total\{protocol="remote_write_v2",reason="invalid_exemplar"\} 1/);

    // 1.0 with an exemplar: 204.
    const withExemplar = timeSeries(label('__name__', 'v1_with_exemplar'), sample(1, NOW_MS), fieldBytes(3, label('trace_id', 'abc'), fieldDouble(2, 1), fieldVarint(3, NOW_MS)));
    const r1 = await postRemoteWrite(server.url, snappy.compressSync(withExemplar));
    expect(r1.status, r1.text).toBe(204);
    expect(await instant('v1_with_exemplar', NOW_MS)).toHaveLength(1);
  });

  it('1.0: valid series of a request with invalid ones are kept (400 names the bad one); histograms are unsupported', async () => {
    const good = encodeWriteRequestV1([{ labels: { __name__: 'v1_partial_ok' }, timestampsMs: [NOW_MS], values: [1] }]);
    const bad = encodeWriteRequestV1([{ labels: [{ name: '__name__', value: 'v1_partial_bad' }, { name: 'a', value: 'x' }, { name: 'a', value: 'y' }] , timestampsMs: [NOW_MS], values: [1] }]);
    const res = await postRemoteWrite(server.url, snappy.compressSync(Buffer.concat([good, bad])));
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/invalid_labels: 1 samples of 1 series .*v1_partial_bad.*duplicate label name "a"/);
    expect(await instant('v1_partial_ok', NOW_MS)).toHaveLength(1);
    expect(await instant('v1_partial_bad', NOW_MS)).toEqual([]);
    const hist = Buffer.concat([fieldBytes(1, fieldBytes(1, fieldBytes(1, '__name__'), fieldBytes(2, 'v1_hist')), fieldBytes(4, Buffer.from([0x08, 0x01])))]);
    const rh = await postRemoteWrite(server.url, snappy.compressSync(hist));
    expect(rh.status).toBe(400);
    expect(rh.text).toMatch(/unsupported_type/);
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1([{ labels: { __name__: 'v1_all_ok' }, timestampsMs: [NOW_MS], values: [1] }]))).status).toBe(204);
  });

  it('metadata from 1.0 and 2.0 survives a restart (saved on close to <data-dir>/metadata.json)', async () => {
    const v1 = encodeRemoteWriteV1([], [{ metricFamilyName: 'v1_meta_total', type: 'counter', help: 'From 1.0 ünïcödé.', unit: 'bytes' }]);
    expect((await postRemoteWrite(server.url, v1)).status).toBe(204);
    const before = (await promGet<PromBody<Record<string, unknown>>>(server.url, '/api/v1/metadata')).body.data;
    expect(before.v1_meta_total).toEqual([{ type: 'counter', help: 'From 1.0 ünïcödé.', unit: 'bytes' }]);
    expect(before.v2_requests_total).toBeDefined();
    const dataDir = server.dataDir;
    expect(await server.stop()).toBe(0);
    const file = JSON.parse(fs.readFileSync(path.join(dataDir, 'metadata.json'), 'utf8')) as { version: number };
    expect(file.version).toBe(1);
    server = await startServer({ dataDir });
    const after = (await promGet<PromBody<Record<string, unknown>>>(server.url, '/api/v1/metadata')).body.data;
    expect(after).toEqual(before);
    // Data written before the restart is there too (WAL replay), e.g. the 2.0 counter.
    expect(await instant('v2_requests_total', NOW_MS)).toHaveLength(1);
  });
});
