// Flags of `npm run bench:rollup`.
import { parseArgs } from 'node:util';
import { parseDurationMs } from '../args.js';
import { DEFAULT_ROLLUP_OPTIONS, HOUR_MS, type RollupBenchOptions } from './run.js';

export const ROLLUP_HELP = `npm run bench:rollup -- [flags]

Backfills days of counters and gauges into the built mocha server (npm run build first) through
remote write, compacts it (POST /api/v1/admin/compact builds the rollup levels), measures ingest
latency idle vs while compacting and bytes per level, loads the same data into Prometheus with
promtool's OpenMetrics backfill, and times sum by (x) (rate(rb_requests_total[1h])) and
avg_over_time(rb_temperature[1h]) over the whole span at a 1 h step: mocha resolution=auto
(pyramid), mocha resolution=raw, Prometheus.

  --days N              data span ending at the last whole hour (default ${DEFAULT_ROLLUP_OPTIONS.days}; a whole number of hours, >= 2 h)
  --series N            series, half counters, half gauges (default ${DEFAULT_ROLLUP_OPTIONS.series})
  --interval D          sample interval (default 15s)
  --runs N              timed runs per query per target (default ${DEFAULT_ROLLUP_OPTIONS.runs})
  --seed N              data seed (default ${DEFAULT_ROLLUP_OPTIONS.seed})
  --senders N           concurrent remote-write connections of the backfill (default ${DEFAULT_ROLLUP_OPTIONS.senders})
  --samples-per-request N  about this many samples per backfill request (default ${DEFAULT_ROLLUP_OPTIONS.samplesPerRequest})
  --flush-every D       POST /api/v1/admin/flush after this much data time (default 24h)
  --live-series N       steady writer: series per request (default ${DEFAULT_ROLLUP_OPTIONS.liveSeries})
  --live-period D       steady writer: one request this often (default 100ms)
  --idle D              idle phase of the latency measurement (default 60s: ~600 requests, so its p99 is not the 2nd worst)
  --idle-wait-max D     before each timed query, wait at most this long for the machine's CPUs to be
                        <= 20% busy over 200 ms (default 5s; 0: no wait)
  --settle D            steady writing before the idle phase, after the backfill (default 10s: its last flush's memory collected)
  --prom-block-duration D  Prometheus block size (default ${DEFAULT_ROLLUP_OPTIONS.promBlockDuration}: what Prometheus builds with a
                        30-40 d retention, max block = 10% of it); one OpenMetrics file and one promtool run per block
  --no-prometheus       skip Prometheus
  --tolerance X         relative tolerance of the answer comparison (default ${DEFAULT_ROLLUP_OPTIONS.relTolerance})
  --wal-fsync batch|off mocha's WAL fsync (default ${DEFAULT_ROLLUP_OPTIONS.walFsync})
  --mocha-args="..."    extra mocha flags (write it with =), e.g. "--mocha-args=--rollup-levels 5m,1h,1d"
  --cli PATH            mocha entry point instead of dist/cli.js (e.g. another branch's build)
  --keep-data           keep mocha's and Prometheus' data directories; the mocha one gets a
                        rollup-bench-dataset.json (days, series, interval, seed, end, Prometheus
                        blocks dir) for --reuse-mocha
  --out FILE            JSON report (default bench/results/rollup-<timestamp>.json)
  --quiet               no progress on stderr
  -h, --help            this text

Rerunning the bytes-per-level and query phases on kept data (no backfill, compaction,
ingest-latency phase or promtool load; the report says REUSED DATA):
  --reuse-mocha DIR     a kept, compacted mocha data dir (--keep-data); the server runs on a copy
                        (the dir is never written); dataset and queries from its
                        rollup-bench-dataset.json, or from the flags below when it has none
  --reuse-prometheus DIR  Prometheus TSDB blocks of the same data (or a kept work dir holding
                        tsdb/), run on a copy; default: the dir the JSON records, if it still
                        exists, else Prometheus is skipped (with the reason)
  --data-end UNIX_SECONDS  the dataset's end (a whole hour) for a dir without the JSON, with
                        --days/--series/--interval/--seed (defaults as above); with the JSON,
                        these flags must agree with it
  The backfill and latency flags (--senders .. --settle) are refused with --reuse-mocha.
`;

/** Prometheus' block ranges (tsdb.ExponentialBlockRanges(2h, 10, 3)), the sizes promtool builds. */
export const PROM_BLOCK_DURATIONS = ['2h', '6h', '18h', '54h', '162h', '486h', '1458h'];

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${JSON.stringify(s)}`);
  return n;
}

export function parseRollupArgs(argv: string[]): { options: RollupBenchOptions; help: boolean; out?: string } {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      days: { type: 'string' },
      series: { type: 'string' },
      interval: { type: 'string' },
      runs: { type: 'string' },
      'idle-wait-max': { type: 'string' },
      seed: { type: 'string' },
      senders: { type: 'string' },
      'samples-per-request': { type: 'string' },
      'flush-every': { type: 'string' },
      'live-series': { type: 'string' },
      'live-period': { type: 'string' },
      idle: { type: 'string' },
      settle: { type: 'string' },
      'prom-block-duration': { type: 'string' },
      'no-prometheus': { type: 'boolean' },
      tolerance: { type: 'string' },
      'wal-fsync': { type: 'string' },
      'mocha-args': { type: 'string' },
      'keep-data': { type: 'boolean' },
      'reuse-mocha': { type: 'string' },
      'reuse-prometheus': { type: 'string' },
      'data-end': { type: 'string' },
      cli: { type: 'string' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const o: RollupBenchOptions = { ...DEFAULT_ROLLUP_OPTIONS, mochaArgs: [] };
  if (v.days !== undefined) {
    const d = Number(v.days);
    const hours = d * 24;
    if (!(d > 0) || Math.abs(hours - Math.round(hours)) > 1e-9 || Math.round(hours) < 2) throw new Error(`--days: expected a whole number of hours of at least 2 h (e.g. 30, 2, 0.5), got ${JSON.stringify(v.days)}`);
    o.days = d;
  }
  if (v.series !== undefined) {
    o.series = positiveInt(v.series, '--series');
    if (o.series < 2) throw new Error('--series: at least 2 (a counter and a gauge)');
  }
  if (v.interval !== undefined) {
    o.intervalMs = parseDurationMs(v.interval, '--interval');
    if (HOUR_MS % o.intervalMs !== 0 || o.intervalMs % 1000 !== 0) throw new Error('--interval must be whole seconds that divide an hour (e.g. 15s, 30s, 1m)');
  }
  if (v.runs !== undefined) o.runs = positiveInt(v.runs, '--runs');
  if (v.seed !== undefined) o.seed = positiveInt(v.seed, '--seed');
  if (v.senders !== undefined) o.senders = positiveInt(v.senders, '--senders');
  if (v['samples-per-request'] !== undefined) o.samplesPerRequest = positiveInt(v['samples-per-request'], '--samples-per-request');
  if (v['flush-every'] !== undefined) o.flushEveryMs = parseDurationMs(v['flush-every'], '--flush-every');
  if (v['live-series'] !== undefined) o.liveSeries = positiveInt(v['live-series'], '--live-series');
  if (v['live-period'] !== undefined) o.livePeriodMs = parseDurationMs(v['live-period'], '--live-period');
  if (v.idle !== undefined) o.idleMs = parseDurationMs(v.idle, '--idle');
  if (v.settle !== undefined) o.settleMs = parseDurationMs(v.settle, '--settle');
  if (v['idle-wait-max'] !== undefined) o.idleWaitMaxMs = v['idle-wait-max'] === '0' ? 0 : parseDurationMs(v['idle-wait-max'], '--idle-wait-max');
  if (v['prom-block-duration'] !== undefined) {
    // promtool rounds --max-block-duration down to one of Prometheus' block ranges (2 h x 3^k).
    if (!PROM_BLOCK_DURATIONS.includes(v['prom-block-duration'])) throw new Error(`--prom-block-duration: one of ${PROM_BLOCK_DURATIONS.join(', ')}`);
    o.promBlockDuration = v['prom-block-duration'];
  }
  o.noPrometheus = v['no-prometheus'] === true;
  if (v.tolerance !== undefined) {
    o.relTolerance = Number(v.tolerance);
    if (!(o.relTolerance >= 0)) throw new Error('--tolerance: a non-negative number');
  }
  if (v['wal-fsync'] !== undefined) {
    if (v['wal-fsync'] !== 'batch' && v['wal-fsync'] !== 'off') throw new Error('--wal-fsync: batch or off');
    o.walFsync = v['wal-fsync'];
  }
  if (v['mocha-args'] !== undefined) o.mochaArgs = v['mocha-args'].split(/\s+/).filter((a) => a !== '');
  o.keepData = v['keep-data'] === true;
  if (v['reuse-mocha'] !== undefined) {
    // Flags of the phases a reuse run does not have would be silently ignored: refuse them.
    const unused = ['senders', 'samples-per-request', 'flush-every', 'live-series', 'live-period', 'idle', 'settle'].filter((f) => v[f as keyof typeof v] !== undefined);
    if (unused.length > 0) throw new Error(`${unused.map((f) => `--${f}`).join(', ')}: no backfill or ingest-latency phase with --reuse-mocha`);
    if (v['reuse-prometheus'] !== undefined && o.noPrometheus) throw new Error('--reuse-prometheus and --no-prometheus contradict each other');
    let dataEndMs: number | undefined;
    if (v['data-end'] !== undefined) {
      const endS = Number(v['data-end']);
      // The dataset and the queries are aligned to whole hours (dataset.ts, rollupQueries).
      if (!Number.isInteger(endS) || endS <= 0 || endS % 3600 !== 0) throw new Error(`--data-end: unix seconds of a whole hour (e.g. 1796259600), got ${JSON.stringify(v['data-end'])}`);
      dataEndMs = endS * 1000;
    }
    const given = { days: v.days, series: v.series, intervalMs: v.interval, seed: v.seed, promBlockDuration: v['prom-block-duration'] };
    o.reuse = {
      mochaDir: v['reuse-mocha'],
      ...(v['reuse-prometheus'] !== undefined ? { prometheusDir: v['reuse-prometheus'] } : {}),
      ...(dataEndMs !== undefined ? { dataEndMs } : {}),
      flagsGiven: (Object.keys(given) as (keyof typeof given)[]).filter((k) => given[k] !== undefined),
    };
  } else if (v['reuse-prometheus'] !== undefined) {
    throw new Error('--reuse-prometheus: only with --reuse-mocha (Prometheus and mocha must hold the same data)');
  } else if (v['data-end'] !== undefined) {
    throw new Error('--data-end: only with --reuse-mocha (it describes a kept data dir; a new dataset ends at the last whole hour)');
  }
  if (v.cli !== undefined) o.cliPath = v.cli;
  o.quiet = v.quiet === true;
  o.command = ['npm run bench:rollup', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  return { options: o, help: v.help === true, ...(v.out !== undefined ? { out: v.out } : {}) };
}
