// Generators and comparisons for level segment tests: series of raw samples with stale markers,
// NaN/Inf/-0 values and counter resets, turned into buckets with buildBuckets().
import { STALE_NAN } from '../../src/model/samples.js';
import type { Labels } from '../../src/model/labels.js';
import { buildBuckets, RollupBuckets } from '../../src/rollup/buckets.js';
import { LEVEL_FIELDS } from '../../src/segment/level-encoding.js';

export const LEVEL_SHAPES = ['counter', 'constant', 'gauge', 'decimal-gauge', 'special', 'sparse', 'stale-gaps', 'float-counter'] as const;
export type LevelShape = (typeof LEVEL_SHAPES)[number];

/** Samples of one series in [startMs, endMs): scrape step with jitter, gaps and stale markers by shape. */
export function genSamples(shape: LevelShape, startMs: number, endMs: number, stepMs: number, rnd: () => number): { timestampsMs: Float64Array; values: Float64Array } {
  const ts: number[] = [];
  const vs = new Float64Array(Math.ceil((endMs - startMs) / Math.max(1, Math.min(stepMs, 1000))) + 2);
  const phase = Math.floor(rnd() * stepMs);
  let x = Math.floor(rnd() * 1e6);
  let n = 0;
  for (let t = startMs + phase; t < endMs; t += stepMs) {
    const at = t + (shape === 'sparse' ? 0 : Math.floor(rnd() * 7) - 3);
    if (at < startMs || at >= endMs || (ts.length > 0 && at <= ts[ts.length - 1]!)) continue;
    if (shape === 'sparse' && rnd() < 0.9) continue;
    let v: number;
    switch (shape) {
      case 'counter':
        x += rnd() < 0.3 ? 0 : Math.floor(rnd() * 50);
        if (rnd() < 0.005) x = Math.floor(rnd() * 10); // reset
        v = x;
        break;
      case 'float-counter':
        x += rnd() * 3.3;
        if (rnd() < 0.01) x = rnd();
        v = x;
        break;
      case 'constant':
        v = 1;
        break;
      case 'gauge':
        v = (rnd() - 0.5) * 1e3;
        break;
      case 'decimal-gauge':
        x = Math.max(0, x + Math.floor((rnd() - 0.5) * 20));
        v = (x % 10000) / 100;
        break;
      case 'special': {
        const r = rnd();
        v = r < 0.1 ? NaN : r < 0.2 ? Infinity : r < 0.3 ? -Infinity : r < 0.4 ? -0 : r < 0.5 ? STALE_NAN : r < 0.6 ? 0 : Math.floor(rnd() * 10);
        break;
      }
      case 'sparse':
        v = rnd();
        break;
      case 'stale-gaps':
        v = rnd() < 0.05 ? STALE_NAN : Math.floor(rnd() * 100);
        break;
    }
    ts.push(at);
    vs[n++] = v;
  }
  return { timestampsMs: Float64Array.from(ts), values: vs.slice(0, n) };
}

/** Buckets of every shape, series i with labels {__name__=m_<shape>, i=<i>}. */
export function genLevelSeries(count: number, startMs: number, endMs: number, stepMs: number, widthMs: number, rnd: () => number, shapes: readonly LevelShape[] = LEVEL_SHAPES): Array<{ labels: Labels; buckets: RollupBuckets }> {
  const out: Array<{ labels: Labels; buckets: RollupBuckets }> = [];
  for (let i = 0; i < count; i++) {
    const shape = shapes[i % shapes.length]!;
    const s = genSamples(shape, startMs, endMs, stepMs, rnd);
    out.push({
      labels: [
        { name: '__name__', value: `m_${shape.replace('-', '_')}` },
        { name: 'i', value: String(i).padStart(4, '0') },
        { name: 'job', value: i % 2 === 0 ? 'even' : 'odd' },
      ],
      buckets: buildBuckets(s.timestampsMs, s.values, widthMs),
    });
  }
  return out;
}

/** First field and bucket whose bits differ, or undefined when a and b are bit-identical. */
export function bucketsDiff(a: RollupBuckets, b: RollupBuckets, fields: readonly (typeof LEVEL_FIELDS)[number][] = LEVEL_FIELDS): string | undefined {
  if (a.widthMs !== b.widthMs) return `width ${a.widthMs} vs ${b.widthMs}`;
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (const f of fields) {
    const x = new Uint8Array(a[f].buffer, a[f].byteOffset, a[f].byteLength);
    const y = new Uint8Array(b[f].buffer, b[f].byteOffset, b[f].byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${f}[${Math.floor(i / a[f].BYTES_PER_ELEMENT)}]: ${a[f][Math.floor(i / a[f].BYTES_PER_ELEMENT)]} vs ${b[f][Math.floor(i / a[f].BYTES_PER_ELEMENT)]}`;
  }
  return undefined;
}

/** Buckets of b overlapping (minTMs, maxTMs] as a new RollupBuckets (the reference for selectBuckets). */
export function bucketsOverlapping(b: RollupBuckets, minTMs: number, maxTMs: number): RollupBuckets {
  const idx: number[] = [];
  for (let i = 0; i < b.length; i++) if (b.endMs[i]! > minTMs && b.endMs[i]! - b.widthMs < maxTMs) idx.push(i);
  const out = new RollupBuckets(b.widthMs, idx.length);
  idx.forEach((i, k) => {
    for (const f of LEVEL_FIELDS) (out[f] as Float64Array | Uint32Array).set((b[f] as Float64Array | Uint32Array).subarray(i, i + 1) as never, k);
  });
  return out;
}
