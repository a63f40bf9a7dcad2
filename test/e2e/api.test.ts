// The HTTP surface as users meet it: bad remote-write input is refused with a 4xx and stores
// nothing; tenants are isolated on every read endpoint; out-of-order and duplicate samples read
// back sorted and de-duplicated, also across a flush; series/labels endpoints; /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import snappy from 'snappy';
import { encodeRemoteWriteV1, encodeWriteRequestV1 } from '../../src/ingest/remote-write-encode.js';
import { postRaw, postRemoteWrite, promGet, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

const NOW_MS = Math.floor(Date.now() / 60_000) * 60_000;

interface PromBody<T> {
  status: string;
  data: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}
type Matrix = Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;

function series(labels: Record<string, string>, points: Array<[number, number]>) {
  return { labels, timestampsMs: Float64Array.from(points, (p) => p[0]), values: Float64Array.from(points, (p) => p[1]) };
}

describe('HTTP API end to end', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  async function seriesCount(match: string, tenant?: string): Promise<number> {
    const res = await promGet<PromBody<unknown[]>>(server.url, `/api/v1/series?match[]=${encodeURIComponent(match)}`, tenant ? { 'X-Scope-OrgID': tenant } : {});
    expect(res.status).toBe(200);
    return res.body.data.length;
  }

  describe('bad remote-write input gets a 4xx with a message and stores nothing', () => {
    const good = (name: string) => encodeWriteRequestV1([series({ __name__: name, job: 'x' }, [[NOW_MS, 1]])]);
    const rawProto = (labels: Array<[string, string]>) => {
      // Hand-built WriteRequest so labels can be unsorted, duplicated or empty.
      const parts: Buffer[] = [];
      const str = (field: number, s: string) => {
        const b = Buffer.from(s, 'utf8');
        return Buffer.concat([Buffer.from([(field << 3) | 2, b.length]), b]);
      };
      for (const [n, v] of labels) {
        const l = Buffer.concat([str(1, n), str(2, v)]);
        parts.push(Buffer.from([(1 << 3) | 2, l.length]), l);
      }
      const sample = Buffer.alloc(11 + 1);
      sample[0] = (1 << 3) | 1;
      sample.writeDoubleLE(1, 1);
      sample[9] = (2 << 3) | 0;
      sample[10] = 1; // timestamp 1 ms
      parts.push(Buffer.from([(2 << 3) | 2, 11]), sample.subarray(0, 11));
      const ts = Buffer.concat(parts);
      return snappy.compressSync(Buffer.concat([Buffer.from([(1 << 3) | 2, ts.length]), ts]));
    };
    const cases: Array<{ name: string; body: Buffer; headers?: Record<string, string>; status: number; message: RegExp }> = [
      { name: 'not snappy', body: Buffer.from('this is not snappy at all'), status: 400, message: /snappy/i },
      { name: 'truncated protobuf', body: snappy.compressSync(good('bad_trunc').subarray(0, 20)), status: 400, message: /truncat|end|length/i },
      { name: 'garbage protobuf', body: snappy.compressSync(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])), status: 400, message: /./ },
      { name: 'unsorted labels', body: rawProto([['job', 'a'], ['__name__', 'bad_unsorted']]), status: 400, message: /sort/i },
      { name: 'duplicate labels', body: rawProto([['__name__', 'bad_dup'], ['job', 'a'], ['job', 'b']]), status: 400, message: /duplicate|sort/i },
      { name: 'empty label value', body: rawProto([['__name__', 'bad_empty'], ['job', '']]), status: 400, message: /empty/i },
      { name: 'invalid metric name', body: rawProto([['__name__', 'bad-name!']]), status: 400, message: /metric name/i },
      { name: 'invalid label name', body: rawProto([['__name__', 'bad_label'], ['1abc', 'x']]), status: 400, message: /label name/i },
      { name: 'a 1.0 body sent as remote write 2.0', body: encodeRemoteWriteV1([series({ __name__: 'bad_v2' }, [[NOW_MS, 1]])]), headers: { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }, status: 400, message: /reserved.*1\.0 WriteRequest/ },
      { name: 'unknown proto in the content type', body: encodeRemoteWriteV1([series({ __name__: 'bad_proto' }, [[NOW_MS, 1]])]), headers: { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' }, status: 415, message: /content-type/i },
      { name: 'unknown content encoding', body: encodeRemoteWriteV1([series({ __name__: 'bad_enc' }, [[NOW_MS, 1]])]), headers: { 'content-encoding': 'gzip' }, status: 415, message: /encoding/i },
      { name: 'oversized body', body: Buffer.alloc(33 * 1024 * 1024, 7), status: 413, message: /large|limit/i },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const res = await postRaw(server.url, '/api/v1/write', c.body, { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', ...c.headers });
        expect(res.status, res.text).toBe(c.status);
        expect(res.text).toMatch(c.message);
        expect(await seriesCount('{__name__=~"bad.*"}')).toBe(0);
      });
    }
    it('a request with one bad series among good ones keeps the good ones and answers 400 naming the bad one', async () => {
      const body = encodeWriteRequestV1([series({ __name__: 'mixed_ok', job: 'x' }, [[NOW_MS, 1]])]);
      const bad = snappy.uncompressSync(rawProto([['__name__', 'bad_mixed_bad'], ['job', '']])) as Buffer;
      const res = await postRemoteWrite(server.url, snappy.compressSync(Buffer.concat([body, bad])));
      expect(res.status).toBe(400);
      expect(res.text).toMatch(/invalid_labels: 1 samples of 1 series .*bad_mixed_bad.*label "job" has an empty value/);
      expect(await seriesCount('{__name__=~"bad.*"}')).toBe(0);
      expect(await seriesCount('mixed_ok')).toBe(1);
    });
    it('the server is still healthy and the bad requests are counted', async () => {
      const res = await fetch(server.url + '/metrics');
      const text = await res.text();
      expect(text).toMatch(/mocha_remote_write_rejected_requests_total\{code="BAD_REMOTE_WRITE"\} \d+/);
    });
  });

  it('keeps tenants apart on every read endpoint', async () => {
    const a = { 'X-Scope-OrgID': 'team-a' };
    const b = { 'X-Scope-OrgID': 'team-b' };
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1([series({ __name__: 'tenant_metric', secret: 'a-only' }, [[NOW_MS, 1]])]), a)).status).toBe(204);
    expect((await postRemoteWrite(server.url, encodeRemoteWriteV1([series({ __name__: 'tenant_metric', other: 'b-only' }, [[NOW_MS, 2]])]), b)).status).toBe(204);
    for (const phase of ['memtable', 'segments']) {
      if (phase === 'segments') expect((await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' })).status).toBe(200);
      const qa = await promPostForm<PromBody<{ result: Vector }>>(server.url, '/api/v1/query', { query: 'tenant_metric', time: String(NOW_MS / 1000) }, a);
      expect(qa.body.data.result.map((r) => r.metric)).toEqual([{ __name__: 'tenant_metric', secret: 'a-only' }]);
      const qb = await promPostForm<PromBody<{ result: Vector }>>(server.url, '/api/v1/query', { query: 'tenant_metric', time: String(NOW_MS / 1000) }, b);
      expect(qb.body.data.result.map((r) => r.metric)).toEqual([{ __name__: 'tenant_metric', other: 'b-only' }]);
      const qd = await promPostForm<PromBody<{ result: Vector }>>(server.url, '/api/v1/query', { query: 'tenant_metric', time: String(NOW_MS / 1000) });
      expect(qd.body.data.result).toEqual([]);
      const rb = await promGet<PromBody<{ result: Matrix }>>(server.url, `/api/v1/query_range?query=tenant_metric&start=${NOW_MS / 1000 - 60}&end=${NOW_MS / 1000}&step=15`, b);
      expect(rb.body.data.result.map((r) => r.metric.other)).toEqual(['b-only']);
      expect((await promGet<PromBody<string[]>>(server.url, '/api/v1/labels', b)).body.data).not.toContain('secret');
      expect((await promGet<PromBody<string[]>>(server.url, '/api/v1/labels', a)).body.data).toContain('secret');
      expect((await promGet<PromBody<string[]>>(server.url, '/api/v1/label/secret/values', b)).body.data).toEqual([]);
      expect((await promGet<PromBody<string[]>>(server.url, '/api/v1/label/secret/values', a)).body.data).toEqual(['a-only']);
      expect(await seriesCount('tenant_metric', 'team-b')).toBe(1);
      expect(await seriesCount('{secret="a-only"}', 'team-b')).toBe(0);
    }
    const bad = await promGet<PromBody<unknown>>(server.url, '/api/v1/labels', { 'X-Scope-OrgID': '../etc' });
    expect(bad.status).toBe(400);
    expect(bad.body.errorType).toBe('bad_data');
  });

  it('sorts and de-duplicates out-of-order samples, also across a flush (last write wins)', async () => {
    const t0 = NOW_MS - 30 * 60_000;
    const at = (k: number) => t0 + k * 15_000;
    const send = async (points: Array<[number, number]>) =>
      expect((await postRemoteWrite(server.url, encodeRemoteWriteV1([series({ __name__: 'ooo_metric' }, points)]))).status).toBe(204);
    await send([[at(5), 5], [at(1), 1], [at(3), 3]]);
    await send([[at(3), 33], [at(2), 2]]); // duplicate of at(3): the later write wins
    expect((await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' })).status).toBe(200);
    await send([[at(4), 4], [at(1), 11], [at(6), 6]]); // across the flush: overrides at(1)
    const read = async () => {
      const res = await promPostForm<PromBody<{ result: Matrix }>>(server.url, '/api/v1/query', { query: 'ooo_metric[1h]', time: String(at(10) / 1000) });
      expect(res.status).toBe(200);
      return res.body.data.result[0]!.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]);
    };
    const expected = [[at(1), 11], [at(2), 2], [at(3), 33], [at(4), 4], [at(5), 5], [at(6), 6]];
    expect(await read()).toEqual(expected);
    expect((await fetch(server.url + '/api/v1/admin/flush', { method: 'POST' })).status).toBe(200);
    expect(await read()).toEqual(expected);
  });

  it('answers series, labels and label values with match[], start and end, by GET and POST', async () => {
    const t = NOW_MS - 10 * 60_000;
    const body = encodeRemoteWriteV1([
      series({ __name__: 'lbl_up', job: 'api', instance: 'a:1' }, [[t, 1]]),
      series({ __name__: 'lbl_up', job: 'db', instance: 'b:1' }, [[t, 1]]),
      series({ __name__: 'lbl_other', job: 'api', zone: 'z1' }, [[t, 0]]),
    ]);
    expect((await postRemoteWrite(server.url, body)).status).toBe(204);
    const s = await promPostForm<PromBody<Array<Record<string, string>>>>(server.url, '/api/v1/series', { 'match[]': ['lbl_up{job="api"}', 'lbl_other'], start: String(t / 1000 - 60), end: String(t / 1000 + 60) });
    expect(s.status).toBe(200);
    expect(s.body.data).toEqual([
      { __name__: 'lbl_other', job: 'api', zone: 'z1' },
      { __name__: 'lbl_up', instance: 'a:1', job: 'api' },
    ]);
    // Outside the time range: nothing.
    const old = await promGet<PromBody<unknown[]>>(server.url, `/api/v1/series?match[]=lbl_up&start=${t / 1000 - 7200}&end=${t / 1000 - 3600}`);
    expect(old.body.data).toEqual([]);
    const names = await promGet<PromBody<string[]>>(server.url, `/api/v1/labels?match[]=lbl_up&match[]=lbl_other`);
    expect(names.body.data).toEqual(['__name__', 'instance', 'job', 'zone']);
    const values = await promGet<PromBody<string[]>>(server.url, `/api/v1/label/job/values?match[]={__name__=~"lbl_.*"}`);
    expect(values.body.data).toEqual(['api', 'db']);
    const limited = await promGet<PromBody<string[]>>(server.url, `/api/v1/label/job/values?match[]={__name__=~"lbl_.*"}&limit=1`);
    expect(limited.body.data).toEqual(['api']);
    expect(limited.body.warnings?.length).toBe(1);
    const noMatch = await promGet<PromBody<unknown>>(server.url, '/api/v1/series');
    expect(noMatch.status).toBe(400);
    expect(noMatch.body.errorType).toBe('bad_data');
    const regex = await promGet<PromBody<unknown>>(server.url, `/api/v1/query?query=${encodeURIComponent('lbl_up{job=~"(a+)+$"}')}`);
    expect(regex.status).toBe(200);
  });

  it('answers overlapping large range queries each with its own bytes (answer buffers are reused only once sent)', async () => {
    // 100 series x 5000 points: ~15 MB answers, more than the kernel takes from a socket at
    // once, so an answer whose reader is slow is still being written when the next query runs.
    const points = 5000;
    const startMs = NOW_MS - points * 15_000;
    const written = Array.from({ length: 100 }, (_, s) => series({ __name__: 'pool_metric', s: String(s) }, Array.from({ length: points }, (_, i): [number, number] => [startMs + i * 15_000, (i * (s + 1)) / 7])));
    for (let from = 0; from < written.length; from += 20) expect((await postRemoteWrite(server.url, encodeRemoteWriteV1(written.slice(from, from + 20)))).status).toBe(204);
    const queryOf = (k: number) => `/api/v1/query_range?query=${encodeURIComponent(`pool_metric * ${k + 1}`)}&start=${startMs / 1000}&end=${NOW_MS / 1000}&step=15`;
    const text = async (k: number) => {
      const res = await fetch(server.url + queryOf(k));
      expect(res.status).toBe(200);
      return res.text();
    };
    const want = [await text(0), await text(1), await text(2)];
    for (const [k, t] of want.entries()) {
      const body = JSON.parse(t) as PromBody<{ result: Matrix }>;
      expect(body.data.result).toHaveLength(100);
      expect(body.data.result.find((r) => r.metric.s === '3')!.values[points - 1]![1]).toBe(String((((points - 1) * 4) / 7) * (k + 1)));
      expect(t.length).toBeGreaterThan(10_000_000);
    }
    // A slow reader: the first answer's headers arrive, its body waits while two more queries
    // are answered (into the spare buffers), then it is read to the end.
    const slow = await new Promise<{ res: http.IncomingMessage }>((resolve, reject) => {
      http.get(server.url + queryOf(0), (res) => {
        res.pause();
        resolve({ res });
      }).on('error', reject);
    });
    expect(await text(1)).toBe(want[1]);
    expect(await text(2)).toBe(want[2]);
    const chunks: Buffer[] = [];
    for await (const chunk of slow.res) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(want[0]);
  });

  it('exposes its own metrics in the Prometheus text format', async () => {
    const res = await fetch(server.url + '/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of [
      'mocha_samples_ingested_total',
      'mocha_memtable_series',
      'mocha_wal_bytes_written_total',
      'mocha_wal_fsyncs_total',
      'mocha_flushes_total',
      'mocha_flush_duration_seconds_total',
      'mocha_memtable_bytes',
      'mocha_segment_bytes',
      'mocha_http_requests_total',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? [0-9.e+-]+$`, 'm'));
    }
    const ingested = Number(/^mocha_samples_ingested_total (\S+)$/m.exec(text)![1]);
    expect(ingested).toBeGreaterThan(0);
  });
});
