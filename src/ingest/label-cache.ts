// A bounded cache from the raw protobuf bytes of a series' labels to the validated label set.
//
// Prometheus sends the same label bytes for a series in every request, so a hit lets the
// decoder skip building Label objects, validating and computing the key.
//
// Keys: a 32-bit hash of the raw bytes, then a full comparison with the bytes stored in the
// entry, so a hash collision is only ever a miss (never the wrong labels). Why not a Map keyed by
// a latin1 string of the bytes: V8 hashes a fresh ~300-char string at ~2 ns/char, which made the
// lookup cost more than the rest of the decode (bench/micro/remote-write-decode.ts); hashing
// 4 bytes at a time through a DataView is about 3x cheaper.
//
// Eviction is generational, O(1) and keeps hot entries: inserts go to `young`; when `young` holds
// `generationEntriesMax` entries it becomes `old` and the previous `old` is dropped; a hit in `old`
// is moved into `young`. A cache that thrashes (more series than entries) stands aside for a
// while instead (BYPASS_HIT_RATIO). Invariants: each generation holds at most generationEntriesMax entries
// (so the cache holds at most 2x that many) and at most generationEntriesMax x 512 bytes of raw
// label bytes; label sets above LABEL_CACHE_ENTRY_BYTES_MAX are never cached.
import type { Labels } from '../model/labels.js';
import type { SeriesRefMemo } from '../model/write.js';

export interface ValidatedLabels {
  readonly labels: Labels;
  /** labelsKey(labels). */
  readonly key: string;
  /** Longest name and value in bytes: a hit is re-checked against the caller's limits. */
  readonly nameBytesMax: number;
  readonly valueBytesMax: number;
  /** The series ref this label set has in the engine (filled by Engine.append). */
  readonly refMemo?: SeriesRefMemo;
}

interface Entry {
  /** Where the raw bytes sit in the generation's arena, as little-endian 32-bit words. */
  readonly wordOffset: number;
  readonly byteLength: number;
  readonly value: ValidatedLabels;
}

/** Words needed for n bytes: whole words plus one for the 0-3 tail bytes. */
function wordsFor(byteLength: number): number {
  return (byteLength >>> 2) + 1;
}

/**
 * One generation: a map from hash to entry, and one arena holding the raw bytes of all its
 * entries. Why an arena: a typed array per entry above 64 bytes gets its own off-heap
 * ArrayBuffer, which made every cache miss cost ~10 us in allocation and GC.
 */
class Generation {
  readonly map = new Map<number, Entry>();
  private arena = new Int32Array(ARENA_INITIAL_WORDS);
  private used = 0;

  /** Copies dv[start, end) into the arena; returns its word offset. */
  store(dv: DataView, start: number, end: number): number {
    const n = (end - start) >>> 2;
    const need = n + 1;
    if (this.used + need > this.arena.length) {
      const next = new Int32Array(Math.max(this.arena.length * 2, this.used + need));
      next.set(this.arena.subarray(0, this.used));
      this.arena = next;
    }
    const a = this.arena;
    const offset = this.used;
    let p = start;
    for (let i = 0; i < n; i++, p += 4) a[offset + i] = dv.getInt32(p, true);
    a[offset + n] = tailWord(dv, p, end);
    this.used += need;
    return offset;
  }

  /** Copies an entry's words from another generation's arena. */
  adopt(from: Generation, e: Entry): number {
    const need = wordsFor(e.byteLength);
    if (this.used + need > this.arena.length) {
      const next = new Int32Array(Math.max(this.arena.length * 2, this.used + need));
      next.set(this.arena.subarray(0, this.used));
      this.arena = next;
    }
    const offset = this.used;
    this.arena.set(from.arena.subarray(e.wordOffset, e.wordOffset + need), offset);
    this.used += need;
    return offset;
  }

  matches(e: Entry, dv: DataView, start: number, end: number): boolean {
    if (e.byteLength !== end - start) return false;
    const a = this.arena;
    const n = (end - start) >>> 2;
    const o = e.wordOffset;
    let p = start;
    for (let i = 0; i < n; i++, p += 4) if (a[o + i] !== dv.getInt32(p, true)) return false;
    return a[o + n] === tailWord(dv, p, end);
  }

  /** Words in the arena (entries replaced after a collision leave their words behind). */
  get usedWords(): number {
    return this.used;
  }
}

/** First arena size of a generation (16 KiB); it doubles as entries arrive. */
const ARENA_INITIAL_WORDS = 4096;
/**
 * Label sets with more raw bytes than this are not cached: they are rare, and a bound per entry
 * is what lets the arena bound below hold (node-exporter-like series take ~300 bytes).
 */
export const LABEL_CACHE_ENTRY_BYTES_MAX = 4096;
/**
 * Arena words per generation entry allowed on average (512 bytes). A generation also rotates
 * when its arena would pass generationEntriesMax times this, so entries replaced after a hash
 * collision (which leave their words behind) cannot grow an arena without bound.
 */
const ARENA_WORDS_PER_ENTRY = 128;
/**
 * When fewer than this fraction of the lookups made while a generation filled were hits, the
 * sender has more series than the cache holds and every entry is evicted before it is reused:
 * caching then only adds work and old-generation garbage (GC took 40% of the decode time in
 * that case). The cache then stands aside for BYPASS_GENERATIONS_MIN generations' worth of lookups, doubling
 * before it tries again.
 */
const BYPASS_HIT_RATIO = 0.25;
/** The first bypass lasts this many generations' worth of lookups; each consecutive one twice as long, up to the max. */
const BYPASS_GENERATIONS_MIN = 4;
const BYPASS_GENERATIONS_MAX = 256;

export type RawBytesHash = (dv: DataView, start: number, end: number) => number;

/** murmur3-style 32-bit hash of dv[start, end). Not collision resistant: entries are verified. */
export function hashRawBytes(dv: DataView, start: number, end: number): number {
  let h = 0x9747b28c ^ (end - start);
  let p = start;
  for (; p + 4 <= end; p += 4) {
    let k = dv.getInt32(p, true);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  for (; p < end; p++) {
    h ^= dv.getUint8(p);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function tailWord(dv: DataView, p: number, end: number): number {
  let t = 0;
  for (let shift = 0; p < end; p++, shift += 8) t |= dv.getUint8(p) << shift;
  return t;
}

export class LabelSetCache {
  private young = new Generation();
  private old = new Generation();
  private readonly arenaWordsMax: number;
  /** Lookups and hits since young was last rotated in. */
  private genLookups = 0;
  private genHits = 0;
  /** Lookups left to answer with a miss without looking (see BYPASS_HIT_RATIO). */
  private bypassLeft = 0;
  private bypassGenerations = BYPASS_GENERATIONS_MIN;
  hits = 0;
  misses = 0;
  /** Times the cache stood aside because it was thrashing. */
  bypasses = 0;

  constructor(
    readonly generationEntriesMax: number,
    /** Replaceable so tests can force collisions. */
    private readonly hash: RawBytesHash = hashRawBytes,
  ) {
    if (!(Number.isInteger(generationEntriesMax) && generationEntriesMax > 0)) throw new Error(`generationEntriesMax must be a positive integer, got ${generationEntriesMax}`);
    this.arenaWordsMax = Math.max(generationEntriesMax * ARENA_WORDS_PER_ENTRY, wordsFor(LABEL_CACHE_ENTRY_BYTES_MAX));
  }


  /**
   * The validated labels whose raw bytes are exactly dv[start, end), if cached. `salt` is mixed
   * into the hash, so equal bytes under different salts (OTLP: the same attributes in another
   * metric) get slots of their own; entries are verified by bytes only, so a caller that salts
   * must also check the returned value belongs to its salt's context.
   */
  get(dv: DataView, start: number, end: number, salt = 0): ValidatedLabels | undefined {
    if (this.bypassLeft > 0) {
      this.bypassLeft--;
      this.misses++;
      return undefined;
    }
    if (end - start > LABEL_CACHE_ENTRY_BYTES_MAX) {
      this.misses++;
      return undefined;
    }
    this.genLookups++;
    const h = (this.hash(dv, start, end) ^ salt) >>> 0;
    const young = this.young;
    let e = young.map.get(h);
    if (e !== undefined && young.matches(e, dv, start, end)) {
      this.hits++;
      this.genHits++;
      return e.value;
    }
    const old = this.old;
    e = old.map.get(h);
    if (e !== undefined && old.matches(e, dv, start, end)) {
      this.hits++;
      this.genHits++;
      old.map.delete(h);
      const gen = this.youngWithRoom(h, wordsFor(e.byteLength));
      gen.map.set(h, { wordOffset: gen.adopt(old, e), byteLength: e.byteLength, value: e.value });
      return e.value;
    }
    this.misses++;
    return undefined;
  }

  /** Caches v for the raw bytes dv[start, end) (a copy of the bytes is kept). */
  set(dv: DataView, start: number, end: number, v: ValidatedLabels, salt = 0): void {
    if (this.bypassLeft > 0 || end - start > LABEL_CACHE_ENTRY_BYTES_MAX) return;
    const h = (this.hash(dv, start, end) ^ salt) >>> 0;
    const gen = this.youngWithRoom(h, wordsFor(end - start));
    // Same hash, different bytes: the newer entry replaces the older one (a collision is a miss).
    gen.map.set(h, { wordOffset: gen.store(dv, start, end), byteLength: end - start, value: v });
  }

  get size(): number {
    return this.young.map.size + this.old.map.size;
  }

  clear(): void {
    this.young = new Generation();
    this.old = new Generation();
    this.genLookups = 0;
    this.genHits = 0;
    this.bypassLeft = 0;
    this.bypassGenerations = BYPASS_GENERATIONS_MIN;
  }

  /** The young generation, rotated first if adding h (taking `words` arena words) would overflow it. */
  private youngWithRoom(h: number, words: number): Generation {
    const y = this.young;
    if ((y.map.size >= this.generationEntriesMax && !y.map.has(h)) || y.usedWords + words > this.arenaWordsMax) {
      if (this.genHits < this.genLookups * BYPASS_HIT_RATIO) {
        // Thrashing: drop everything and stand aside, longer each time it happens again.
        this.bypasses++;
        this.bypassLeft = this.bypassGenerations * this.generationEntriesMax;
        this.bypassGenerations = Math.min(BYPASS_GENERATIONS_MAX, this.bypassGenerations * 2);
        this.old = new Generation();
      } else {
        this.old = this.young;
        this.bypassGenerations = BYPASS_GENERATIONS_MIN;
      }
      this.young = new Generation();
      this.genLookups = 0;
      this.genHits = 0;
    }
    return this.young;
  }

  assertInvariants(): void {
    for (const [name, gen] of [['young', this.young], ['old', this.old]] as const) {
      if (gen.map.size > this.generationEntriesMax) throw new Error(`label cache ${name} generation holds ${gen.map.size} > ${this.generationEntriesMax}`);
      if (gen.usedWords > this.arenaWordsMax) throw new Error(`label cache ${name} arena holds ${gen.usedWords} words > ${this.arenaWordsMax}`);
      for (const e of gen.map.values()) {
        if (e.wordOffset < 0 || e.wordOffset + wordsFor(e.byteLength) > gen.usedWords) throw new Error(`label cache ${name} entry lies outside its arena`);
      }
    }
  }
}

/**
 * The remote write 2.0 cache: validated label sets keyed by a 32-bit hash combined from the
 * hashes of the series' symbols (name, value, name, value, ...). A 2.0 decoder hashes each symbol
 * at most once per request, so a lookup costs a few multiplies per label instead of hashing and
 * copying the series' bytes (the byte-keyed LabelSetCache made 2.0 decoding about 2x slower than
 * no cache at all, bench/decode-bench.ts). The caller verifies a candidate (`matches`) by
 * comparing its label strings with the request's symbol strings, which a 2.0 decoder has decoded
 * anyway, so a collision is only ever a miss. Generational like LabelSetCache: inserts go to
 * `young`; when it holds generationEntriesMax entries it becomes `old`; a hit in `old` moves up.
 * Each hash keeps one entry (a colliding insert replaces it).
 */
export class SymbolHashLabelCache {
  private young = new Map<number, ValidatedLabels>();
  private old = new Map<number, ValidatedLabels>();
  hits = 0;
  misses = 0;
  readonly bypasses = 0;

  constructor(private readonly generationEntriesMax: number) {
    if (!(generationEntriesMax >= 1)) throw new RangeError(`generationEntriesMax must be >= 1, got ${generationEntriesMax}`);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The entry for `hash` that `matches` accepts, or undefined (counted as a miss). */
  get(hash: number, matches: (v: ValidatedLabels) => boolean): ValidatedLabels | undefined {
    let v = this.young.get(hash);
    if (v !== undefined && matches(v)) {
      this.hits++;
      return v;
    }
    v = this.old.get(hash);
    if (v !== undefined && matches(v)) {
      this.hits++;
      this.old.delete(hash);
      this.insert(hash, v);
      return v;
    }
    this.misses++;
    return undefined;
  }

  set(hash: number, v: ValidatedLabels): void {
    this.insert(hash, v);
  }

  private insert(hash: number, v: ValidatedLabels): void {
    if (!this.young.has(hash) && this.young.size >= this.generationEntriesMax) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(hash, v);
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }

  assertInvariants(): void {
    if (this.young.size > this.generationEntriesMax || this.old.size > this.generationEntriesMax) {
      throw new Error(`symbol label cache generation above ${this.generationEntriesMax} entries`);
    }
  }
}
