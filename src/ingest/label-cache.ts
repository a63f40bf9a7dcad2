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
// is moved into `young`. Invariant: each generation holds at most generationEntriesMax entries,
// so the cache holds at most 2x that many.
import type { Labels } from '../model/labels.js';

export interface ValidatedLabels {
  readonly labels: Labels;
  /** labelsKey(labels). */
  readonly key: string;
  /** Longest name and value in bytes: a hit is re-checked against the caller's limits. */
  readonly nameBytesMax: number;
  readonly valueBytesMax: number;
}

interface Entry {
  /** The raw bytes as little-endian 32-bit words; the last word holds the 0-3 tail bytes. */
  readonly words: Int32Array;
  readonly byteLength: number;
  readonly value: ValidatedLabels;
}

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

function entryMatches(e: Entry, dv: DataView, start: number, end: number): boolean {
  if (e.byteLength !== end - start) return false;
  const w = e.words;
  const n = w.length - 1;
  let p = start;
  for (let i = 0; i < n; i++, p += 4) if (w[i] !== dv.getInt32(p, true)) return false;
  return w[n] === tailWord(dv, p, end);
}

export class LabelSetCache {
  private young = new Map<number, Entry>();
  private old = new Map<number, Entry>();
  hits = 0;
  misses = 0;

  constructor(
    readonly generationEntriesMax: number,
    /** Replaceable so tests can force collisions. */
    private readonly hash: RawBytesHash = hashRawBytes,
  ) {
    if (!(Number.isInteger(generationEntriesMax) && generationEntriesMax > 0)) throw new Error(`generationEntriesMax must be a positive integer, got ${generationEntriesMax}`);
  }

  /** The validated labels whose raw bytes are exactly dv[start, end), if cached. */
  get(dv: DataView, start: number, end: number): ValidatedLabels | undefined {
    const h = this.hash(dv, start, end);
    let e = this.young.get(h);
    if (e !== undefined && entryMatches(e, dv, start, end)) {
      this.hits++;
      return e.value;
    }
    e = this.old.get(h);
    if (e !== undefined && entryMatches(e, dv, start, end)) {
      this.hits++;
      this.old.delete(h);
      this.insert(h, e);
      return e.value;
    }
    this.misses++;
    return undefined;
  }

  /** Caches v for the raw bytes dv[start, end) (a copy of the bytes is kept). */
  set(dv: DataView, start: number, end: number, v: ValidatedLabels): void {
    const n = (end - start) >>> 2;
    const words = new Int32Array(n + 1);
    let p = start;
    for (let i = 0; i < n; i++, p += 4) words[i] = dv.getInt32(p, true);
    words[n] = tailWord(dv, p, end);
    this.insert(this.hash(dv, start, end), { words, byteLength: end - start, value: v });
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }

  private insert(h: number, e: Entry): void {
    if (this.young.size >= this.generationEntriesMax && !this.young.has(h)) {
      this.old = this.young;
      this.young = new Map();
    }
    // Same hash, different bytes: the newer entry replaces the older one (a collision is a miss).
    this.young.set(h, e);
  }

  assertInvariants(): void {
    if (this.young.size > this.generationEntriesMax) throw new Error(`label cache young generation holds ${this.young.size} > ${this.generationEntriesMax}`);
    if (this.old.size > this.generationEntriesMax) throw new Error(`label cache old generation holds ${this.old.size} > ${this.generationEntriesMax}`);
    for (const gen of [this.young, this.old]) {
      for (const e of gen.values()) {
        if (e.words.length !== (e.byteLength >>> 2) + 1) throw new Error('label cache entry words do not match its byte length');
      }
    }
  }
}
