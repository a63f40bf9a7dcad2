// Command-line flags of `npm run bench`, parsed into BenchOptions.
import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS, QUICK_OPTIONS, type BenchOptions } from './run-bench.js';

export const HELP = `npm run bench -- [flags]

Starts the built server (npm run build first) on a temporary data directory, sends remote-write
requests shaped like Prometheus', and reports ingest samples/s, peak RSS, bytes/sample on disk
and query_range latency.

  --dataset node-exporter|synthetic  replayed real node exporter capture (default; captured once
                               into bench/fixtures/ when missing) or synthetic node-exporter-like data
  --series N                   total series (default ${DEFAULT_OPTIONS.series}); hosts = N / series per host
  --hosts N                    number of hosts instead of --series
  --duration D                 time span of the data, ending now (default 1h); e.g. 30m, 2h
  --interval D                 scrape interval (default 15s)
  --jitter-ms N                scrape timestamp jitter, +-N ms (default ${DEFAULT_OPTIONS.jitterMs})
  --senders N                  concurrent senders (default ${DEFAULT_OPTIONS.senders})
  --samples-per-request N      samples per remote-write request (default ${DEFAULT_OPTIONS.samplesPerRequest})
  --samples-per-series N       samples of one series per request (default ${DEFAULT_OPTIONS.samplesPerSeries})
  --seed N                     data seed (default ${DEFAULT_OPTIONS.seed})
  --query-runs N               timed runs per query (default ${DEFAULT_OPTIONS.queryRuns}; 0 skips queries)
  --query-step D               query_range step (default 60s)
  --windows N                  throughput windows; the median is reported (default ${DEFAULT_OPTIONS.windows})
  --wal-fsync batch|off        server WAL fsync policy (default batch: the target needs fsync on)
  --server-arg ARG             extra server flag (repeatable), e.g. --server-arg=--memtable-bytes-max=1e9
  --profile                    run the server under --cpu-prof and print the top self-time functions
  --recapture                  capture node exporter again
  --capture-scrapes N          scrapes in a capture (default ${DEFAULT_OPTIONS.captureScrapes})
  --capture-interval D         capture scrape interval (default 1s)
  --quick                      small smoke run (synthetic, ${QUICK_OPTIONS.series} series, 10 min of data)
  --keep-data                  keep the server's data directory
  --out FILE                   JSON report path (default bench/results/<timestamp>.json)
  --quiet                      no progress on stderr
  -h, --help                   this text
`;

export function parseDurationMs(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m) throw new Error(`${flag}: not a duration: ${JSON.stringify(s)} (e.g. 15s, 30m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's']!;
  const ms = Number(m[1]) * unit;
  if (!(ms > 0)) throw new Error(`${flag} must be positive`);
  return ms;
}

function positiveInt(s: string | undefined, flag: string, min = 1): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, got ${JSON.stringify(s)}`);
  return n;
}

export function parseBenchArgs(argv: string[]): { options: BenchOptions; out?: string; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string' },
      series: { type: 'string' },
      hosts: { type: 'string' },
      duration: { type: 'string' },
      interval: { type: 'string' },
      'jitter-ms': { type: 'string' },
      senders: { type: 'string' },
      'samples-per-request': { type: 'string' },
      'samples-per-series': { type: 'string' },
      seed: { type: 'string' },
      'query-runs': { type: 'string' },
      'query-step': { type: 'string' },
      windows: { type: 'string' },
      'wal-fsync': { type: 'string' },
      'server-arg': { type: 'string', multiple: true },
      profile: { type: 'boolean', default: false },
      recapture: { type: 'boolean', default: false },
      'capture-scrapes': { type: 'string' },
      'capture-interval': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      out: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...(values.quick ? QUICK_OPTIONS : {}) };
  if (values.dataset !== undefined) {
    if (values.dataset !== 'synthetic' && values.dataset !== 'node-exporter') throw new Error('--dataset must be synthetic or node-exporter');
    o.dataset = values.dataset;
  }
  o.series = positiveInt(values.series, '--series') ?? o.series;
  const hosts = positiveInt(values.hosts, '--hosts');
  if (hosts !== undefined) o.hosts = hosts;
  if (values.duration !== undefined) o.durationMs = parseDurationMs(values.duration, '--duration');
  if (values.interval !== undefined) o.intervalMs = parseDurationMs(values.interval, '--interval');
  o.jitterMs = positiveInt(values['jitter-ms'], '--jitter-ms', 0) ?? o.jitterMs;
  o.senders = positiveInt(values.senders, '--senders') ?? o.senders;
  o.samplesPerRequest = positiveInt(values['samples-per-request'], '--samples-per-request') ?? o.samplesPerRequest;
  o.samplesPerSeries = positiveInt(values['samples-per-series'], '--samples-per-series') ?? o.samplesPerSeries;
  o.seed = positiveInt(values.seed, '--seed', 0) ?? o.seed;
  o.queryRuns = positiveInt(values['query-runs'], '--query-runs', 0) ?? o.queryRuns;
  if (values['query-step'] !== undefined) o.queryStepMs = parseDurationMs(values['query-step'], '--query-step');
  o.windows = positiveInt(values.windows, '--windows') ?? o.windows;
  if (values['wal-fsync'] !== undefined) {
    if (values['wal-fsync'] !== 'batch' && values['wal-fsync'] !== 'off') throw new Error('--wal-fsync must be batch or off');
    o.walFsync = values['wal-fsync'];
  }
  o.serverArgs = values['server-arg'] ?? [];
  o.profile = values.profile;
  o.recapture = values.recapture;
  o.captureScrapes = positiveInt(values['capture-scrapes'], '--capture-scrapes', 3) ?? o.captureScrapes;
  if (values['capture-interval'] !== undefined) o.captureIntervalMs = parseDurationMs(values['capture-interval'], '--capture-interval');
  o.keepData = values['keep-data'];
  o.quiet = values.quiet;
  return { options: o, ...(values.out !== undefined ? { out: values.out } : {}), help: values.help };
}

