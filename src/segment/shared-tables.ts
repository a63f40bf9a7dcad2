// Identical series tables, decoded once: segments whose series.arrow labels (or postings.arrow)
// hold the same bytes share one decoded form.
//
// Why: a tenant's series set changes slowly, so consecutive partitions, and a partition's raw
// segment and its 5m/1h/1d level segments, list the same series in the same order. Decoding the
// labels of each segment separately was a third to half of the main thread's time in an open
// (a compaction's outputs are opened on the event loop: ingest latency while compacting, issue
// #5) and kept one copy of every label string per segment in the heap (415 vs 200 MB RSS on
// the 30-day benchmark data; longer garbage collections on the main thread). Here the decoded table is looked up by a SHA-256 of
// the exact bytes it is decoded from (plus the counts the decode checks them against), so a hit
// is, byte for byte, what the decode would have produced and checked again.
//
// Entries are weak: a table lives as long as an open segment uses it (WeakRef; the
// FinalizationRegistry removes the key once it is collected). Shared tables are read only
// (Labels is readonly; postings' lazily deserialized bitmaps are the same for equal bytes).
import { createHash } from 'node:crypto';

const live = new Map<string, WeakRef<object>>();
const forget = new FinalizationRegistry<string>((key) => {
  // The key may have been taken by a newer table meanwhile: only drop a dead entry.
  if (live.get(key)?.deref() === undefined) live.delete(key);
});

export interface SharedTableStats {
  hits: number;
  misses: number;
  /** Keys in the table (some may be dead and not yet finalized). */
  entries: number;
}

const counts = { hits: 0, misses: 0 };

/**
 * The table decoded from `parts` by `decode`, shared with every earlier call whose kind and
 * parts were equal byte for byte while its result is still reachable. `kind` names the decode and
 * everything else its result depends on (e.g. row counts). decode may throw (corrupt input):
 * nothing is remembered then.
 */
export function sharedTable<T extends object>(kind: string, parts: readonly ArrayBufferView[], decode: () => T): T {
  const h = createHash('sha256');
  h.update(kind);
  const len = Buffer.alloc(8);
  for (const p of parts) {
    // Lengths first, so that moving bytes between parts changes the key.
    len.writeDoubleLE(p.byteLength);
    h.update(len);
    h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  }
  const key = h.digest('base64');
  const hit = live.get(key)?.deref() as T | undefined;
  if (hit !== undefined) {
    counts.hits++;
    return hit;
  }
  counts.misses++;
  const table = decode();
  live.set(key, new WeakRef(table));
  forget.register(table, key);
  return table;
}

export function sharedTableStats(): SharedTableStats {
  return { ...counts, entries: live.size };
}
