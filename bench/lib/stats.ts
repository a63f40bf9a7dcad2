// Small statistics for the report: percentiles of latencies and windowed ingest throughput.

/** Percentile by linear interpolation between closest ranks (p in [0, 100]). */
export function percentile(xs: ArrayLike<number>, p: number): number {
  const a = Array.from(xs).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const r = (p / 100) * (a.length - 1);
  const lo = Math.floor(r);
  const hi = Math.ceil(r);
  return a[lo]! + (a[hi]! - a[lo]!) * (r - lo);
}

export const median = (xs: ArrayLike<number>): number => percentile(xs, 50);

/** Acked samples at time t, interpolated linearly in a (time, cumulative samples) trace. */
function samplesAt(trace: { tMs: number[]; samples: number[] }, t: number): number {
  const { tMs, samples } = trace;
  if (t <= tMs[0]!) return samples[0]!;
  for (let i = 1; i < tMs.length; i++) {
    if (tMs[i]! >= t) {
      const span = tMs[i]! - tMs[i - 1]!;
      const f = span > 0 ? (t - tMs[i - 1]!) / span : 1;
      return samples[i - 1]! + f * (samples[i]! - samples[i - 1]!);
    }
  }
  return samples[samples.length - 1]!;
}

/** Throughput (samples/s) in `count` equal windows covering the whole trace. */
export function windowRates(trace: { tMs: number[]; samples: number[] }, count: number): number[] {
  const total = trace.tMs[trace.tMs.length - 1]!;
  const out: number[] = [];
  if (!(total > 0) || count < 1) return out;
  for (let w = 0; w < count; w++) {
    const a = (w * total) / count;
    const b = ((w + 1) * total) / count;
    out.push(((samplesAt(trace, b) - samplesAt(trace, a)) * 1000) / (b - a));
  }
  return out;
}
