// The cold-query benchmark (bench/cold-query.ts): the rollup benchmark's queries on a kept,
// compacted data dir, each the FIRST query of a freshly started server (nothing decoded or cached
// yet: a dashboard after a restart, or a level the caches no longer hold), then once more warm.
// Every round restarts the server once per query and build; with a second build the two
// alternate round by round on the same copy of the data, so their medians are comparable (this
// host's noise is ~2x between runs). Answers are compared: cold vs warm of each build, and every
// answer with the first one of its query (bit for bit: same data, same plan). Also the level
// cache's size after the two queries (what the decoded blocks hold).
import fs from 'node:fs';
import { note } from './progress.js';
import { compareAnswers } from './query-bench/compare.js';
import type { Answer } from './query-bench/client.js';
import { queryRange } from './rollup-bench/client.js';
import { RollupDataset } from './rollup-bench/dataset.js';
import { copyToTemp, resolveReuse, verifyReusedData, type RollupReuseOptions } from './rollup-bench/reuse.js';
import { DEFAULT_ROLLUP_OPTIONS, rollupQueries } from './rollup-bench/run.js';
import { startServer } from './server.js';
import { median } from './stats.js';

export interface ColdBenchOptions {
  /** A compacted mocha data dir kept by bench:rollup --keep-data (copied, never written). */
  dataDir: string;
  /** The dataset, when the dir has no rollup-bench-dataset.json (bench:rollup's defaults otherwise). */
  dataEndMs?: number;
  days?: number;
  series?: number;
  intervalMs?: number;
  seed?: number;
  builds: { name: string; cliPath: string }[];
  rounds: number;
  quiet?: boolean;
}

export interface ColdSample {
  /** The server start before this sample: spawn to listening. */
  startMs: number;
  /** segmentsOpenMs of its "storage opened" log line (undefined: the build does not log it). */
  segmentsOpenMs?: number;
  coldMs: number;
  warmMs: number;
  /** mocha_segment_cache_bytes{cache="levels"} after the two queries (undefined: the build has no such gauge). */
  levelCacheBytes?: number;
}

export interface ColdBenchReport {
  harness: 'bench:cold';
  startedAt: string;
  dataDir: string;
  datasetFrom: string;
  verified: string;
  rounds: number;
  builds: { name: string; cliPath: string }[];
  rows: { name: string; query: string; builds: { build: string; coldMsMedian: number; warmMsMedian: number; levelCacheBytesMedian?: number; samples: ColdSample[] }[] }[];
  /** Per build, over all of its server starts (one per query and round). */
  starts: { build: string; count: number; startMsMedian: number; segmentsOpenMsMedian?: number }[];
  disagreements: string[];
}

export async function runColdBench(o: ColdBenchOptions): Promise<ColdBenchReport> {
  const say = (m: string) => note(m, o.quiet);
  const flagsGiven: RollupReuseOptions['flagsGiven'] = [];
  if (o.days !== undefined) flagsGiven.push('days');
  if (o.series !== undefined) flagsGiven.push('series');
  if (o.intervalMs !== undefined) flagsGiven.push('intervalMs');
  if (o.seed !== undefined) flagsGiven.push('seed');
  const reuse = resolveReuse(
    { mochaDir: o.dataDir, flagsGiven, ...(o.dataEndMs !== undefined ? { dataEndMs: o.dataEndMs } : {}) },
    {
      days: o.days ?? DEFAULT_ROLLUP_OPTIONS.days,
      series: o.series ?? DEFAULT_ROLLUP_OPTIONS.series,
      intervalMs: o.intervalMs ?? DEFAULT_ROLLUP_OPTIONS.intervalMs,
      seed: o.seed ?? DEFAULT_ROLLUP_OPTIONS.seed,
      promBlockDuration: DEFAULT_ROLLUP_OPTIONS.promBlockDuration,
      noPrometheus: true,
    },
  );
  const ds = new RollupDataset({ series: reuse.series, scrapeCount: Math.round((reuse.days * 86_400_000) / reuse.intervalMs), intervalMs: reuse.intervalMs, seed: reuse.seed, endMs: reuse.endMs });
  const queries = rollupQueries(ds);
  const startedAt = new Date().toISOString();
  say(`copying ${reuse.mochaDir}`);
  // The server writes metadata.json and its WAL there; the segments it only reads.
  const copy = copyToTemp(reuse.mochaDir, 'mocha-cold-');
  const samples = new Map<string, ColdSample[]>();
  const answers = new Map<string, Answer>();
  const disagreements: string[] = [];
  let verified = '';
  try {
    for (let r = 0; r < o.rounds; r++) {
      // Alternate which build goes first, so neither always follows the other.
      const order = r % 2 === 0 ? o.builds : [...o.builds].reverse();
      for (const b of order) {
        for (const q of queries) {
          const server = await startServer({ dataDir: copy.dir, cliPath: b.cliPath, args: ['--compaction-interval', '0', '--query-samples-max', '2000000000'], startTimeoutMs: 120_000 });
          try {
            const cold = await queryRange(server.url, q);
            const warm = await queryRange(server.url, q);
            const key = `${b.name}\u0000${q.name}`;
            const list = samples.get(key) ?? [];
            const levelCacheBytes = await levelCacheBytesOf(server.url);
            const segmentsOpenMs = segmentsOpenMsOf(server.recentLogs());
            list.push({
              startMs: server.listeningAfterMs,
              ...(segmentsOpenMs !== undefined ? { segmentsOpenMs } : {}),
              coldMs: cold.receivedMs,
              warmMs: warm.receivedMs,
              ...(levelCacheBytes !== undefined ? { levelCacheBytes } : {}),
            });
            samples.set(key, list);
            const agree = compareAnswers(cold.answer, warm.answer, 0);
            if (!agree.agree) disagreements.push(`${b.name} ${q.name}: cold vs warm: ${agree.examples.join('; ')}`);
            const first = answers.get(q.name);
            if (first === undefined) answers.set(q.name, cold.answer);
            else {
              const same = compareAnswers(cold.answer, first, 0);
              if (!same.agree) disagreements.push(`${b.name} ${q.name}: vs the first answer: ${same.examples.join('; ')}`);
            }
            // Once: the copy holds the dataset described (a wrong --data-end would time other data).
            if (verified === '') verified = await verifyReusedData(server.url, ds);
            say(`round ${r + 1}/${o.rounds} ${b.name} ${q.name}: start ${server.listeningAfterMs.toFixed(0)} ms, cold ${cold.receivedMs.toFixed(0)} ms, warm ${warm.receivedMs.toFixed(0)} ms`);
          } finally {
            await server.stop();
          }
        }
      }
    }
  } finally {
    fs.rmSync(copy.dir, { recursive: true, force: true });
  }
  const rows = queries.map((q) => ({
    name: q.name,
    query: q.query,
    builds: o.builds.map((b) => {
      const s = samples.get(`${b.name}\u0000${q.name}`) ?? [];
      const cacheBytes = s.flatMap((x) => (x.levelCacheBytes !== undefined ? [x.levelCacheBytes] : []));
      return {
        build: b.name,
        coldMsMedian: median(s.map((x) => x.coldMs)),
        warmMsMedian: median(s.map((x) => x.warmMs)),
        ...(cacheBytes.length > 0 ? { levelCacheBytesMedian: median(cacheBytes) } : {}),
        samples: s,
      };
    }),
  }));
  const starts = o.builds.map((b) => {
    const s = queries.flatMap((q) => samples.get(`${b.name}\u0000${q.name}`) ?? []);
    const opens = s.flatMap((x) => (x.segmentsOpenMs !== undefined ? [x.segmentsOpenMs] : []));
    return { build: b.name, count: s.length, startMsMedian: median(s.map((x) => x.startMs)), ...(opens.length > 0 ? { segmentsOpenMsMedian: median(opens) } : {}) };
  });
  return { harness: 'bench:cold', startedAt, dataDir: reuse.mochaDir, datasetFrom: reuse.datasetFile ?? 'flags', verified, rounds: o.rounds, builds: o.builds, rows, starts, disagreements };
}

/** segmentsOpenMs of the server's "storage opened" log line, if it has one. */
function segmentsOpenMsOf(logLines: readonly string[]): number | undefined {
  for (const line of logLines) {
    if (!line.includes('"storage opened"')) continue;
    const m = /"segmentsOpenMs":(\d+)/.exec(line);
    return m === null ? undefined : Number(m[1]);
  }
  return undefined;
}

/** The server's level cache size (mocha_segment_cache_bytes{cache="levels"}), if it reports one. */
async function levelCacheBytesOf(url: string): Promise<number | undefined> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const m = /^mocha_segment_cache_bytes\{cache="levels"\} (\S+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
}

export function formatColdReport(r: ColdBenchReport): string {
  const lines = [`cold queries: the first query after a server start, then once more; medians of ${r.rounds} (${r.startedAt}); data ${r.dataDir}`, ''];
  const two = r.builds.length === 2;
  const head = ['query', ...r.builds.flatMap((b) => [`${b.name} cold ms`, `${b.name} warm ms`, `${b.name} level cache MB`]), ...(two ? [`cold ${r.builds[0]!.name}/${r.builds[1]!.name}`] : [])];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const row of r.rows) {
    const cells = [row.name, ...row.builds.flatMap((b) => [b.coldMsMedian.toFixed(0), b.warmMsMedian.toFixed(0), b.levelCacheBytesMedian !== undefined ? (b.levelCacheBytesMedian / 1e6).toFixed(1) : '-'])];
    if (two) cells.push(`${(row.builds[0]!.coldMsMedian / row.builds[1]!.coldMsMedian).toFixed(2)}x`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('', '| build | server starts | start ms (spawn to listening) | of which segments open ms |', '|---|---:|---:|---:|');
  for (const st of r.starts) lines.push(`| ${st.build} | ${st.count} | ${st.startMsMedian.toFixed(0)} | ${st.segmentsOpenMsMedian !== undefined ? st.segmentsOpenMsMedian.toFixed(0) : '-'} |`);
  if (two) lines.push(`start ${r.builds[0]!.name}/${r.builds[1]!.name}: ${(r.starts[0]!.startMsMedian / r.starts[1]!.startMsMedian).toFixed(2)}x`);
  lines.push('', r.disagreements.length === 0 ? `answers: cold = warm${two ? ' = the other build' : ''}, bit for bit` : `ANSWERS DIFFER:\n${r.disagreements.join('\n')}`, '');
  return lines.join('\n');
}
