// `npm run bench:query`: query latency and memory of mocha against a real Prometheus loaded with
// the same data in the same run (bench/lib/query-bench/). The table goes to stdout, the full
// report to bench/results/query-<timestamp>.json.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDurationMs } from './lib/args.js';
import { resultsDir } from './lib/paths.js';
import { note } from './lib/progress.js';
import { DEFAULT_QUERY_OPTIONS, runQueryBench, type QueryBenchOptions } from './lib/query-bench/run.js';
import { formatQueryReport } from './lib/query-bench/report.js';

const HELP = `npm run bench:query -- [flags]

Loads the same remote-write data into the built mocha server (npm run build first) and a real
Prometheus (the prometheus binary on PATH), flushes mocha, and times a dashboard-like query set
on both, interleaved.

  --series N        total series (default ${DEFAULT_QUERY_OPTIONS.series}; 100000 takes much longer)
  --duration D      data span ending now (default 2h; Prometheus' head accepts ~1h before its newest sample, sent in time order)
  --interval D      scrape interval (default 15s)
  --runs N          timed runs per query per system (default ${DEFAULT_QUERY_OPTIONS.runs})
  --step D          query_range step (default 60s)
  --seed N          data seed (default ${DEFAULT_QUERY_OPTIONS.seed})
  --senders N       concurrent remote-write connections (default ${DEFAULT_QUERY_OPTIONS.senders})
  --memtable        also run the set before the flush (mocha from its memtable)
  --profile         run mocha under --cpu-prof and print its top functions per query
  --tolerance X     relative tolerance of the answer check (default ${DEFAULT_QUERY_OPTIONS.relTolerance})
  --out FILE        JSON report path (default bench/results/query-<timestamp>.json)
  --quiet           no progress on stderr
  --mocha-args="..." extra flags for the mocha server (write it with =), e.g. "--mocha-args=--segment-cache-bytes-max 536870912"
  -h, --help        this text
`;

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${JSON.stringify(s)}`);
  return n;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values: v } = parseArgs({
    args: argv,
    options: {
      series: { type: 'string' },
      duration: { type: 'string' },
      interval: { type: 'string' },
      runs: { type: 'string' },
      step: { type: 'string' },
      seed: { type: 'string' },
      senders: { type: 'string' },
      memtable: { type: 'boolean' },
      profile: { type: 'boolean' },
      tolerance: { type: 'string' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
      'mocha-args': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(HELP);
    return;
  }
  const o: QueryBenchOptions = { ...DEFAULT_QUERY_OPTIONS };
  if (v.series !== undefined) o.series = positiveInt(v.series, '--series');
  if (v.duration !== undefined) o.durationMs = parseDurationMs(v.duration, '--duration');
  if (v.interval !== undefined) o.intervalMs = parseDurationMs(v.interval, '--interval');
  if (v.runs !== undefined) o.runs = positiveInt(v.runs, '--runs');
  if (v.step !== undefined) o.stepS = parseDurationMs(v.step, '--step') / 1000;
  if (v.seed !== undefined) o.seed = positiveInt(v.seed, '--seed');
  if (v.senders !== undefined) o.senders = positiveInt(v.senders, '--senders');
  if (v.tolerance !== undefined) o.relTolerance = Number(v.tolerance);
  o.memtable = v.memtable === true;
  o.profile = v.profile === true;
  o.quiet = v.quiet === true;
  if (v['mocha-args'] !== undefined) o.mochaArgs = v['mocha-args'].split(/\s+/).filter((a) => a !== '');
  o.command = ['npm run bench:query', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  const report = await runQueryBench(o);
  process.stdout.write(formatQueryReport(report));
  const file = v.out ?? path.join(resultsDir(), `query-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  note(`report saved to ${file}`, o.quiet);
}

main().catch((e: unknown) => {
  process.stderr.write(`query bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
