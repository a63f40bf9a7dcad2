// A real sender: Prometheus (2.42 here) scrapes a small OpenMetrics endpoint served by this test
// (a counter, a gauge with a unit, a histogram whose buckets carry exemplars) every 500 ms and
// remote-writes (1.0) to mocha-tsdb, metadata every second, exemplars on. The test waits until
// mocha-tsdb answers queries for the scraped series and /api/v1/metadata for their families,
// and checks that every send was accepted. Skipped, with the reason printed, when no prometheus
// binary is installed.
import { afterAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { prometheusBinary, startPrometheus, type PrometheusProcess } from '../helpers/prometheus-process.js';
import { promGet, startServer, type ServerProcess } from '../helpers/server-process.js';

const bin = prometheusBinary();
if (bin === undefined) console.log('prometheus-scrape: skipped: no prometheus binary on PATH (apt-get install -y prometheus)');

const WAIT_MS = 25_000;

/** The scraped endpoint: values move at every scrape; each scrape gives new exemplars. */
function startTarget(): Promise<{ server: http.Server; port: number; scrapes: () => number }> {
  let scrapes = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    scrapes++;
    const nowS = (Date.now() / 1000).toFixed(3);
    const body = [
      '# TYPE app_requests counter',
      '# HELP app_requests Requests handled.',
      `app_requests_total{path="/a"} ${10 + scrapes}`,
      `app_requests_total{path="/b"} ${2 * scrapes}`,
      '# TYPE app_temperature_celsius gauge',
      '# UNIT app_temperature_celsius celsius',
      '# HELP app_temperature_celsius Temperature of the thing.',
      `app_temperature_celsius ${20 + (scrapes % 5)}`,
      '# TYPE app_latency_seconds histogram',
      '# HELP app_latency_seconds Request latency.',
      `app_latency_seconds_bucket{le="0.1"} ${scrapes} # {trace_id="trace-${scrapes}-fast"} 0.05 ${nowS}`,
      `app_latency_seconds_bucket{le="1.0"} ${2 * scrapes} # {trace_id="trace-${scrapes}-slow"} 0.7 ${nowS}`,
      `app_latency_seconds_bucket{le="+Inf"} ${2 * scrapes}`,
      `app_latency_seconds_sum ${0.75 * scrapes}`,
      `app_latency_seconds_count ${2 * scrapes}`,
      '# EOF',
      '',
    ].join('\n');
    res.setHeader('content-type', 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, scrapes: () => scrapes })));
}

async function waitFor<T>(what: string, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Vector {
  data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

describe.skipIf(bin === undefined)('Prometheus scrapes and remote-writes to mocha-tsdb', () => {
  let mocha: ServerProcess | undefined;
  let prom: PrometheusProcess | undefined;
  let target: http.Server | undefined;
  afterAll(async () => {
    await prom?.stop();
    target?.close();
    const dir = mocha?.dataDir;
    await mocha?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('scraped series, metadata (and exemplars when the decoder carries them) arrive', async () => {
    mocha = await startServer();
    const t = await startTarget();
    target = t.server;
    const config = `
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
  evaluation_interval: 1h
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['127.0.0.1:${t.port}']
remote_write:
  - url: ${mocha.url}/api/v1/write
    send_exemplars: true
    queue_config:
      batch_send_deadline: 500ms
      max_samples_per_send: 500
    metadata_config:
      send: true
      send_interval: 1s
`;
    prom = await startPrometheus({ bin: bin!, configYaml: config, extraArgs: ['--enable-feature=exemplar-storage'] });
    const deadline = Date.now() + WAIT_MS;
    const url = mocha.url;

    const counters = await waitFor('app_requests_total in mocha-tsdb', deadline, async () => {
      const r = await promGet<Vector>(url, '/api/v1/query?query=' + encodeURIComponent('app_requests_total{job="app"}'));
      return r.body.data.result.length === 2 ? r.body.data.result : undefined;
    });
    expect(counters.map((s) => s.metric.path).sort()).toEqual(['/a', '/b']);
    expect(counters[0]!.metric.instance).toBe(`127.0.0.1:${t.port}`);
    // The counter moves: a rate over the scrapes so far is positive.
    await waitFor('a positive rate', deadline, async () => {
      const r = await promGet<Vector>(url, '/api/v1/query?query=' + encodeURIComponent('rate(app_requests_total{path="/b"}[10s])'));
      const v = r.body.data.result[0]?.value[1];
      return v !== undefined && Number(v) > 0 ? v : undefined;
    });
    for (const q of ['app_temperature_celsius', 'app_latency_seconds_bucket', 'app_latency_seconds_sum', 'app_latency_seconds_count', 'up{job="app"}']) {
      const r = await waitFor(q, deadline, async () => {
        const res = await promGet<Vector>(url, '/api/v1/query?query=' + encodeURIComponent(q));
        return res.body.data.result.length > 0 ? res.body.data.result : undefined;
      });
      if (q === 'app_latency_seconds_bucket') expect(r.map((s) => s.metric.le).sort()).toEqual(['+Inf', '0.1', '1.0']);
      if (q.startsWith('up')) expect(r[0]!.value[1]).toBe('1');
    }
    const quantile = await promGet<Vector>(url, '/api/v1/query?query=' + encodeURIComponent('histogram_quantile(0.5, app_latency_seconds_bucket)'));
    expect(Number(quantile.body.data.result[0]?.value[1])).toBeGreaterThan(0);

    type Metadata = Record<string, Array<{ type: string; help: string; unit: string }>>;
    const metadata = await waitFor('metadata of the three families', deadline, async () => {
      const r = await promGet<{ data: Metadata }>(url, '/api/v1/metadata');
      const d = r.body.data;
      return d.app_requests && d.app_temperature_celsius && d.app_latency_seconds ? d : undefined;
    });
    expect(metadata.app_requests).toEqual([{ type: 'counter', help: 'Requests handled.', unit: '' }]);
    expect(metadata.app_temperature_celsius).toEqual([{ type: 'gauge', help: 'Temperature of the thing.', unit: 'celsius' }]);
    expect(metadata.app_latency_seconds).toEqual([{ type: 'histogram', help: 'Request latency.', unit: '' }]);

    // The exemplars Prometheus scraped arrive through remote write and are served by query_exemplars.
    type Exemplars = { data: Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string }> }> };
    const found = await waitFor('exemplars of app_latency_seconds_bucket', deadline, async () => {
      const r = await promGet<Exemplars>(url, '/api/v1/query_exemplars?query=' + encodeURIComponent('app_latency_seconds_bucket'));
      return r.body.data.length === 2 ? r.body.data : undefined;
    });
    expect(found.map((s) => s.seriesLabels.le)).toEqual(['0.1', '1.0']);
    for (const s of found) {
      const kind = s.seriesLabels.le === '0.1' ? 'fast' : 'slow';
      for (const e of s.exemplars) expect(e.labels.trace_id).toMatch(new RegExp(`^trace-\\d+-${kind}$`));
      expect(s.exemplars[0]!.value).toBe(kind === 'fast' ? '0.05' : '0.7');
    }

    // Prometheus had nothing refused or dropped on its side, and it did send exemplars
    // (OpenMetrics scrape + exemplar-storage + send_exemplars in 2.42).
    let promMetrics = '';
    const sum = (name: string) =>
      promMetrics
        .split('\n')
        .filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    await waitFor('Prometheus to send exemplars', deadline, async () => {
      promMetrics = await (await fetch(prom!.url + '/metrics')).text();
      return sum('prometheus_remote_storage_exemplars_total') > 0 ? true : undefined;
    });
    expect(sum('prometheus_remote_storage_samples_failed_total')).toBe(0);
    expect(sum('prometheus_remote_storage_samples_dropped_total')).toBe(0);
    expect(sum('prometheus_remote_storage_metadata_failed_total')).toBe(0);
    expect(sum('prometheus_remote_storage_exemplars_failed_total')).toBe(0);
    expect(t.scrapes()).toBeGreaterThanOrEqual(2); // a rate needed two
  }, 60_000);
});
