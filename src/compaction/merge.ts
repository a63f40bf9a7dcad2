// Merging one series' runs from several raw segments of a partition into one run: the rule is
// the querier's (engine.ts mergeRuns): samples by time, and on equal timestamps the run of the
// later segment (higher position = higher sequence number = written later) wins. Values move as
// 32-bit words, so NaN payloads (stale markers) are kept bit for bit.

export interface SampleRun {
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}

/**
 * Merges runs (each sorted ascending with unique timestamps), oldest first. Returns the only run
 * itself when there is one. Linear in the total samples times the number of runs (k is the number
 * of raw segments of one partition: small).
 */
export function mergeLastWins(runs: readonly SampleRun[]): SampleRun {
  const live = runs.filter((r) => r.timestampsMs.length > 0);
  if (live.length === 0) return { timestampsMs: new Float64Array(0), values: new Float64Array(0) };
  if (live.length === 1) return live[0]!;
  let total = 0;
  for (const r of live) total += r.timestampsMs.length;
  const outT = new Float64Array(total);
  const outV = new Float64Array(total);
  const outW = new Uint32Array(outV.buffer);
  const words = live.map((r) => new Uint32Array(r.values.buffer, r.values.byteOffset, r.values.length * 2));
  const pos = new Int32Array(live.length);
  const k = live.length;
  let n = 0;
  for (;;) {
    // The smallest current timestamp; the latest run holding it wins, the others skip it.
    let t = Infinity;
    let win = -1;
    for (let j = 0; j < k; j++) {
      const ts = live[j]!.timestampsMs;
      const p = pos[j]!;
      if (p >= ts.length) continue;
      const x = ts[p]!;
      if (x < t || (x === t && win >= 0)) {
        t = x;
        win = j;
      }
    }
    if (win < 0) break;
    for (let j = 0; j < k; j++) {
      const ts = live[j]!.timestampsMs;
      const p = pos[j]!;
      if (p < ts.length && ts[p] === t) pos[j] = p + 1;
    }
    const src = words[win]!;
    const at = pos[win]! - 1;
    outT[n] = t;
    outW[2 * n] = src[2 * at]!;
    outW[2 * n + 1] = src[2 * at + 1]!;
    n++;
  }
  return { timestampsMs: outT.subarray(0, n), values: outV.subarray(0, n) };
}
