// Byte-bounded LRUs of what segment readers decode, shared by every reader of the process and
// so by every query: decompressed samples.arrow record batches (the zstd step, paid once per
// batch instead of once per query) and, in a second instance, decoded chunks of recently read
// series (the PFOR/decimal decode, paid once per chunk).
//
// Segments are immutable, so an entry is valid for as long as its reader is open; a reader drops
// its entries when it is closed (a segment set swapped out by a flush or a compaction), and a
// load that finishes after the close is not inserted. Keys are (owner, key): owner is a number
// each reader takes from nextCacheOwner() at open, so a segment directory opened again never sees
// the entries of its previous reader.
//
// Eviction is least recently used (a hit moves the entry to the new end of a recency list). An
// entry bigger than a quarter of the bound is not cached: one huge batch must not flush
// everything else.
import os from 'node:os';
import { defaultSegmentCacheBytesMax } from '../constants.js';

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
  readonly key: number;
  readonly value: unknown;
  readonly bytes: number;
  /** Neighbours in recency order (older, newer); the list runs from `oldest` to `newest`. */
  older: Entry | undefined;
  newer: Entry | undefined;
}

let nextOwner = 1;

/** A fresh owner id for a reader's cache entries. */
export function nextCacheOwner(): number {
  return nextOwner++;
}

/**
 * An LRU over (owner, key) pairs of integers, bounded by the bytes its entries declare. Lookups
 * are two Map gets on numbers and an O(1) move in a doubly linked recency list: a query does one
 * per chunk it reads, so this stays cheaper than a string key per lookup.
 */
export class SegmentCache {
  private readonly byOwner = new Map<number, Map<number, Entry>>();
  private oldest: Entry | undefined;
  private newest: Entry | undefined;
  private entryCount = 0;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(private bytesMax: number) {
    if (!(bytesMax >= 0)) throw new Error(`segment cache bound must be >= 0 bytes, got ${bytesMax}`);
  }

  get<T>(owner: number, key: number): T | undefined {
    const e = this.byOwner.get(owner)?.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (e !== this.newest) {
      this.unlink(e);
      this.append(e);
    }
    return e.value as T;
  }

  /** Inserts (or replaces) an entry and evicts the least recently used ones over the bound. */
  set(owner: number, key: number, value: unknown, bytes: number): void {
    let m = this.byOwner.get(owner);
    const old = m?.get(key);
    if (old !== undefined) this.remove(old);
    if (bytes > this.bytesMax / 4) return;
    if (m === undefined || !this.byOwner.has(owner)) this.byOwner.set(owner, (m = new Map()));
    const e: Entry = { owner, key, value, bytes, older: undefined, newer: undefined };
    m.set(key, e);
    this.append(e);
    this.entryCount++;
    this.bytes += bytes;
    this.evictOver(this.bytesMax);
  }

  /** Drops every entry of one owner (its reader is closed). */
  dropOwner(owner: number): void {
    const m = this.byOwner.get(owner);
    if (m === undefined) return;
    for (const e of [...m.values()]) this.remove(e);
    this.byOwner.delete(owner);
  }

  /** Changes the bound; shrinking evicts at once. */
  setBytesMax(bytesMax: number): void {
    if (!(bytesMax >= 0)) throw new Error(`segment cache bound must be >= 0 bytes, got ${bytesMax}`);
    this.bytesMax = bytesMax;
    this.evictOver(bytesMax);
  }

  clear(): void {
    while (this.oldest !== undefined) this.remove(this.oldest);
  }

  stats(): SegmentCacheStats {
    return { bytes: this.bytes, bytesMax: this.bytesMax, entries: this.entryCount, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  private evictOver(limit: number): void {
    while (this.bytes > limit && this.oldest !== undefined) {
      this.remove(this.oldest);
      this.evictions++;
    }
  }

  private remove(e: Entry): void {
    const m = this.byOwner.get(e.owner);
    if (m === undefined || m.get(e.key) !== e) return;
    m.delete(e.key);
    if (m.size === 0) this.byOwner.delete(e.owner);
    this.unlink(e);
    this.entryCount--;
    this.bytes -= e.bytes;
  }

  private unlink(e: Entry): void {
    if (e.older !== undefined) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer !== undefined) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = undefined;
    e.newer = undefined;
  }

  private append(e: Entry): void {
    e.older = this.newest;
    e.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
  }
}

/** The process-wide caches every SegmentReader uses unless given others. */
export const SEGMENT_CACHE_BYTES_MAX_DEFAULT = defaultSegmentCacheBytesMax(os.totalmem());
export const segmentBatchCache = new SegmentCache(SEGMENT_CACHE_BYTES_MAX_DEFAULT);
export const segmentChunkCache = new SegmentCache(SEGMENT_CACHE_BYTES_MAX_DEFAULT);

/**
 * Decoded rollup level blocks (segment/level-reader.ts), apart from the raw caches above: a raw
 * query over 30 days decodes more than any bound of those and would evict the pyramid's few
 * blocks, so that the dashboard's next (rollup) query decoded its level segments again. Same
 * derived default bound as each of the other two (1/16 of memory, 64..512 MiB): the 1 h level of
 * 30 days of 1000 series is ~95 MB decoded.
 */
export const LEVEL_CACHE_BYTES_MAX_DEFAULT = defaultSegmentCacheBytesMax(os.totalmem());
export const segmentLevelCache = new SegmentCache(LEVEL_CACHE_BYTES_MAX_DEFAULT);

/** For /metrics: bytes held, bound, entries, hits, misses and evictions of the shared caches. */
export function segmentCacheStats(): { batches: SegmentCacheStats; chunks: SegmentCacheStats; levels: SegmentCacheStats } {
  return { batches: segmentBatchCache.stats(), chunks: segmentChunkCache.stats(), levels: segmentLevelCache.stats() };
}
