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

/**
 * A cache entry for validated labels that is its own SeriesRefMemo (refMemo points back to it):
 * the engine's and the pipeline's memo reads then touch the object the decoder has just read
 * instead of one more object elsewhere in memory (each was a cache miss per series).
 */
export function validatedLabels(labels: Labels, key: string, nameBytesMax: number, valueBytesMax: number): ValidatedLabels {
  const v: ValidatedLabels & SeriesRefMemo & { refMemo: SeriesRefMemo | undefined } = {
    labels,
    key,
    nameBytesMax,
    valueBytesMax,
    registry: undefined,
    epoch: -1,
    ref: 0,
    labelLimitsPassed: undefined,
    refMemo: undefined,
  };
  v.refMemo = v;
  return v;
}

/** Words needed for n bytes: whole words plus one for the 0-3 tail bytes. */
function wordsFor(byteLength: number): number {
  return (byteLength >>> 2) + 1;
}

/**
 * One generation: an open-addressing table from hash to entry, and one arena holding the raw bytes
 * of all its entries. Why an arena: a typed array per entry above 64 bytes gets its own off-heap
 * ArrayBuffer, which made every cache miss cost ~10 us in allocation and GC. Why not a Map: its
 * 32-bit keys above 2^30 are heap numbers, and with ~20k entries each lookup then chased the
 * Map's buckets, the key objects and the entry object through memory that the rest of a request
 * had evicted from the CPU caches: Map.get alone was ~15% of the ingest CPU. Here a lookup reads
 * one (hash, entry) slot pair, then the entry's columns. Each hash keeps one entry: setting a
 * present hash replaces its entry (its arena words stay behind until the generation rotates).
 */
class Generation<V = ValidatedLabels> {
  /** Slot i is (hash, entry index + 1) at [2i, 2i + 1]; entry index + 1 = 0 marks an empty slot. */
  private slots = new Int32Array(2 * SLOTS_INITIAL);
  private slotShift = 32 - Math.log2(SLOTS_INITIAL);
  /** Entry columns (index = insertion order): where its bytes are, and its value (undefined: deleted). */
  private entryWords = new Int32Array(ENTRIES_INITIAL);
  private entryBytes = new Int32Array(ENTRIES_INITIAL);
  /** The salt an entry was set under (see LabelSetCache.get): a guessed entry must match it too. */
  private entrySalt = new Int32Array(ENTRIES_INITIAL);
  private readonly values: Array<V | undefined> = [];
  /** Entries with a value (what `size` reports). */
  size = 0;
  private arena = new Int32Array(ARENA_INITIAL_WORDS);
  private used = 0;

  /** Entry index of hash h (with or without a value), or -1. */
  private find(h: number): number {
    const slots = this.slots;
    const mask = (slots.length >>> 1) - 1;
    let i = Math.imul(h ^ SLOT_SEED, 0x9e3779b1) >>> this.slotShift;
    for (;;) {
      const e = slots[2 * i + 1]!;
      if (e === 0) return -1;
      if (slots[2 * i] === h) return e - 1;
      i = (i + 1) & mask;
    }
  }

  has(h: number): boolean {
    const e = this.find(h);
    return e >= 0 && this.values[e] !== undefined;
  }

  /** The entry of hash h if it has a value and its bytes are exactly dv[start, end), else -1. */
  lookup(h: number, dv: DataView, start: number, end: number): number {
    const e = this.find(h);
    if (e < 0) return -1;
    return this.values[e] !== undefined && this.matches(e, dv, start, end) ? e : -1;
  }

  /** The value of hash h if its entry's bytes are exactly dv[start, end). */
  get(h: number, dv: DataView, start: number, end: number): V | undefined {
    const e = this.lookup(h, dv, start, end);
    return e < 0 ? undefined : this.values[e];
  }

  /** Entry e's value (undefined once deleted). */
  valueAt(e: number): V | undefined {
    return this.values[e];
  }

  /**
   * Entry e's value if e exists, has a value, was set under `salt` and its bytes are exactly
   * dv[start, end): a lookup without hashing, for a caller that can guess the entry.
   */
  getAt(e: number, dv: DataView, start: number, end: number, salt: number): V | undefined {
    if (e >= this.values.length) return undefined;
    const v = this.values[e];
    // entrySalt holds int32s: compare the salt as one (a uint32 salt above 2^31 would never match).
    return v !== undefined && this.entrySalt[e] === (salt | 0) && this.matches(e, dv, start, end) ? v : undefined;
  }

  /** Byte length of hash h's entry (which must have a value). */
  byteLengthOf(h: number): number {
    return this.entryBytes[this.find(h)]!;
  }

  /** Forgets hash h's value (its slot stays, so probing is unaffected). */
  delete(h: number): void {
    const e = this.find(h);
    if (e >= 0 && this.values[e] !== undefined) {
      this.values[e] = undefined;
      this.size--;
    }
  }

  /** Sets hash h to v, whose bytes are dv[start, end) (copied into the arena); returns its entry. */
  set(h: number, dv: DataView, start: number, end: number, v: V, salt = 0): number {
    return this.put(h, this.store(dv, start, end), end - start, v, salt);
  }

  /** Sets hash h to hash h's value in `from`, copying its bytes over; returns its entry here. */
  adopt(from: Generation<V>, h: number): number {
    const e = from.find(h);
    const bytes = from.entryBytes[e]!;
    const need = wordsFor(bytes);
    const offset = this.reserve(need);
    const w = from.entryWords[e]!;
    this.arena.set(from.arena.subarray(w, w + need), offset);
    return this.put(h, offset, bytes, from.values[e]!, from.entrySalt[e]!);
  }

  private put(h: number, wordOffset: number, byteLength: number, v: V, salt: number): number {
    let e = this.find(h);
    if (e < 0) {
      e = this.values.length;
      if (e === this.entryWords.length) {
        this.entryWords = grownInt32(this.entryWords, e * 2);
        this.entryBytes = grownInt32(this.entryBytes, e * 2);
        this.entrySalt = grownInt32(this.entrySalt, e * 2);
      }
      this.values.push(undefined);
      // At most half full, so probe runs stay short.
      if (2 * (e + 1) > this.slots.length >>> 1) this.rehash(this.slots.length);
      this.insertSlot(h, e);
    }
    if (this.values[e] === undefined) this.size++;
    this.entryWords[e] = wordOffset;
    this.entryBytes[e] = byteLength;
    this.entrySalt[e] = salt;
    this.values[e] = v;
    return e;
  }

  private insertSlot(h: number, e: number): void {
    const slots = this.slots;
    const mask = (slots.length >>> 1) - 1;
    let i = Math.imul(h ^ SLOT_SEED, 0x9e3779b1) >>> this.slotShift;
    while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
    slots[2 * i] = h;
    slots[2 * i + 1] = e + 1;
  }

  /** Doubles the slot table (`slotInts` = current length of `slots`). */
  private rehash(slotInts: number): void {
    const old = this.slots;
    this.slots = new Int32Array(slotInts * 2);
    this.slotShift--;
    for (let i = 1; i < old.length; i += 2) if (old[i] !== 0) this.insertSlot(old[i - 1]!, old[i]! - 1);
  }

  /** Room for `need` more arena words; returns where they start. */
  private reserve(need: number): number {
    if (this.used + need > this.arena.length) {
      const next = new Int32Array(Math.max(this.arena.length * 2, this.used + need));
      next.set(this.arena.subarray(0, this.used));
      this.arena = next;
    }
    const offset = this.used;
    this.used += need;
    return offset;
  }

  /** Copies dv[start, end) into the arena; returns its word offset. */
  private store(dv: DataView, start: number, end: number): number {
    const n = (end - start) >>> 2;
    const offset = this.reserve(n + 1);
    const a = this.arena;
    let p = start;
    for (let i = 0; i < n; i++, p += 4) a[offset + i] = dv.getInt32(p, true);
    a[offset + n] = tailWord(dv, p, end);
    return offset;
  }

  /**
   * Whether entry e's bytes are exactly dv[start, end). (Comparing 8 bytes at a time as doubles
   * measured no faster: the loop is bound by its loads.)
   */
  private matches(e: number, dv: DataView, start: number, end: number): boolean {
    if (this.entryBytes[e] !== end - start) return false;
    const a = this.arena;
    const n = (end - start) >>> 2;
    const o = this.entryWords[e]!;
    let p = start;
    for (let i = 0; i < n; i++, p += 4) if (a[o + i] !== dv.getInt32(p, true)) return false;
    return a[o + n] === tailWord(dv, p, end);
  }

  /** Words in the arena (entries replaced after a collision leave their words behind). */
  get usedWords(): number {
    return this.used;
  }

  /** Throws unless every entry with a value lies inside the used arena and is found by its hash. */
  assertEntriesInArena(name: string): void {
    const hashOf = new Map<number, number>();
    for (let i = 1; i < this.slots.length; i += 2) if (this.slots[i] !== 0) hashOf.set(this.slots[i]! - 1, this.slots[i - 1]!);
    let live = 0;
    for (let e = 0; e < this.values.length; e++) {
      if (this.values[e] === undefined) continue;
      live++;
      const w = this.entryWords[e]!;
      if (w < 0 || w + wordsFor(this.entryBytes[e]!) > this.used) throw new Error(`label cache ${name} entry lies outside its arena`);
      const h = hashOf.get(e);
      if (h === undefined || this.find(h) !== e) throw new Error(`label cache ${name} entry ${e} is not found by its hash`);
    }
    if (live !== this.size) throw new Error(`label cache ${name} counts ${this.size} entries but holds ${live}`);
  }
}

function grownInt32(a: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(length);
  next.set(a);
  return next;
}

/** Slot table and entry columns start at these sizes (a power of two) and double. */
const SLOTS_INITIAL = 1024;
const ENTRIES_INITIAL = 256;
/**
 * Mixed into the slot index, a random per process: label bytes come from senders, and a fixed
 * mapping would let one craft hashes that pile into one probe run.
 */
const SLOT_SEED = (Math.random() * 0x100000000) | 0;

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

/**
 * 32-bit hash of dv[start, end). Not collision resistant: entries are verified. Four independent
 * lanes of multiply-xorshift over 16-byte blocks, so the CPU overlaps their multiplies (a
 * one-lane murmur3 was latency-bound at ~1.6x the cost), then a murmur3 finalizer.
 */
export function hashRawBytes(dv: DataView, start: number, end: number): number {
  let a = 0x9747b28c ^ (end - start);
  let b = 0x85ebca6b;
  let c = 0xc2b2ae35;
  let d = 0x27d4eb2f;
  let p = start;
  for (; p + 16 <= end; p += 16) {
    a = Math.imul(a ^ dv.getInt32(p, true), 0x9e3779b1);
    b = Math.imul(b ^ dv.getInt32(p + 4, true), 0x85ebca77);
    c = Math.imul(c ^ dv.getInt32(p + 8, true), 0xc2b2ae3d);
    d = Math.imul(d ^ dv.getInt32(p + 12, true), 0x27d4eb2f);
    a ^= a >>> 15;
    b ^= b >>> 15;
    c ^= c >>> 15;
    d ^= d >>> 15;
  }
  for (; p + 4 <= end; p += 4) {
    a = Math.imul(a ^ dv.getInt32(p, true), 0x9e3779b1);
    a ^= a >>> 15;
  }
  for (; p < end; p++) b = Math.imul(b ^ dv.getUint8(p), 0x01000193);
  let h = a ^ Math.imul(b, 0x85ebca6b) ^ Math.imul(c, 0xc2b2ae35) ^ Math.imul(d, 0x27d4eb2f);
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

/**
 * Two generations of byte-keyed entries and the lookup both tables below share: the entry after
 * the last one found, then the hash in young, then old (whose entry moves up into young).
 *
 * Why the guess first: a sender sends its series in the same order request after request (a
 * Prometheus shard follows the scrape order; a 2.0 symbol table lists symbols in the order its
 * series first use them), and young holds entries in the order they arrived, so the next lookup
 * is usually for the entry after the last one. Comparing its bytes (the comparison a hash hit
 * needs anyway) skips hashing them and probing the slot table (a cache miss per series), half
 * the lookup's cost.
 */
abstract class GuessingGenerations<V> {
  protected young = new Generation<V>();
  protected old = new Generation<V>();
  /** The young entry of the last hit or insert (-1: none since young was rotated in). */
  protected lastEntry = -1;
  /** The hash the last lookup() that missed computed (what the caller then inserts under). */
  protected missHash = 0;
  /** Hits found by the guess (the rest went through the hash). */
  guessHits = 0;

  constructor(
    /** Replaceable so tests can force collisions. */
    protected readonly hash: RawBytesHash,
  ) {}

  /** young, rotated first (lastEntry reset) if adding h (taking `words` arena words) would overflow it. */
  protected abstract youngWithRoom(h: number, words: number): Generation<V>;

  /** The value of the bytes dv[start, end) under `salt`, or undefined (missHash then holds their hash). */
  protected lookup(dv: DataView, start: number, end: number, salt: number): V | undefined {
    const young = this.young;
    const guess = this.lastEntry + 1;
    let v = young.getAt(guess, dv, start, end, salt);
    if (v !== undefined) {
      this.lastEntry = guess;
      this.guessHits++;
      return v;
    }
    const h = this.hash(dv, start, end) ^ salt;
    const e = young.lookup(h, dv, start, end);
    if (e >= 0) {
      this.lastEntry = e;
      return young.valueAt(e);
    }
    const old = this.old;
    v = old.get(h, dv, start, end);
    if (v !== undefined) {
      this.lastEntry = this.youngWithRoom(h, wordsFor(old.byteLengthOf(h))).adopt(old, h);
      old.delete(h);
      return v;
    }
    this.missHash = h;
    return undefined;
  }

  /** Inserts v for the bytes dv[start, end) under hash h (and salt), as the last entry found. */
  protected insert(h: number, dv: DataView, start: number, end: number, v: V, salt: number): void {
    // Same hash, different bytes: the newer entry replaces the older one (a collision is a miss).
    this.lastEntry = this.youngWithRoom(h, wordsFor(end - start)).set(h, dv, start, end, v, salt);
  }
}

export class LabelSetCache extends GuessingGenerations<ValidatedLabels> {
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
    hash: RawBytesHash = hashRawBytes,
  ) {
    super(hash);
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
    const v = this.lookup(dv, start, end, salt);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.genHits++;
    return v;
  }

  /** Caches v for the raw bytes dv[start, end) (a copy of the bytes is kept). */
  set(dv: DataView, start: number, end: number, v: ValidatedLabels, salt = 0): void {
    if (this.bypassLeft > 0 || end - start > LABEL_CACHE_ENTRY_BYTES_MAX) return;
    this.insert(this.hash(dv, start, end) ^ salt, dv, start, end, v, salt);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /**
   * When the cache stands aside (thrashing, see BYPASS_HIT_RATIO), counts one lookup as the miss
   * get() would answer and returns true, so a caller can skip building the key; else false.
   */
  bypassLookup(): boolean {
    if (this.bypassLeft <= 0) return false;
    this.bypassLeft--;
    this.misses++;
    return true;
  }

  clear(): void {
    this.young = new Generation();
    this.old = new Generation();
    this.genLookups = 0;
    this.genHits = 0;
    this.bypassLeft = 0;
    this.bypassGenerations = BYPASS_GENERATIONS_MIN;
    this.lastEntry = -1;
  }

  protected youngWithRoom(h: number, words: number): Generation {
    const y = this.young;
    if ((y.size >= this.generationEntriesMax && !y.has(h)) || y.usedWords + words > this.arenaWordsMax) {
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
      this.lastEntry = -1;
      this.genLookups = 0;
      this.genHits = 0;
    }
    return this.young;
  }

  assertInvariants(): void {
    for (const [name, gen] of [['young', this.young], ['old', this.old]] as const) {
      if (gen.size > this.generationEntriesMax) throw new Error(`label cache ${name} generation holds ${gen.size} > ${this.generationEntriesMax}`);
      if (gen.usedWords > this.arenaWordsMax) throw new Error(`label cache ${name} arena holds ${gen.usedWords} words > ${this.arenaWordsMax}`);
      gen.assertEntriesInArena(name);
    }
  }
}

/** Symbols longer than this are not given ids (a series using one is validated on every request). */
export const SYMBOL_ID_BYTES_MAX = 4096;
/** Arena words per symbol generation entry allowed on average (64 bytes): symbols are short. */
const SYMBOL_ARENA_WORDS_PER_ENTRY = 16;
/** Largest symbol id: ids are int32 so that a series key is a sequence of 4-byte words. */
export const SYMBOL_ID_MAX = 0x7fffffff;

/**
 * Remote write 2.0 symbols (byte strings) -> ids that name them across requests. Why: a 2.0
 * sender builds a new symbol table per request, so a series' label refs differ from one request
 * to the next, but the symbols' bytes do not. With one id per distinct byte string, a series is
 * named by the sequence of its symbols' ids, which the decoder maps to its cached labels with a
 * LabelSetCache over those ids' bytes: no symbol is decoded to a string and no label is compared
 * as a string for a known series (comparing decoded strings was a fifth of the 2.0 ingest CPU).
 *
 * Correctness rests on one invariant: an id is given to exactly one byte string, ever. Ids come
 * from a counter and are never reused (a lookup verifies the stored bytes, so a hash collision is
 * a miss and the bytes get a fresh id); the same bytes may get a new id after eviction, which only
 * makes the series keys that used the old id miss. When the counter would pass idMax, the owner
 * must clear() this table and every cache keyed by its ids (idsLeft tells when).
 *
 * Generational like LabelSetCache: inserts go to `young`; when it holds generationEntriesMax
 * entries (or its arena is full) it becomes `old`; a hit in `old` moves up with its id.
 */
export class SymbolIdTable extends GuessingGenerations<number> {
  private nextId = 1;
  private readonly arenaWordsMax: number;

  constructor(
    readonly generationEntriesMax: number,
    hash: RawBytesHash = hashRawBytes,
    /** Replaceable so tests can exhaust the ids. */
    readonly idMax = SYMBOL_ID_MAX,
  ) {
    super(hash);
    if (!(Number.isInteger(generationEntriesMax) && generationEntriesMax > 0)) throw new Error(`generationEntriesMax must be a positive integer, got ${generationEntriesMax}`);
    this.arenaWordsMax = Math.max(generationEntriesMax * SYMBOL_ARENA_WORDS_PER_ENTRY, wordsFor(SYMBOL_ID_BYTES_MAX));
  }

  /** Ids not yet given out. */
  get idsLeft(): number {
    return this.idMax - this.nextId + 1;
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /**
   * The id of the bytes dv[start, end), given one if they have none; 0 when they are longer than
   * SYMBOL_ID_BYTES_MAX or the ids ran out (the caller then does not cache what uses them).
   */
  idOf(dv: DataView, start: number, end: number): number {
    if (end - start > SYMBOL_ID_BYTES_MAX) return 0;
    const known = this.lookup(dv, start, end, 0);
    if (known !== undefined) return known;
    if (this.nextId > this.idMax) return 0;
    const id = this.nextId++;
    // (A hash collision replaces the older entry, whose id is then unused.)
    this.insert(this.missHash, dv, start, end, id, 0);
    return id;
  }

  /** Forgets every symbol and restarts the ids (caches keyed by them must be cleared too). */
  clear(): void {
    this.young = new Generation<number>();
    this.old = new Generation<number>();
    this.nextId = 1;
    this.lastEntry = -1;
  }

  protected youngWithRoom(h: number, words: number): Generation<number> {
    const y = this.young;
    if ((y.size >= this.generationEntriesMax && !y.has(h)) || y.usedWords + words > this.arenaWordsMax) {
      this.old = y;
      this.young = new Generation<number>();
      this.lastEntry = -1;
    }
    return this.young;
  }

  assertInvariants(): void {
    for (const [name, gen] of [['young', this.young], ['old', this.old]] as const) {
      if (gen.size > this.generationEntriesMax) throw new Error(`symbol id table ${name} generation holds ${gen.size} > ${this.generationEntriesMax}`);
      if (gen.usedWords > this.arenaWordsMax) throw new Error(`symbol id table ${name} arena holds ${gen.usedWords} words > ${this.arenaWordsMax}`);
      gen.assertEntriesInArena(`symbol ${name}`);
    }
    if (this.nextId < 1 || this.nextId > this.idMax + 1) throw new Error(`symbol id counter ${this.nextId} outside 1..${this.idMax + 1}`);
  }
}
