// PromQL annotations over HTTP: the real server answers /api/v1/query and /api/v1/query_range
// with Prometheus 3's `warnings` and `infos` members of the envelope, after `data`, each left
// out when empty, strings escaped as Go's encoding/json does. (Prometheus 2.42, which the
// differential tests run, has no annotations: they are tested here and in the table tests.)
// Also Prometheus 3's `limit` parameter of query and query_range, whose cut is such a warning.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { postRemoteWrite, startServer, type ServerProcess } from '../helpers/server-process.js';

const S = 1000;
const M = 60 * S;
/** Evaluation time; samples every minute up to it, 7 ms early so none sits on a window edge. */
const T_MS = Math.floor(Date.now() / M) * M;

function series(labels: Record<string, string>, values: number[]) {
  const ts = values.map((_, i) => T_MS - (values.length - 1 - i) * M - 7);
  return { labels, timestampsMs: Float64Array.from(ts), values: Float64Array.from(values) };
}

interface Envelope {
  status: string;
  data: { resultType: string; result: unknown[] };
  warnings?: string[];
  infos?: string[];
}

const NON_COUNTER = (name: string, pos: string) => `PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "${name}" (${pos})`;
const MONOTONICITY =
  'PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)';

describe('annotations in the HTTP API', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
    const body = encodeRemoteWriteV1([
      series({ __name__: 'up_g', i: 'a' }, [0, 1, 2, 3, 4, 5]),
      series({ __name__: 'req_total', i: 'a' }, [0, 10, 20, 30, 40, 50]),
      series({ __name__: 'hb_bucket', le: '0.5' }, [5]),
      series({ __name__: 'hb_bucket', le: '+Inf' }, [10]),
      series({ __name__: 'hb_bucket', le: 'a&b' }, [3]),
      series({ __name__: 'nm_bucket', le: '1' }, [10]),
      series({ __name__: 'nm_bucket', le: '2' }, [8]),
      series({ __name__: 'nm_bucket', le: '+Inf' }, [12]),
    ]);
    const res = await postRemoteWrite(server.url, body);
    expect(res.status, res.text).toBe(204);
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  /** The raw answer text and its parsed form. */
  async function ask(method: 'GET' | 'POST', path: string, params: Record<string, string>): Promise<{ text: string; body: Envelope }> {
    const qs = new URLSearchParams(params).toString();
    const res =
      method === 'GET'
        ? await fetch(`${server.url}${path}?${qs}`)
        : await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: qs });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return { text, body: JSON.parse(text) as Envelope };
  }
  const timeS = String(T_MS / 1000);

  it('an info for rate() of a gauge name, after data; no warnings member', async () => {
    const { text, body } = await ask('POST', '/api/v1/query', { query: 'rate(up_g[5m])', time: timeS });
    expect(body.data.result).toHaveLength(1);
    expect(body.infos).toEqual([NON_COUNTER('up_g', '1:6')]);
    expect('warnings' in body).toBe(false);
    expect(text.endsWith(`,"infos":[${JSON.stringify(NON_COUNTER('up_g', '1:6'))}]}`)).toBe(true);
  });

  it('no annotations: neither member', async () => {
    const { text, body } = await ask('GET', '/api/v1/query', { query: 'rate(req_total[5m])', time: timeS });
    expect(body.data.result).toHaveLength(1);
    expect(text).not.toContain('"warnings"');
    expect(text).not.toContain('"infos"');
  });

  it('warnings of a range query, escaped as Go does (& is \\u0026), even with an empty result', async () => {
    const { text, body } = await ask('GET', '/api/v1/query_range', {
      query: 'histogram_quantile(2, hb_bucket)',
      start: String((T_MS - 2 * M) / 1000),
      end: timeS,
      step: '60',
    });
    expect(body.data.resultType).toBe('matrix');
    expect(new Set(body.warnings)).toEqual(
      new Set([
        'PromQL warning: quantile value should be between 0 and 1, got 2 (1:20)',
        'PromQL warning: bucket label "le" is missing or has a malformed value of "a&b" (1:23)',
      ]),
    );
    expect(text).toContain('malformed value of \\"a\\u0026b\\" (1:23)');
    expect('infos' in body).toBe(false);
    const empty = await ask('GET', '/api/v1/query_range', { query: 'quantile(-1, nothing)', start: timeS, end: timeS, step: '60' });
    expect(empty.body.data.result).toEqual([]);
    expect(empty.body.warnings).toEqual(['PromQL warning: quantile value should be between 0 and 1, got -1 (1:10)']);
  });

  it('warnings and infos together, in that order, and positions on later lines', async () => {
    const query = 'histogram_quantile(0.5, nm_bucket)\n  or\nsum(rate(up_g[5m]))';
    const { text, body } = await ask('POST', '/api/v1/query', { query, time: timeS });
    expect(body.infos?.sort()).toEqual([`${MONOTONICITY} (1:25)`, NON_COUNTER('up_g', '3:10')].sort());
    expect(body.warnings).toBeUndefined();
    const bad = await ask('POST', '/api/v1/query', { query: 'histogram_quantile(0.5, hb_bucket) or rate(up_g[5m])', time: timeS });
    expect(bad.body.warnings).toHaveLength(1);
    expect(bad.body.infos).toEqual([NON_COUNTER('up_g', '1:44')]);
    expect(bad.text.indexOf('"data"')).toBeLessThan(bad.text.indexOf('"warnings"'));
    expect(bad.text.indexOf('"warnings"')).toBeLessThan(bad.text.indexOf('"infos"'));
    expect(text.startsWith('{"status":"success","data":')).toBe(true);
  });

  it('limit cuts vectors and matrices with the warning "results truncated due to limit" (no position)', async () => {
    const sel = '{__name__=~"up_g|req_total"}';
    const cut = await ask('GET', '/api/v1/query', { query: sel, time: timeS, limit: '1' });
    expect(cut.body.data.result).toHaveLength(1);
    expect(cut.body.warnings).toEqual(['results truncated due to limit']);
    const whole = await ask('POST', '/api/v1/query', { query: sel, time: timeS, limit: '2' });
    expect(whole.body.data.result).toHaveLength(2);
    expect('warnings' in whole.body).toBe(false);
    const range = await ask('POST', '/api/v1/query_range', { query: `quantile(2, up_g) or ${sel}`, start: String((T_MS - M) / 1000), end: timeS, step: '60', limit: '2' });
    expect(range.body.data.result).toHaveLength(2);
    expect(new Set(range.body.warnings)).toEqual(new Set(['results truncated due to limit', 'PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)']));
    // A scalar is not cut; a bad limit is bad_data before anything runs.
    const scalar = await ask('GET', '/api/v1/query', { query: '1', time: timeS, limit: '1' });
    expect(scalar.body.data.resultType).toBe('scalar');
    const bad = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ query: 'up_g', limit: '-1' })}`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('limit');
  });

  it('a query that fails after raising a warning answers the error alone, as Prometheus does', async () => {
    // quantile(2, ...) warns; then the right side has two series for the one match group.
    const query = 'quantile(2, up_g) + on() group_left() {__name__=~"up_g|req_total"}';
    const res = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ query, time: timeS })}`);
    const text = await res.text();
    expect(res.status, text).toBe(422);
    const body = JSON.parse(text) as { status: string; errorType: string };
    expect(body.status).toBe('error');
    expect(body.errorType).toBe('execution');
    expect(text).not.toContain('"warnings"');
  });
});
