// Smoke test of the rollup benchmark (bench/rollup-bench.ts, bench/lib/rollup-bench/): its data
// generator, the OpenMetrics writer promtool reads, flags, bytes per level and goals; then a tiny
// run against the real server (dist/cli.js, built by `npm test`) and, when installed, Prometheus,
// checking the report's structure and the answers' agreement, not speed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatColdReport, runColdBench } from '../../bench/lib/cold-bench.js';
import { serverCliPath } from '../../bench/lib/paths.js';
import { COUNTER_METRIC, GAUGE_METRIC, RollupDataset } from '../../bench/lib/rollup-bench/dataset.js';
import { OpenMetricsWriter, openMetricsTimestamp, promtoolTimestampMs, writeOpenMetrics } from '../../bench/lib/rollup-bench/openmetrics.js';
import { parseRollupArgs } from '../../bench/lib/rollup-bench/args.js';
import { DATASET_FILE } from '../../bench/lib/rollup-bench/reuse.js';
import { levelOrder, levelsOnDisk } from '../../bench/lib/rollup-bench/levels.js';
import { DEFAULT_ROLLUP_OPTIONS, evaluateGoals, rollupQueries, runRollupBench } from '../../bench/lib/rollup-bench/run.js';
import { formatRollupReport, summarizeRollupStats } from '../../bench/lib/rollup-bench/report.js';

const HOUR = 3_600_000;
const END = 1_800_000 * HOUR; // a whole hour

function series(ds: RollupDataset, i: number): number[] {
  const c = ds.cursor(i, i + 1);
  const v = new Float64Array(1);
  const out: number[] = [];
  for (let k = 0; k < ds.scrapeCount; k++) {
    c.next(v);
    out.push(v[0]!);
  }
  return out;
}

describe('rollup bench data', () => {
  const mk = (seed: number) => new RollupDataset({ series: 6, scrapeCount: 40_080, intervalMs: 15_000, seed, endMs: END });

  it('gives a series the same values whichever series are generated with it', () => {
    const ds = mk(3);
    const together = ds.cursor(0, 6);
    const v = new Float64Array(6);
    const cols: number[][] = [[], [], [], [], [], []];
    for (let k = 0; k < ds.scrapeCount; k++) {
      together.next(v);
      for (let i = 0; i < 6; i++) cols[i]!.push(v[i]!);
    }
    for (let i = 0; i < 6; i++) expect(series(ds, i)).toEqual(cols[i]);
    expect(series(mk(3), 0)).toEqual(cols[0]);
    expect(series(mk(4), 0)).not.toEqual(cols[0]);
  });

  it('has counters with occasional resets and gauges in tenths, timestamps off whole seconds and before the end', () => {
    const ds = mk(3);
    expect(ds.counterCount).toBe(3);
    expect(ds.labels(0)).toMatchObject({ __name__: COUNTER_METRIC, x: 'x0' });
    expect(ds.labels(5)).toMatchObject({ __name__: GAUGE_METRIC, x: 'x5' });
    let resets = 0;
    for (let i = 0; i < 3; i++) {
      const c = series(ds, i);
      for (let k = 1; k < c.length; k++) {
        expect(Number.isInteger(c[k])).toBe(true);
        if (c[k]! < c[k - 1]!) resets++;
      }
    }
    // 3 series x 40080 scrapes at 1/12000: ~10 expected.
    expect(resets).toBeGreaterThan(0);
    expect(resets).toBeLessThan(40);
    for (const g of series(ds, 4)) expect(Math.round(g * 10) / 10).toBe(g);
    for (let i = 0; i < 6; i++) {
      expect(ds.timestampMs(i, 0) % 1000).not.toBe(0);
      expect(ds.timestampMs(i, 0)).toBeGreaterThan(ds.startMs);
      expect(ds.timestampMs(i, ds.scrapeCount - 1)).toBeLessThan(END);
    }
    expect(ds.startMs % HOUR).toBe(0);
  });

  it('writes OpenMetrics whose timestamps promtool reads back to the same millisecond', () => {
    for (const ms of [1_764_000_000_001, 1_764_000_000_123, 1_764_000_000_999, 1_799_999_999_500]) {
      expect(promtoolTimestampMs(openMetricsTimestamp(ms))).toBe(ms);
    }
    const ds = new RollupDataset({ series: 4, scrapeCount: 3, intervalMs: 15_000, seed: 1, endMs: END });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rb-om-')), 'x.om');
    try {
      const w = writeOpenMetrics(ds, file);
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(w.samples).toBe(12);
      expect(lines[0]).toBe('# TYPE rb_requests counter');
      expect(lines[7]).toBe('# TYPE rb_temperature gauge');
      expect(lines[lines.length - 1]).toBe('# EOF');
      const m = /^rb_requests_total\{id="s0",x="x0"\} (\d+) (\S+)$/.exec(lines[1]!);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBe(series(ds, 0)[0]);
      expect(promtoolTimestampMs(m![2]!)).toBe(ds.timestampMs(0, 0));
      // Every value and timestamp reads back exactly (gauges are tenths, some negative).
      const big = new RollupDataset({ series: 6, scrapeCount: 1000, intervalMs: 15_000, seed: 9, endMs: END });
      writeOpenMetrics(big, file);
      const got = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      expect(got).toHaveLength(6 * 1000);
      let negatives = 0;
      for (let i = 0; i < 6; i++) {
        const want = series(big, i);
        for (let k = 0; k < 1000; k++) {
          const [, value, ts] = got[i * 1000 + k]!.split(' ');
          expect(Number(value)).toBe(want[k]);
          expect(promtoolTimestampMs(ts!)).toBe(big.timestampMs(i, k));
          if (want[k]! < 0) negatives++;
        }
      }
      expect(negatives).toBeGreaterThan(0);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('writes the same samples in one file per block window as in one file', () => {
    const ds = new RollupDataset({ series: 5, scrapeCount: 3 * 240 + 240, intervalMs: 15_000, seed: 2, endMs: END + HOUR }); // 4 h, starting off a 2 h boundary
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-omw-'));
    const samples = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    try {
      writeOpenMetrics(ds, path.join(dir, 'all.om'));
      const w = new OpenMetricsWriter(ds);
      const windows = w.windows(2 * HOUR);
      expect(windows.map((x) => [x.kFrom, x.kTo])).toEqual([
        [0, 240],
        [240, 720],
        [720, 960],
      ]);
      const parts: string[] = [];
      for (const [n, x] of windows.entries()) {
        const f = path.join(dir, `w${n}.om`);
        w.write(x.kFrom, x.kTo, f);
        for (const line of samples(f)) {
          const t = promtoolTimestampMs(line.split(' ')[2]!);
          expect(t).toBeGreaterThanOrEqual(x.startMs);
          expect(t).toBeLessThan(x.endMs);
          parts.push(line);
        }
      }
      expect(parts.sort()).toEqual(samples(path.join(dir, 'all.om')).sort());
      expect(() => w.write(0, 1, path.join(dir, 'again.om'))).toThrow(/consecutive/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('queries the whole span at whole hours', () => {
    const ds = new RollupDataset({ series: 4, scrapeCount: 24 * 240, intervalMs: 15_000, seed: 1, endMs: END });
    const qs = rollupQueries(ds);
    expect(qs.map((q) => q.query)).toEqual(['sum by (x) (rate(rb_requests_total[1h]))', 'avg_over_time(rb_temperature[1h])', 'sum by (x) (rate(rb_requests_total[1h15s]))']);
    for (const q of qs) {
      expect(q.stepS).toBe(3600);
      expect(q.endS * 1000).toBe(END);
      expect(q.startS * 1000).toBe(END - 23 * HOUR);
    }
  });
});

describe('rollup bench pieces', () => {
  it('parses flags', () => {
    const { options } = parseRollupArgs(['--days', '2', '--series', '100', '--interval', '30s', '--no-prometheus', '--mocha-args=--rollup-levels 5m,1h']);
    expect(options).toMatchObject({ days: 2, series: 100, intervalMs: 30_000, noPrometheus: true, mochaArgs: ['--rollup-levels', '5m,1h'] });
    expect(DEFAULT_ROLLUP_OPTIONS).toMatchObject({ days: 30, series: 1000, intervalMs: 15_000, runs: 7 });
    expect(() => parseRollupArgs(['--days', '0.01'])).toThrow(/days/);
    expect(() => parseRollupArgs(['--interval', '7s'])).toThrow(/divide an hour/);
  });

  it('sums segment directories by level prefix, raw first then by width', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-levels-'));
    try {
      const seg = (name: string, bytes: number) => {
        const d = path.join(dir, 'tenants', 'default', 'segments', name);
        fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(d, 'samples.arrow'), Buffer.alloc(bytes));
      };
      seg('raw-0-00000001', 1000);
      seg('raw-7200000-00000002', 500);
      seg('1h-0-00000003', 30);
      seg('5m-0-00000004', 100);
      seg('1d-0-00000005.tmp', 7);
      expect(levelsOnDisk(dir).map((l) => [l.level, l.segments, l.bytes])).toEqual([
        ['raw', 2, 1500],
        ['5m', 1, 100],
        ['1h', 1, 30],
      ]);
      expect(['1d', 'raw', '1h', '5m'].sort(levelOrder)).toEqual(['raw', '5m', '1h', '1d']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('summarises data.stats.rollup', () => {
    const stats = [
      { expr: 'rate(m[1h])', level: '1h', levelSegmentsRead: 12, rawPiecesRead: 1 },
      { expr: 'rate(m[1h])', level: '1h', levelSegmentsRead: 3, rawPiecesRead: 0 },
      { expr: 'quantile_over_time(0.9, m[1h])', level: 'raw', reason: 'quantile_over_time() has no exact rollup', levelSegmentsRead: 0, rawPiecesRead: 1 },
    ];
    expect(summarizeRollupStats(stats)).toBe('1h: 2 selector evaluations, 15 level segments, 1 raw pieces; raw (quantile_over_time() has no exact rollup): 1 selector evaluation, 0 level segments, 1 raw pieces');
    expect(summarizeRollupStats(undefined)).toBe('-');
    expect(summarizeRollupStats({ other: 1 })).toBe('{"other":1}');
  });

  it('judges the goals', () => {
    const t = (medianMs: number) => ({ medianMs });
    const q = (pyr: number, raw: number, prom: number) => ({
      name: 'q',
      query: 'q',
      startS: 0,
      endS: 1,
      stepS: 1,
      targets: { pyramid: { ...t(pyr), rollupStats: { level: '1h' } }, raw: t(raw), prometheus: t(prom) },
      speedupVsRaw: raw / pyr,
      speedupVsPrometheus: prom / pyr,
      agreement: [],
    });
    const levels = { disk: [], metrics: [], rawBytes: 100, levelBytes: 20, levelsPctOfRaw: 20 };
    const latency = { liveSeries: 1, periodMs: 1, retries: 0, status429: 0, idle: { requests: 100, p50Ms: 1, p99Ms: 2, maxMs: 3 }, compacting: { requests: 100, p50Ms: 1, p99Ms: 5, maxMs: 9 }, ratioP99: 2.5 };
    const g = evaluateGoals([q(1, 60, 70)], levels, latency, true);
    expect(g.map((x) => x.pass)).toEqual([true, true, undefined, true, false]);
    const g2 = evaluateGoals([q(10, 60, 70)], { ...levels, levelsPctOfRaw: 40 }, { ...latency, ratioP99: 1.5 }, true);
    expect(g2.map((x) => x.pass)).toEqual([false, false, undefined, false, true]);
  });
});

describe.runIf(fs.existsSync(serverCliPath()))('bench:rollup, tiny, against the real server', () => {
  it('reports every phase and the answers agree', async () => {
    const series = 20;
    const report = await runRollupBench({ ...DEFAULT_ROLLUP_OPTIONS, days: 0.25, series, runs: 2, liveSeries: 50, idleMs: 2000, settleMs: 500, idleWaitMaxMs: 0, flushEveryMs: 3 * HOUR, quiet: true });
    const scrapes = 6 * 240;
    expect(report.scenario.samples).toBe(series * scrapes);
    expect(report.load.samples).toBe(series * scrapes);
    expect(report.load.flushes).toBeGreaterThanOrEqual(1);
    expect(report.latency.idle!.requests).toBeGreaterThan(5);
    expect(report.levels.rawBytes).toBeGreaterThan(0);
    if (report.compaction.available) {
      expect(report.compaction.ms).toBeGreaterThan(0);
      expect(report.levels.levelBytes).toBeGreaterThan(0);
      // A tiny compaction may finish between two steady-writer requests: no "compacting" phase then.
    } else {
      expect(report.notes.join('\n')).toMatch(/admin\/compact answered 404/);
    }
    expect(report.queries).toHaveLength(3);
    const [rate, avg, rateInterval] = report.queries;
    expect(rate!.targets.pyramid.series).toBe(10); // x0..x9
    expect(avg!.targets.pyramid.series).toBe(series / 2);
    expect(rateInterval!.targets.pyramid.series).toBe(10);
    for (const q of report.queries) {
      expect(q.targets.pyramid.points).toBe(q.targets.pyramid.series! * 6); // 6 h at 1 h (the first hour is the first window)
      for (const t of ['pyramid', 'raw'] as const) expect(q.targets[t].medianMs, q.targets[t].error).toBeGreaterThan(0);
      const pyrRaw = q.agreement.find((a) => a.pair === 'pyramid vs raw')!;
      expect(pyrRaw.agreement.agree, pyrRaw.agreement.examples.join('\n')).toBe(true);
      if (report.prometheus.skipped === undefined) {
        expect(q.targets.prometheus.medianMs).toBeGreaterThan(0);
        for (const a of q.agreement) expect(a.agreement.agree, `${a.pair}: ${a.agreement.examples.join('\n')}`).toBe(true);
      } else {
        console.log(`Prometheus skipped: ${report.prometheus.skipped}`);
      }
    }
    if (report.prometheus.skipped === undefined) expect(report.prometheus.promtoolMs).toBeGreaterThan(0);
    expect(report.goals.length).toBeGreaterThanOrEqual(8);
    const text = formatRollupReport(report);
    expect(text).toMatch(/bytes per level/);
    expect(text).toMatch(/goals:/);
  }, 120_000);

  it('bench:cold reruns the queries on the kept data, each first after a server start, and the answers agree', async () => {
    const series = 10;
    const kept = await runRollupBench({ ...DEFAULT_ROLLUP_OPTIONS, days: 0.25, series, runs: 1, liveSeries: 10, idleMs: 500, settleMs: 200, idleWaitMaxMs: 0, flushEveryMs: 3 * HOUR, noPrometheus: true, keepData: true, quiet: true });
    const dir = kept.keptMochaDir!;
    try {
      expect(fs.existsSync(path.join(dir, DATASET_FILE))).toBe(true);
      const cli = serverCliPath();
      const report = await runColdBench({ dataDir: dir, builds: [{ name: 'a', cliPath: cli }, { name: 'b', cliPath: cli }], rounds: 1, quiet: true });
      expect(report.disagreements).toEqual([]);
      expect(report.verified).not.toBe('');
      expect(report.rows.map((r) => r.name)).toEqual(kept.queries.map((q) => q.name));
      for (const row of report.rows) {
        for (const b of row.builds) {
          expect(b.coldMsMedian).toBeGreaterThan(0);
          expect(b.levelCacheBytesMedian).toBeGreaterThan(0);
        }
      }
      // Every start timed, and the open of the segments read from the server's log.
      expect(report.starts.map((s) => s.build)).toEqual(['a', 'b']);
      for (const st of report.starts) {
        expect(st.count).toBe(kept.queries.length);
        expect(st.startMsMedian).toBeGreaterThan(0);
        expect(st.segmentsOpenMsMedian).toBeGreaterThanOrEqual(0);
        expect(st.segmentsOpenMsMedian!).toBeLessThan(st.startMsMedian);
      }
      expect(formatColdReport(report)).toMatch(/cold a\/b/);
      expect(formatColdReport(report)).toMatch(/start a\/b: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
