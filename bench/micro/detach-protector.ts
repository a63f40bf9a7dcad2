// What one detached ArrayBuffer costs the typed-array code of its thread (src/model/shared-arrays.ts):
// V8 keeps a protector ("array buffer detaching") that optimized code relies on while no buffer of
// the isolate has ever been detached; the first detach (a transfer to a worker, e.g. a flush's
// input before 3 Dec 2026) invalidates it for the rest of the process. Each variant runs in a
// fresh process: a typed-array loop (scale-and-sum over 1M float64s) timed, then the variant's
// action, then timed again:
//   none     nothing;
//   detach   one unrelated 8-byte ArrayBuffer transferred (structuredClone with transfer);
//   shared   a SharedArrayBuffer-backed Float64Array posted to a worker (what the server does now).
//   npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/detach-protector.js [--rounds N] [--processes N]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { median } from '../lib/stats.js';

const { values: a } = parseArgs({ options: { rounds: { type: 'string' }, processes: { type: 'string' }, variant: { type: 'string' } } });
const rounds = Number(a.rounds ?? 41);
const reps = Number(a.processes ?? 9);

function loop(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v * 2 + 1;
    s += v;
  }
  return s;
}

function medianMs(x: Float64Array, y: Float64Array): number {
  const ts: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    loop(x, y);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

async function child(variant: string): Promise<void> {
  const x = Float64Array.from({ length: 1 << 20 }, (_, i) => i % 7);
  const y = new Float64Array(x.length);
  medianMs(x, y); // warm-up: optimized before the first timing
  const before = medianMs(x, y);
  if (variant === 'detach') {
    const ab = new ArrayBuffer(8);
    structuredClone(ab, { transfer: [ab] });
  } else if (variant === 'shared') {
    const shared = new Float64Array(new SharedArrayBuffer(8 * 1024));
    const w = new Worker('require("node:worker_threads").parentPort.once("message", (m) => process.exit(m.length === 1024 ? 0 : 1));', { eval: true });
    w.postMessage(shared);
    await new Promise((resolve) => w.once('exit', resolve));
  }
  // Background work the action started (the worker's teardown, GC) settles first.
  await new Promise((resolve) => setTimeout(resolve, 300));
  medianMs(x, y);
  const after = medianMs(x, y);
  console.log(JSON.stringify({ before, after }));
}

if (a.variant !== undefined) {
  await child(a.variant);
} else {
  const self = fileURLToPath(import.meta.url);
  const ratios = new Map<string, number[]>();
  const befores = new Map<string, number[]>();
  const variants = ['none', 'detach', 'shared'];
  // Fresh processes, alternated; a process' loop speed varies (~2 or ~3.5 ms here), so each
  // reports its own after / before, and the median of those ratios is what counts.
  for (let rep = 0; rep < reps; rep++) {
    for (const v of variants) {
      const r = JSON.parse(execFileSync(process.execPath, [self, '--variant', v, '--rounds', String(rounds)], { encoding: 'utf8' })) as { before: number; after: number };
      ratios.set(v, [...(ratios.get(v) ?? []), r.after / r.before]);
      befores.set(v, [...(befores.get(v) ?? []), r.before]);
    }
  }
  for (const v of variants) {
    console.log(`${v.padEnd(7)} loop over 1M float64 (before: median ${median(befores.get(v)!).toFixed(2)} ms): after / before median ${median(ratios.get(v)!).toFixed(2)}x (${reps} processes: ${ratios.get(v)!.map((x) => x.toFixed(2)).join(' ')})`);
  }
}
