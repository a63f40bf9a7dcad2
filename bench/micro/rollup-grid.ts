// Micro-benchmark of evaluating range functions over a level's buckets (evalRollupGridRuns, what
// the rollup planner does per series of a long query): SERIES counters at 15 s in DAYS one-day
// runs of 1 h buckets (as the 1 h level's day segments hold them), a 1 h step over the whole span.
// Cases: rate over one bucket ([1h]), with an edge ([1h15s], Grafana's $__rate_interval: a
// bucket's last sample plus a whole bucket), sum_over_time and stddev_over_time over three
// buckets, avg_over_time over one. Prints the median time per pass over all series and ns per
// window.
//
// --against DIR: a build's compiled src (e.g. a git worktree of another commit built with
// `npx tsc -p tsconfig.build.json`: DIR = its dist/) evaluated on the same data in alternating
// order, with its answers compared bit for bit with this build's.
//
// Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/rollup-grid.js [--series N] [--days D] [--reps R] [--against DIR]
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as thisBuckets from '../../src/rollup/buckets.js';
import * as thisEval from '../../src/rollup/eval.js';

const { values: args } = parseArgs({ options: { series: { type: 'string' }, days: { type: 'string' }, reps: { type: 'string' }, against: { type: 'string' } } });
const SERIES = Number(args.series ?? 500);
const DAYS = Number(args.days ?? 30);
const REPS = Number(args.reps ?? 15);

const H = 3_600_000;
const DAY = 24 * H;
const START_MS = 1_793_664_000_000;
const SCRAPE_MS = 15_000;

interface Build {
  name: string;
  buckets: typeof thisBuckets;
  eval: typeof thisEval;
}

const builds: Build[] = [{ name: 'this', buckets: thisBuckets, eval: thisEval }];
if (args.against !== undefined) {
  const dir = path.resolve(args.against);
  builds.push({
    name: 'against',
    buckets: (await import(pathToFileURL(path.join(dir, 'rollup/buckets.js')).href)) as typeof thisBuckets,
    eval: (await import(pathToFileURL(path.join(dir, 'rollup/eval.js')).href)) as typeof thisEval,
  });
}

/** Per series, one run of 1 h buckets per day: a counter with a reset every two days, a phase of 1 + s ms. */
function seriesRuns(b: typeof thisBuckets): thisBuckets.BucketRange[][] {
  const out: thisBuckets.BucketRange[][] = [];
  const perDay = DAY / SCRAPE_MS;
  for (let s = 0; s < SERIES; s++) {
    const runs: thisBuckets.BucketRange[] = [];
    let v = 0;
    for (let d = 0; d < DAYS; d++) {
      const ts = new Float64Array(perDay);
      const vs = new Float64Array(perDay);
      for (let i = 0; i < perDay; i++) {
        ts[i] = START_MS + d * DAY + i * SCRAPE_MS + 1 + s;
        v += (i * 7 + s) % 5;
        if ((d * perDay + i + s * 13) % (2 * perDay) === 0) v = 3;
        vs[i] = v;
      }
      const buckets = b.buildBuckets(ts, vs, H);
      runs.push({ buckets, lo: 0, hi: buckets.length });
    }
    out.push(runs);
  }
  return out;
}

const data = builds.map((b) => seriesRuns(b.buckets));
const startMs = START_MS + 2 * H;
const steps = DAYS * 24 - 1;
const cases: { fn: string; rangeMs: number; edges: boolean }[] = [
  { fn: 'rate', rangeMs: H, edges: false },
  { fn: 'rate', rangeMs: H + SCRAPE_MS, edges: true },
  { fn: 'avg_over_time', rangeMs: H, edges: false },
  { fn: 'sum_over_time', rangeMs: 3 * H, edges: false },
  { fn: 'stddev_over_time', rangeMs: 3 * H, edges: false },
];

console.log(`${SERIES} series x ${DAYS} days of 1 h buckets, ${steps} steps of 1 h; median of ${REPS} passes`);
for (const c of cases) {
  const times: number[][] = builds.map(() => []);
  const answers: thisEval.RollupGrid[][] = builds.map(() => []);
  for (let rep = 0; rep < REPS; rep++) {
    const order = rep % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => i).reverse();
    for (const j of order) {
      const grids: thisEval.RollupGrid[] = [];
      const t0 = performance.now();
      for (const runs of data[j]!) {
        const into = { values: new Float64Array(steps), present: new Uint8Array(steps) };
        const got = builds[j]!.eval.evalRollupGridRuns(runs, H, c.fn, c.rangeMs, startMs, H, steps, 0, into, c.edges ? [] : undefined);
        if (got === undefined) throw new Error(`${c.fn}: not an aligned grid`);
        grids.push(got);
      }
      times[j]!.push(performance.now() - t0);
      if (rep === 0) answers[j] = grids;
    }
  }
  const medians = times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
  const label = `${c.fn}[${c.rangeMs / 1000}s]`.padEnd(24);
  const perWindow = (ms: number): string => ((ms * 1e6) / (SERIES * steps)).toFixed(0);
  let line = `${label} ${builds.map((b, j) => `${b.name} ${medians[j]!.toFixed(1)} ms (${perWindow(medians[j]!)} ns/window)`).join('  ')}`;
  if (builds.length === 2) {
    let differ = 0;
    answers[0]!.forEach((g, i) => {
      const h = answers[1]![i]!;
      for (let k = 0; k < steps; k++) if (g.present[k] !== h.present[k] || !Object.is(g.values[k], h.values[k])) differ++;
    });
    line += `  against/this ${(medians[1]! / medians[0]!).toFixed(2)}x, ${differ === 0 ? 'same bits' : `${differ} windows DIFFER`}`;
  }
  console.log(line);
}
