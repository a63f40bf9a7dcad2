// `npm run bench:cold -- --data DIR [--against OTHER_CLI] ...`: the rollup benchmark's queries
// (bench:rollup) on a kept, compacted data dir, each the FIRST query of a freshly started server
// (nothing decoded or cached yet: a dashboard after a restart, or a level the caches no longer
// hold), then once more warm. Every round restarts the server once per query and build; with
// --against the two builds alternate round by round on the same copy of the data, so their
// medians are comparable (this host's noise is ~2x between runs). Answers are compared: cold vs
// warm of each build, and the builds with each other (bit for bit: same data, same plan).
// The table goes to stdout, the report to bench/results/cold-<timestamp>.json.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resultsDir, serverCliPath } from './lib/paths.js';
import { note } from './lib/progress.js';
import { compareAnswers } from './lib/query-bench/compare.js';
import type { Answer } from './lib/query-bench/client.js';
import { queryRange } from './lib/rollup-bench/client.js';
import { RollupDataset } from './lib/rollup-bench/dataset.js';
import { copyToTemp, resolveReuse, verifyReusedData, type RollupReuseOptions } from './lib/rollup-bench/reuse.js';
import { DEFAULT_ROLLUP_OPTIONS, rollupQueries } from './lib/rollup-bench/run.js';
import { startServer } from './lib/server.js';
import { median } from './lib/stats.js';

const HELP = `npm run bench:cold -- --data DIR [options]

  --data DIR          a compacted mocha data dir kept by bench:rollup --keep-data (copied, never written)
  --data-end S        the dataset's end (unix seconds) when DIR has no rollup-bench-dataset.json
  --days N, --series N, --interval S, --seed N
                      the dataset, when DIR has no rollup-bench-dataset.json (bench:rollup's defaults)
  --cli PATH          the build to measure (default dist/cli.js)
  --against PATH      a second build (e.g. another branch's dist/cli.js), alternated with --cli
  --rounds N          restarts per query and build (default 5)
  --out FILE          report file (default bench/results/cold-<timestamp>.json)
`;

interface Sample {
  coldMs: number;
  warmMs: number;
}

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
  const num = (s: string | undefined, dflt: number, what: string): number => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${what}: not a positive number: ${s}`);
    return n;
  };
  const flagsGiven: RollupReuseOptions['flagsGiven'] = [];
  if (v.days !== undefined) flagsGiven.push('days');
  if (v.series !== undefined) flagsGiven.push('series');
  if (v.interval !== undefined) flagsGiven.push('intervalMs');
  if (v.seed !== undefined) flagsGiven.push('seed');
  const reuse = resolveReuse(
    { mochaDir: v.data, flagsGiven, ...(v['data-end'] !== undefined ? { dataEndMs: num(v['data-end'], 0, '--data-end') * 1000 } : {}) },
    {
      days: num(v.days, DEFAULT_ROLLUP_OPTIONS.days, '--days'),
      series: num(v.series, DEFAULT_ROLLUP_OPTIONS.series, '--series'),
      intervalMs: v.interval !== undefined ? num(v.interval, 0, '--interval') * 1000 : DEFAULT_ROLLUP_OPTIONS.intervalMs,
      seed: num(v.seed, DEFAULT_ROLLUP_OPTIONS.seed, '--seed'),
      promBlockDuration: DEFAULT_ROLLUP_OPTIONS.promBlockDuration,
      noPrometheus: true,
    },
  );
  const ds = new RollupDataset({ series: reuse.series, scrapeCount: Math.round((reuse.days * 86_400_000) / reuse.intervalMs), intervalMs: reuse.intervalMs, seed: reuse.seed, endMs: reuse.endMs });
  const queries = rollupQueries(ds);
  const rounds = num(v.rounds, 5, '--rounds');
  const builds = [{ name: 'cli', path: path.resolve(v.cli ?? serverCliPath()) }, ...(v.against !== undefined ? [{ name: 'against', path: path.resolve(v.against) }] : [])];
  const startedAt = new Date().toISOString();
  note(`copying ${reuse.mochaDir}`, false);
  const copy = copyToTemp(reuse.mochaDir, 'mocha-cold-');
  // The server writes metadata.json and its WAL there; the level and raw segments it only reads.
  const samples = new Map<string, Sample[]>();
  const answers = new Map<string, Answer>();
  const disagreements: string[] = [];
  let verified = '';
  try {
    for (let r = 0; r < rounds; r++) {
      // Alternate which build goes first, so neither always follows the other's page-cache use.
      const order = r % 2 === 0 ? builds : [...builds].reverse();
      for (const b of order) {
        for (const q of queries) {
          const server = await startServer({ dataDir: copy.dir, cliPath: b.path, args: ['--compaction-interval', '0', '--query-samples-max', '2000000000'], startTimeoutMs: 120_000 });
          try {
            const cold = await queryRange(server.url, q);
            const warm = await queryRange(server.url, q);
            const key = `${b.name}\u0000${q.name}`;
            const list = samples.get(key) ?? [];
            list.push({ coldMs: cold.receivedMs, warmMs: warm.receivedMs });
            samples.set(key, list);
            const agree = compareAnswers(cold.answer, warm.answer, 0);
            if (!agree.agree) disagreements.push(`${b.name} ${q.name}: cold vs warm: ${agree.examples.join('; ')}`);
            const earlier = answers.get(q.name);
            if (earlier === undefined) answers.set(q.name, cold.answer);
            else {
              const same = compareAnswers(cold.answer, earlier, 0);
              if (!same.agree) disagreements.push(`${b.name} ${q.name}: vs the first answer: ${same.examples.join('; ')}`);
            }
            if (verified === '') verified = await verifyReusedData(server.url, ds);
            note(`round ${r + 1}/${rounds} ${b.name} ${q.name}: cold ${cold.receivedMs.toFixed(0)} ms, warm ${warm.receivedMs.toFixed(0)} ms`, false);
          } finally {
            await server.stop();
          }
        }
      }
    }
  } finally {
    fs.rmSync(copy.dir, { recursive: true, force: true });
  }
  const rows = queries.map((q) => {
    const per = builds.map((b) => {
      const s = samples.get(`${b.name}\u0000${q.name}`) ?? [];
      return { build: b.name, cliPath: b.path, coldMsMedian: median(s.map((x) => x.coldMs)), warmMsMedian: median(s.map((x) => x.warmMs)), samples: s };
    });
    return { query: q.query, name: q.name, builds: per };
  });
  const report = { harness: 'bench:cold', startedAt, dataDir: reuse.mochaDir, datasetFrom: reuse.datasetFile ?? 'flags', verified, rounds, builds, rows, disagreements };
  const lines = [`cold queries: first query after a server start, medians of ${rounds} (${startedAt}); data ${reuse.mochaDir}`, ''];
  const head = ['query', ...builds.flatMap((b) => [`${b.name} cold ms`, `${b.name} warm ms`]), ...(builds.length === 2 ? ['cold cli/against'] : [])];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const row of rows) {
    const cells = [row.name, ...row.builds.flatMap((b) => [b.coldMsMedian.toFixed(0), b.warmMsMedian.toFixed(0)])];
    if (row.builds.length === 2) cells.push(`${(row.builds[0]!.coldMsMedian / row.builds[1]!.coldMsMedian).toFixed(2)}x`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('', disagreements.length === 0 ? 'answers: cold = warm = the other build, bit for bit' : `ANSWERS DIFFER:\n${disagreements.join('\n')}`, '');
  process.stdout.write(lines.join('\n'));
  const file = v.out ?? path.join(resultsDir(), `cold-${startedAt.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  note(`report saved to ${file}`, false);
  if (disagreements.length > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`cold bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
