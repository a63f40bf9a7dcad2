// A byte-bounded LRU of what segment readers decode, shared by every reader of the process and
// so by every query: decompressed samples.arrow record batches (the zstd step, paid once per
// batch instead of once per query) and decoded chunks of recently read series.
//
// Segments are immutable, so an entry is valid for as long as its reader is open; a reader drops
// its entries when it is closed (a segment set swapped out by a flush or a compaction), and a
// load that finishes after the close is not inserted. Keys are (owner, key): owner is a number
// each reader takes from nextCacheOwner() at open, so a segment directory opened again never sees
// the entries of its previous reader.
//
// Eviction is least recently used (a Map keeps insertion order; a hit moves the entry to the
// end). An entry bigger than a quarter of the bound is not cached: one huge batch must not flush
// everything else.
import { SEGMENT_CACHE_BYTES_MAX } from '../constants.js';

export interface SegmentCacheStats {
  bytes: number;
  bytesMax: number;
  entries: number;
  hits: number;
  misses: number;
  evictions: number;
}

interface Entry {
  readonly owner: number;
  readonly value: unknown;
  readonly bytes: number;
}

let nextOwner = 1;

/** A fresh owner id for a reader's cache entries. */
export function nextCacheOwner(): number {
  return nextOwner++;
}

export class SegmentCache {
  private readonly entries = new Map<string, Entry>();
  private readonly keysByOwner = new Map<number, Set<string>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(private bytesMax: number) {
    if (!(bytesMax >= 0)) throw new Error(`segment cache bound must be >= 0 bytes, got ${bytesMax}`);
  }

  get<T>(owner: number, key: string): T | undefined {
    const k = `${owner}/${key}`;
    const e = this.entries.get(k);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(k);
    this.entries.set(k, e);
    return e.value as T;
  }

  /** Inserts (or replaces) an entry and evicts the least recently used ones over the bound. */
  set(owner: number, key: string, value: unknown, bytes: number): void {
    const k = `${owner}/${key}`;
    this.remove(k);
    if (bytes > this.bytesMax / 4) return;
    this.entries.set(k, { owner, value, bytes });
    let keys = this.keysByOwner.get(owner);
    if (keys === undefined) this.keysByOwner.set(owner, (keys = new Set()));
    keys.add(k);
    this.bytes += bytes;
    this.evictOver(this.bytesMax);
  }

  /** Drops every entry of one owner (its reader is closed). */
  dropOwner(owner: number): void {
    const keys = this.keysByOwner.get(owner);
    if (keys === undefined) return;
    for (const k of [...keys]) this.remove(k);
    this.keysByOwner.delete(owner);
  }

  /** Changes the bound; shrinking evicts at once. */
  setBytesMax(bytesMax: number): void {
    if (!(bytesMax >= 0)) throw new Error(`segment cache bound must be >= 0 bytes, got ${bytesMax}`);
    this.bytesMax = bytesMax;
    this.evictOver(bytesMax);
  }

  clear(): void {
    for (const k of [...this.entries.keys()]) this.remove(k);
  }

  stats(): SegmentCacheStats {
    return { bytes: this.bytes, bytesMax: this.bytesMax, entries: this.entries.size, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  private evictOver(limit: number): void {
    while (this.bytes > limit) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.remove(oldest.value);
      this.evictions++;
    }
  }

  private remove(k: string): void {
    const e = this.entries.get(k);
    if (e === undefined) return;
    this.entries.delete(k);
    this.bytes -= e.bytes;
    const keys = this.keysByOwner.get(e.owner);
    if (keys !== undefined) {
      keys.delete(k);
      if (keys.size === 0) this.keysByOwner.delete(e.owner);
    }
  }
}

/** The process-wide cache every SegmentReader uses unless given another one. */
export const segmentCache = new SegmentCache(SEGMENT_CACHE_BYTES_MAX);

/** For /metrics: bytes held, bound, entries, hits, misses and evictions of the shared cache. */
export function segmentCacheStats(): SegmentCacheStats {
  return segmentCache.stats();
}
