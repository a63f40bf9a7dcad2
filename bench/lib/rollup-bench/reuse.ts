// Rerunning the rollup benchmark's bytes-per-level and query phases on data kept from an earlier
// run (--reuse-mocha, --reuse-prometheus): the backfill, compaction and promtool load of 30 days
// take ~45 min, the queries a few. A run with --keep-data writes rollup-bench-dataset.json into
// the kept mocha data dir (the server reads only manifest.json, tenants/ and wal/ there and
// writes metadata.json, so an extra file is left alone); from it, or from flags for dirs kept
// before it existed, the same dataset and the same queries are rebuilt. The kept dirs are only
// ever read: the server and Prometheus run on copies (both write to their data dirs).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { queryInstant } from './client.js';
import { COUNTER_METRIC, GAUGE_METRIC, RollupDataset } from './dataset.js';
import { countBlocks } from './prometheus.js';

/** The dataset description a --keep-data run leaves in the kept mocha data dir. */
export const DATASET_FILE = 'rollup-bench-dataset.json';
/** Its format; a reader refuses any other (the fields rebuild the data, so a guess is no good). */
export const DATASET_FORMAT = 1;

export interface RollupDatasetRecord {
  format: typeof DATASET_FORMAT;
  harness: 'bench:rollup';
  createdAt: string;
  command: string;
  days: number;
  series: number;
  intervalMs: number;
  seed: number;
  /** The dataset's end (exclusive, a whole hour, ms): rollupQueries() and the generator need it. */
  endMs: number;
  /** ISO forms of the span, for people. */
  dataStart: string;
  dataEnd: string;
  /** false: the compaction endpoint answered 404, so the dir has no rollup levels. */
  compacted: boolean;
  mochaArgs: string[];
  /** The Prometheus TSDB blocks dir holding the same data, if Prometheus was loaded. */
  prometheusBlocksDir?: string;
  /** promtool's and Prometheus' --max-block-duration for those blocks. */
  promBlockDuration?: string;
  /** The kept dir this one was copied from, when written by a reuse run. */
  reusedFrom?: string;
}

/** What --reuse-mocha and friends asked for (bench/lib/rollup-bench/args.ts). */
export interface RollupReuseOptions {
  /** A kept, compacted mocha data dir; copied, never written. */
  mochaDir: string;
  /** A Prometheus TSDB dir of blocks of the same data (or a kept work dir holding tsdb/). */
  prometheusDir?: string;
  /** The dataset's end (ms) for a dir without rollup-bench-dataset.json (--data-end). */
  dataEndMs?: number;
  /**
   * Dataset flags given on the command line (their values are in the options). With a dataset
   * file they must agree with it; without one they describe the data, defaults included.
   */
  flagsGiven: ('days' | 'series' | 'intervalMs' | 'seed' | 'promBlockDuration')[];
}

export interface ResolvedReuse {
  mochaDir: string;
  /** The dataset file read, or undefined when the flags described the data. */
  datasetFile?: string;
  days: number;
  series: number;
  intervalMs: number;
  seed: number;
  endMs: number;
  promBlockDuration: string;
  /** The recorded compaction state, when there is a dataset file. */
  compacted?: boolean;
  /** The blocks dir to copy for Prometheus, or why there is none. */
  prometheusDir?: string;
  prometheusMissing?: string;
}

const FLAG_NAMES: Record<RollupReuseOptions['flagsGiven'][number], string> = { days: '--days', series: '--series', intervalMs: '--interval', seed: '--seed', promBlockDuration: '--prom-block-duration' };

export function readDatasetRecord(file: string): RollupDatasetRecord {
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<RollupDatasetRecord>;
  if (r.format !== DATASET_FORMAT) throw new Error(`${file}: format ${JSON.stringify(r.format)}, this harness reads format ${DATASET_FORMAT}`);
  for (const k of ['days', 'series', 'intervalMs', 'seed', 'endMs'] as const) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`${file}: ${k} missing or not a number`);
  }
  return r as RollupDatasetRecord;
}

export function writeDatasetRecord(dataDir: string, r: RollupDatasetRecord): string {
  const file = path.join(dataDir, DATASET_FILE);
  fs.writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}

/** dir itself when it holds TSDB blocks, else its tsdb/ (what --keep-data prints is the work dir). */
function blocksDirOf(dir: string): string | undefined {
  for (const d of [dir, path.join(dir, 'tsdb')]) {
    try {
      if (countBlocks(d).blocks > 0) return d;
    } catch {
      // not a directory
    }
  }
  return undefined;
}

/**
 * The dataset and dirs of a reuse run. o holds the option values (flags or defaults) of the
 * dataset flags; throws when the kept dir is not usable or the flags contradict its dataset file.
 */
export function resolveReuse(r: RollupReuseOptions, o: { days: number; series: number; intervalMs: number; seed: number; promBlockDuration: string; noPrometheus: boolean }): ResolvedReuse {
  const mochaDir = path.resolve(r.mochaDir);
  if (!fs.existsSync(path.join(mochaDir, 'manifest.json'))) throw new Error(`--reuse-mocha ${r.mochaDir}: no manifest.json there, not a mocha data dir`);
  const file = path.join(mochaDir, DATASET_FILE);
  let out: ResolvedReuse;
  let recordedProm: string | undefined;
  if (fs.existsSync(file)) {
    const rec = readDatasetRecord(file);
    const recorded = { days: rec.days, series: rec.series, intervalMs: rec.intervalMs, seed: rec.seed, promBlockDuration: rec.promBlockDuration ?? o.promBlockDuration };
    for (const k of r.flagsGiven) {
      if (o[k] !== recorded[k]) throw new Error(`${FLAG_NAMES[k]} ${String(o[k])} contradicts ${file} (${k} ${String(recorded[k])}): leave it out, the file describes the data`);
    }
    if (r.dataEndMs !== undefined && r.dataEndMs !== rec.endMs) throw new Error(`--data-end ${r.dataEndMs / 1000} contradicts ${file} (endMs ${rec.endMs}, ${rec.endMs / 1000} s)`);
    out = { mochaDir, datasetFile: file, ...recorded, endMs: rec.endMs, compacted: rec.compacted };
    recordedProm = rec.prometheusBlocksDir;
  } else {
    if (r.dataEndMs === undefined) throw new Error(`--reuse-mocha ${r.mochaDir}: no ${DATASET_FILE} there (kept before the harness wrote it): give the dataset's end with --data-end UNIX_SECONDS, and --days/--series/--interval/--seed unless the defaults`);
    out = { mochaDir, days: o.days, series: o.series, intervalMs: o.intervalMs, seed: o.seed, endMs: r.dataEndMs, promBlockDuration: o.promBlockDuration };
  }
  if (o.noPrometheus) return out;
  if (r.prometheusDir !== undefined) {
    const d = blocksDirOf(path.resolve(r.prometheusDir));
    if (d === undefined) throw new Error(`--reuse-prometheus ${r.prometheusDir}: no TSDB blocks (ULID directories) there or in its tsdb/`);
    out.prometheusDir = d;
  } else if (recordedProm === undefined) {
    out.prometheusMissing = out.datasetFile !== undefined ? `${DATASET_FILE} records no Prometheus blocks (the kept run had none): give --reuse-prometheus DIR` : `no --reuse-prometheus DIR (and no ${DATASET_FILE} to name one)`;
  } else {
    const d = blocksDirOf(recordedProm);
    if (d === undefined) out.prometheusMissing = `the Prometheus blocks dir ${DATASET_FILE} records, ${recordedProm}, is gone or has no blocks: give --reuse-prometheus DIR`;
    else out.prometheusDir = d;
  }
  return out;
}

/** Copies dir's contents into a new temporary dir (cp -a: fast, keeps modes and times). */
export function copyToTemp(dir: string, prefix: string): { dir: string; ms: number } {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const t0 = performance.now();
  try {
    // "DIR/." copies the contents (path.join would drop the "/.", copying DIR itself into dest).
    execFileSync('cp', ['-a', `${dir}/.`, dest]);
  } catch (e) {
    fs.rmSync(dest, { recursive: true, force: true });
    throw e;
  }
  return { dir: dest, ms: performance.now() - t0 };
}

/** Copies a TSDB dir into <workDir>/tsdb, where the normal path builds its blocks. */
export function copyBlocksInto(blocksDir: string, workDir: string): { dir: string; ms: number } {
  const dest = path.join(workDir, 'tsdb');
  fs.mkdirSync(dest, { recursive: true });
  const t0 = performance.now();
  execFileSync('cp', ['-a', `${blocksDir}/.`, dest]);
  // A lock file copied from a Prometheus that was killed would only be noise in its logs.
  fs.rmSync(path.join(dest, 'lock'), { force: true });
  return { dir: dest, ms: performance.now() - t0 };
}

interface MatrixResult {
  metric: Record<string, string>;
  values: [number, string][];
}

/**
 * Checks that the server holds the dataset described (not a neighbour: a wrong --data-end, --days,
 * --interval or --seed would still give agreeing pyramid and raw answers, on other data):
 * series counts at the end, and the exact first two and last two samples of the first counter
 * and the last gauge, against the generator. Raw samples (a range selector in an instant query).
 * Returns a one-line summary; throws on any difference.
 */
export async function verifyReusedData(url: string, ds: RollupDataset): Promise<string> {
  const iv = ds.intervalMs;
  const fail = (what: string) => {
    throw new Error(`the reused mocha data is not the dataset described (${ds.seriesCount} series, ${ds.scrapeCount} scrapes at ${iv / 1000} s, seed ${ds.seed}, ${new Date(ds.startMs).toISOString()} .. ${new Date(ds.endMs).toISOString()}): ${what}. Check --data-end/--days/--series/--interval/--seed (or the dir's ${DATASET_FILE}).`);
  };
  for (const [metric, want] of [[COUNTER_METRIC, ds.counterCount], [GAUGE_METRIC, ds.gaugeCount]] as const) {
    // A window of one interval at the end holds every series' last sample, whatever the interval.
    const r = await queryInstant(url, `count(count_over_time(${metric}[${iv / 1000}s]))`, ds.endMs / 1000, { resolution: 'raw' });
    const got = r.resultType === 'vector' && r.result.length === 1 ? Number((r.result[0] as { value: [number, string] }).value[1]) : 0;
    if (got !== want) fail(`${metric}: ${got} series at the end, expected ${want}`);
  }
  for (const i of [0, ds.seriesCount - 1]) {
    const labels = ds.labels(i);
    const values: number[] = [];
    const c = ds.cursor(i, i + 1);
    const v = new Float64Array(1);
    for (let k = 0; k < ds.scrapeCount; k++) {
      c.next(v);
      if (k < 2 || k >= ds.scrapeCount - 2) values.push(v[0]!);
    }
    const n = ds.scrapeCount;
    // (start, start + 2 iv] holds scrapes 0 and 1 and nothing earlier; (end - 2 iv, end + iv]
    // scrapes n-2 and n-1 and nothing later (the phases are 1..999 ms, never 0).
    const windows = [
      { atMs: ds.startMs + 2 * iv, rangeS: (2 * iv) / 1000, want: [0, 1].map((k, j) => [ds.timestampMs(i, k), values[j]!]) },
      { atMs: ds.endMs + iv, rangeS: (3 * iv) / 1000, want: [n - 2, n - 1].map((k, j) => [ds.timestampMs(i, k), values[values.length - 2 + j]!]) },
    ];
    for (const w of windows) {
      const sel = `${labels['__name__']}{id="${labels['id']}"}[${w.rangeS}s]`;
      const r = await queryInstant(url, sel, w.atMs / 1000, { resolution: 'raw' });
      const series = r.resultType === 'matrix' ? (r.result as MatrixResult[]) : [];
      const got = series.length === 1 ? series[0]!.values.map(([t, x]) => [Math.round(t * 1000), Number(x)]) : [];
      if (JSON.stringify(got) !== JSON.stringify(w.want)) fail(`${sel} at ${new Date(w.atMs).toISOString()}: samples ${JSON.stringify(got)}, expected ${JSON.stringify(w.want)} ([ms, value])`);
    }
  }
  return `${ds.counterCount} counters and ${ds.gaugeCount} gauges at the end; first and last samples of ${ds.labels(0)['id']} and ${ds.labels(ds.seriesCount - 1)['id']} as generated`;
}
