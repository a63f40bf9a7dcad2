// Smoke test of the benchmark harness (bench/): the quick scenario against the real server
// (dist/cli.js, built by `npm test`), checking the report holds sane numbers; plus the harness'
// own pieces that the numbers depend on (deterministic data, the exposition parser, replay).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, QUICK_OPTIONS, dataEndMs, runBench } from '../../bench/lib/run-bench.js';
import { PARTITION_MS } from '../../src/constants.js';
import { formatReport } from '../../bench/lib/report.js';
import { SyntheticDataset } from '../../bench/lib/generator.js';
import { NodeExporterDataset, type NodeExporterFixture } from '../../bench/lib/node-exporter.js';
import { parsePromText } from '../../bench/lib/prom-text.js';
import { parseBenchArgs } from '../../bench/lib/args.js';
import { windowRates } from '../../bench/lib/stats.js';
import { serverCliPath } from '../../bench/lib/paths.js';

function scrapeValues(ds: { seriesCount: number; fillValues(k: number, out: Float64Array): void }, scrapes: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let k = 0; k < scrapes; k++) {
    const v = new Float64Array(ds.seriesCount);
    ds.fillValues(k, v);
    out.push(v);
  }
  return out;
}

describe('bench data', () => {
  it('synthetic data is the same for the same seed and differs for another', () => {
    const mk = (seed: number) => new SyntheticDataset({ hosts: 2, scrapeCount: 5, intervalMs: 15_000, jitterMs: 3, seed, nowMs: 1.7e12 });
    const a = scrapeValues(mk(7), 5);
    const b = scrapeValues(mk(7), 5);
    const c = scrapeValues(mk(8), 5);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const ds = mk(7);
    // Timestamps: every scrape of a host within jitter of its grid, never after "now".
    for (let k = 1; k < 5; k++) {
      const d = ds.timestampMs(1, k) - ds.timestampMs(1, k - 1);
      expect(Math.abs(d - 15_000)).toBeLessThanOrEqual(6);
    }
    for (let h = 0; h < 2; h++) {
      for (let k = 0; k < 5; k++) {
        expect(ds.timestampMs(h, k)).toBeGreaterThanOrEqual(ds.startMs);
        expect(ds.timestampMs(h, k)).toBeLessThanOrEqual(ds.endMs);
      }
    }
    expect(ds.endMs).toBe(1.7e12);
  });

  it('keeps a span of up to one partition inside one partition', () => {
    const p = PARTITION_MS;
    expect(dataEndMs(10 * p + 3_600_001, 3_600_000)).toBe(10 * p + 3_600_001); // fits: ends now
    expect(dataEndMs(10 * p + 1_000, 3_600_000)).toBe(10 * p - 1); // would cross: ends at the boundary
    for (const now of [10 * p + 5, 10 * p + 1_800_000, 11 * p - 1]) {
      const end = dataEndMs(now, p);
      expect(Math.floor(end / p)).toBe(Math.floor((end - p + 1) / p));
    }
  });

  it('parses the Prometheus text format', () => {
    const s = parsePromText(
      '# HELP x_total help\n# TYPE x_total counter\nx_total{a="1",b="q\\"uote\\\\d"} 12.5\ny NaN\nz{le="+Inf"} +Inf 1700000000000\nw -1e-3\n',
    );
    expect(s.types.get('x_total')).toBe('counter');
    expect(s.samples).toHaveLength(4);
    expect(s.samples[0]).toEqual({ name: 'x_total', labels: { a: '1', b: 'q"uote\\d' }, value: 12.5 });
    expect(Number.isNaN(s.samples[1]!.value)).toBe(true);
    expect(s.samples[2]!.value).toBe(Infinity);
    expect(s.samples[3]!.value).toBe(-0.001);
    expect(() => parsePromText('bad{a=1} 2\n')).toThrow(/line 1/);
  });

  it('replays a capture: counters keep rising with their decimals, gauges keep their grain and differ per host', () => {
    const n = 10;
    const fixture: NodeExporterFixture = {
      version: 1,
      source: 'test',
      capturedAt: '2024-01-01T00:00:00Z',
      captureIntervalMs: 1000,
      scrapes: n,
      series: [
        { labels: { __name__: 'c_total' }, counter: true, values: Array.from({ length: n }, (_, t) => (10001 + t * 37) / 100) }, // as parsed from text: shortest decimals
        { labels: { __name__: 'node_load1' }, counter: false, values: Array.from({ length: n }, (_, t) => [0.5, 0.75, 1.25][t % 3]!) },
      ],
    };
    const ds = new NodeExporterDataset(fixture, { hosts: 3, scrapeCount: 40, intervalMs: 15_000, jitterMs: 2, seed: 3, nowMs: 1.7e12 });
    expect(ds.seriesCount).toBe(6);
    const vals = scrapeValues(ds, 40);
    for (let h = 0; h < 3; h++) {
      for (let k = 1; k < 40; k++) {
        const prev = vals[k - 1]![h * 2]!;
        const cur = vals[k]![h * 2]!;
        expect(cur).toBeGreaterThan(prev);
        expect(String(cur).split('.')[1]?.length ?? 0).toBeLessThanOrEqual(2);
        const g = vals[k]![h * 2 + 1]!;
        expect(g).toBeGreaterThanOrEqual(0.5);
        expect((g * 4) % 1).toBe(0); // captured steps are multiples of 0.25: so is the host noise
      }
    }
    // Hosts must not replay identical gauge sequences (compression would dedupe them across hosts).
    const gauge = (h: number) => vals.map((v) => v[h * 2 + 1]);
    expect(gauge(0)).not.toEqual(gauge(1));
    expect(ds.labels(2)).toMatchObject({ __name__: 'c_total', instance: 'host-0001:9100', job: 'node' });
  });

  it('computes windowed throughput from a trace', () => {
    const r = windowRates({ tMs: [0, 1000, 2000], samples: [0, 100, 300] }, 2);
    expect(r).toEqual([100, 200]);
  });

  it('parses flags', () => {
    const { options } = parseBenchArgs(['--quick', '--duration', '30m', '--senders', '2', '--server-arg=--log-level=warn']);
    expect(options).toMatchObject({ ...QUICK_OPTIONS, durationMs: 1_800_000, senders: 2, serverArgs: ['--log-level=warn'] });
    expect(() => parseBenchArgs(['--duration', 'soon'])).toThrow(/duration/);
    expect(DEFAULT_OPTIONS.walFsync).toBe('batch');
  });
});

describe.runIf(fs.existsSync(serverCliPath()))('bench --quick against the real server', () => {
  it('reports sane numbers', async () => {
    const report = await runBench({ ...DEFAULT_OPTIONS, ...QUICK_OPTIONS, queryRuns: 2, quiet: true });
    const samples = report.scenario.series * report.scenario.scrapes;
    expect(report.encode.samples).toBe(samples);
    expect(report.ingest.samples).toBe(samples);
    expect(report.ingest.samplesPerSecond).toBeGreaterThan(0);
    expect(report.ingest.samplesPerSecondMedian).toBeGreaterThan(0);
    expect(report.ingest.serverSamplesIngested === null || report.ingest.serverSamplesIngested >= samples).toBe(true);
    expect(report.disk.segmentBytes).toBeGreaterThan(0);
    expect(report.disk.segmentBytesPerSample).toBeGreaterThan(0);
    expect(report.disk.segmentBytesPerSample).toBeLessThan(64); // a sample is at most ~16 raw bytes plus index
    expect(report.memory.serverPeakRssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(report.queries.map((q) => q.phase)).toEqual(['memtable', 'segments']);
    for (const q of report.queries) {
      expect(q.timings[0]!.seriesReturned).toBe(1);
      expect(q.timings[1]!.seriesReturned).toBe(report.scenario.hosts * 64); // node_cpu_seconds_total: 8 cpus x 8 modes per host
      for (const t of q.timings) expect(t.medianMs).toBeGreaterThan(0);
    }
    expect(formatReport(report)).toMatch(/ingest samples\/s/);
  });
});
