// Sorting and de-duplication of one series' samples, in arrival order, into sorted runs with
// unique timestamps where the LAST arrival of a timestamp wins.
//
// Samples arrive mostly in order, so a buffer is a sorted prefix followed by a short disordered
// tail (out-of-order samples, or a retried remote-write batch). Only the tail is sorted
// (O(k log k)), then merged with the prefix (O(n)). Position order is arrival order, so "later"
// means "further right": stable sorting plus keep-the-last de-duplication gives last write wins.
//
// Values move only between Float64Arrays (element copies and set()), which keeps NaN payloads
// such as the stale marker bit-exact.

/** Length of the longest prefix of ts[0..n) whose timestamps strictly increase. */
export function sortedPrefixLength(ts: Float64Array, n: number): number {
  if (n === 0) return 0;
  let p = 1;
  while (p < n && ts[p]! > ts[p - 1]!) p++;
  return p;
}

/** Tail positions being sorted; grown as needed and reused (one thread, no re-entrance). */
let orderScratch = new Uint32Array(256);

/**
 * Sorts ts/values[0..n) by time, keeping the last arrival of each timestamp, into outT/outV
 * (length >= n, distinct from the inputs) and returns how many samples it wrote. The inputs are
 * left untouched.
 */
export function sortDedupeLastWins(ts: Float64Array, values: Float64Array, n: number, outT: Float64Array, outV: Float64Array): number {
  if (outT.length < n || outV.length < n) throw new Error(`sortDedupeLastWins: output shorter than ${n}`);
  const p = sortedPrefixLength(ts, n);
  const k = n - p;
  if (orderScratch.length < k) orderScratch = new Uint32Array(Math.max(k, orderScratch.length * 2));
  // Tail positions, stably sorted by time (ties by position = arrival order).
  const order = orderScratch;
  let tailSorted = true;
  for (let i = 0; i < k; i++) {
    order[i] = p + i;
    if (i > 0 && !(ts[p + i]! > ts[p + i - 1]!)) tailSorted = false;
  }
  if (!tailSorted) order.subarray(0, k).sort((a, b) => ts[a]! - ts[b]! || a - b);
  // De-duplicate the tail in place in `order`: of equal timestamps, keep the last (highest position).
  let m = 0;
  for (let i = 0; i < k; i++) {
    const pos = order[i]!;
    if (m > 0 && ts[order[m - 1]!]! === ts[pos]!) order[m - 1] = pos;
    else order[m++] = pos;
  }
  // Merge prefix [0,p) with the tail; on equal timestamps the tail (later arrival) wins.
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < p && j < m) {
    const a = ts[i]!;
    const pos = order[j]!;
    const b = ts[pos]!;
    if (a < b) {
      outT[o] = a;
      outV[o] = values[i]!;
      i++;
    } else {
      if (a === b) i++;
      outT[o] = b;
      outV[o] = values[pos]!;
      j++;
    }
    o++;
  }
  while (i < p) {
    outT[o] = ts[i]!;
    outV[o] = values[i]!;
    i++;
    o++;
  }
  while (j < m) {
    const pos = order[j++]!;
    outT[o] = ts[pos]!;
    outV[o] = values[pos]!;
    o++;
  }
  return o;
}
