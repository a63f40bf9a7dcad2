// `npm run bench:cold -- --data DIR [--against OTHER_CLI] ...`: the first query after a server
// start, per rollup-benchmark query, against a second build if given (bench/lib/cold-bench.ts).
// The table goes to stdout, progress to stderr, the report to bench/results/cold-<timestamp>.json.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatColdReport, runColdBench } from './lib/cold-bench.js';
import { resultsDir, serverCliPath } from './lib/paths.js';
import { note } from './lib/progress.js';

const HELP = `npm run bench:cold -- --data DIR [options]

  --data DIR          a compacted mocha data dir kept by bench:rollup --keep-data (copied, never written)
  --data-end S        the dataset's end (unix seconds) when DIR has no rollup-bench-dataset.json
  --days N, --series N, --interval SECONDS, --seed N
                      the dataset, when DIR has no rollup-bench-dataset.json (bench:rollup's defaults)
  --cli PATH          the build to measure (default dist/cli.js)
  --against PATH      a second build (e.g. another branch's dist/cli.js), alternated with --cli
  --rounds N          server starts per query and build (default 5)
  --out FILE          report file (default bench/results/cold-<timestamp>.json)
`;

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      data: { type: 'string' },
      'data-end': { type: 'string' },
      days: { type: 'string' },
      series: { type: 'string' },
      interval: { type: 'string' },
      seed: { type: 'string' },
      cli: { type: 'string' },
      against: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (v.help === true || v.data === undefined) {
    process.stdout.write(HELP);
    if (v.help !== true) process.exitCode = 2;
    return;
  }
  const num = (s: string | undefined, what: string): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${what}: not a positive number: ${s}`);
    return n;
  };
  const interval = num(v.interval, '--interval');
  const dataEnd = num(v['data-end'], '--data-end');
  const days = num(v.days, '--days');
  const series = num(v.series, '--series');
  const seed = num(v.seed, '--seed');
  const report = await runColdBench({
    dataDir: v.data,
    ...(dataEnd !== undefined ? { dataEndMs: dataEnd * 1000 } : {}),
    ...(days !== undefined ? { days } : {}),
    ...(series !== undefined ? { series } : {}),
    ...(interval !== undefined ? { intervalMs: interval * 1000 } : {}),
    ...(seed !== undefined ? { seed } : {}),
    builds: [{ name: 'cli', cliPath: path.resolve(v.cli ?? serverCliPath()) }, ...(v.against !== undefined ? [{ name: 'against', cliPath: path.resolve(v.against) }] : [])],
    rounds: num(v.rounds, '--rounds') ?? 5,
  });
  process.stdout.write(formatColdReport(report));
  const file = v.out ?? path.join(resultsDir(), `cold-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  note(`report saved to ${file}`);
  if (report.disagreements.length > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`cold bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
