// The in-memory head of one tenant: the samples of every series written since the last flush.
// One active head takes appends; frozen heads wait for their flush and stay queryable until
// their segments are in the manifest. All heads of a tenant share its registry.
//
// Layout: struct of arrays indexed by a dense per-head series index (idx), never one object per
// sample nor per series. Samples live in fixed 16-sample chunks carved from shared slabs
// (chunks.ts); a series is a chain of chunks, appended densely: sample i of a series is at
// position i % 16 of the (i / 16)-th chunk of its chain. ref -> idx goes through a paged table
// (pages of 1024 refs, allocated when a ref of the page first appears in this head).
//
// Ordering rules:
// - Chunks hold samples in arrival order. An append with a timestamp above the series' max keeps
//   the "sorted" flag (the common case, O(1)); any other append clears it, and the next read or
//   pack sorts and de-duplicates that series in place (last write wins, see sort.ts).
// - Because chunks are rewritten in place and recycled, reads COPY the samples out (exactly
//   sized arrays). No reader ever holds a view of a chunk, so later appends cannot change what
//   it holds.
//
// Invariants (checked by assertInvariants):
// - the page table and refByIdx are inverse; refSet holds exactly the refs of the head; every
//   ref is registered in the registry;
// - lens[idx] >= 1 and the chain of idx has exactly ceil(lens[idx] / 16) chunks, ending at
//   tailChunk[idx]; chains and the pool's free list are disjoint and cover every chunk carved;
// - minT/maxT of each series and of the head are exact over the samples held;
// - a series flagged sorted has strictly increasing timestamps; sampleCount is the sum of lens.
import type { Labels } from '../model/labels.js';
import type { Matcher } from '../model/matchers.js';
import { RoaringBitmap32, selectPostings, type Bitmap } from '../model/postings.js';
import type { SeriesSource, SourceSeries } from '../model/querier.js';
import type { SampleRun } from '../model/samples.js';
import { sharedFloat64Array, sharedUint32Array } from '../model/shared-arrays.js';
import { CHUNK_SAMPLES_MASK, CHUNK_SAMPLES_SHIFT, ChunkPool, NO_CHUNK, SLAB_CHUNKS_MASK, SLAB_CHUNKS_SHIFT } from './chunks.js';
import type { SeriesRegistry } from './series-registry.js';
import { sortDedupeLastWins } from './sort.js';

/** Struct-of-arrays slots allocated at first; doubled as series arrive. */
const HEAD_SLOTS_INITIAL = 256;
/** Bytes of SoA slot per series: ref, len, head and tail chunk (4 each), minT, maxT (8 each), sorted (1). */
const SLOT_BYTES = 4 * 4 + 8 + 8 + 1;
const REF_PAGE_SHIFT = 10;
const REF_PAGE_SIZE = 1 << REF_PAGE_SHIFT;
const REF_PAGE_MASK = REF_PAGE_SIZE - 1;
/** A page of the ref -> idx table: Int32Array(1024) plus the typed-array object. */
const REF_PAGE_BYTES = REF_PAGE_SIZE * 4 + 200;

/** Result of pack(): the head as flat arrays for the flush worker (fresh, transferable buffers). */
export interface PackedHead {
  /** JSON of Labels[] aligned with refs. */
  readonly labelsJson: string;
  /** Series i owns samples [offsets[i], offsets[i+1]); length refs.length + 1. */
  readonly offsets: Uint32Array;
  /** Per series sorted ascending with unique timestamps (last write wins). */
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  /** Ascending. */
  readonly refs: Uint32Array;
}

const EMPTY: Float64Array = new Float64Array(0);

export class Head implements SeriesSource {
  private readonly pool = new ChunkPool();
  /** ref -> idx + 1 (0: not in this head), paged by ref >>> REF_PAGE_SHIFT. */
  private readonly idxPages: Array<Int32Array | undefined> = [];
  private idxPageCount = 0;
  private readonly refSet = new RoaringBitmap32();
  private count = 0;
  private refByIdx = new Uint32Array(HEAD_SLOTS_INITIAL);
  private lens = new Uint32Array(HEAD_SLOTS_INITIAL);
  private headChunk = new Int32Array(HEAD_SLOTS_INITIAL);
  private tailChunk = new Int32Array(HEAD_SLOTS_INITIAL);
  private minTByIdx = new Float64Array(HEAD_SLOTS_INITIAL);
  private maxTByIdx = new Float64Array(HEAD_SLOTS_INITIAL);
  private sortedByIdx = new Uint8Array(HEAD_SLOTS_INITIAL);
  /** Gather and output buffers of normalize(), reused across series (ts, values, sorted ts, sorted values). */
  private scratch: [Float64Array, Float64Array, Float64Array, Float64Array] = [
    new Float64Array(256),
    new Float64Array(256),
    new Float64Array(256),
    new Float64Array(256),
  ];
  private frozen = false;
  private samples = 0;
  private minT = Infinity;
  private maxT = -Infinity;

  constructor(private readonly registry: SeriesRegistry) {}

  get minTMs(): number {
    return this.minT;
  }
  get maxTMs(): number {
    return this.maxT;
  }
  /** Samples held; duplicates count until a read or pack de-duplicates their series. */
  get sampleCount(): number {
    return this.samples;
  }
  get seriesCount(): number {
    return this.count;
  }
  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Bytes held: slabs (used or free), chain links, SoA slots, ref pages, refs bitmap. O(1). */
  bytesEstimate(): number {
    return this.pool.bytes() + this.refByIdx.length * SLOT_BYTES + this.idxPageCount * REF_PAGE_BYTES + this.count * 4;
  }

  append(ref: number, timestampMs: number, value: number): void {
    if (this.frozen) throw new Error('Head.append on a frozen head');
    if (!Number.isSafeInteger(timestampMs)) throw new Error(`Head.append: timestamp ${timestampMs} is not an integer millisecond`);
    const page = this.idxPages[ref >>> REF_PAGE_SHIFT];
    let idx = page === undefined ? -1 : page[ref & REF_PAGE_MASK]! - 1;
    if (idx < 0) idx = this.addSeries(ref);
    const n = this.lens[idx]!;
    const pos = n & CHUNK_SAMPLES_MASK;
    let c = this.tailChunk[idx]!;
    if (pos === 0 && n !== 0) c = this.extend(idx);
    const slab = c >>> SLAB_CHUNKS_SHIFT;
    const off = ((c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT) + pos;
    this.pool.tsSlabs[slab]![off] = timestampMs;
    this.pool.valSlabs[slab]![off] = value;
    this.lens[idx] = n + 1;
    this.samples++;
    if (timestampMs > this.maxTByIdx[idx]!) {
      this.maxTByIdx[idx] = timestampMs;
      if (n === 0) this.minTByIdx[idx] = timestampMs;
      if (timestampMs > this.maxT) this.maxT = timestampMs;
    } else {
      this.sortedByIdx[idx] = 0;
      if (timestampMs < this.minTByIdx[idx]!) this.minTByIdx[idx] = timestampMs;
    }
    if (timestampMs < this.minT) this.minT = timestampMs;
  }

  /** Copies the samples (any order, duplicates allowed); values move Float64Array to Float64Array, so NaN payloads survive. */
  appendMany(ref: number, timestampsMs: Float64Array, values: Float64Array): void {
    if (this.frozen) throw new Error('Head.appendMany on a frozen head');
    const k = timestampsMs.length;
    if (values.length !== k) throw new Error(`Head.appendMany: ${k} timestamps but ${values.length} values`);
    this.appendRange(ref, timestampsMs, values, 0, k);
  }

  /**
   * appendMany for every series of a columnar batch: series i (ref refs[i]) owns samples
   * [offsets[i], offsets[i + 1]) of the shared columns. No view or object per series.
   */
  appendBatch(refs: Uint32Array, offsets: Uint32Array, timestampsMs: Float64Array, values: Float64Array): void {
    if (this.frozen) throw new Error('Head.appendBatch on a frozen head');
    const n = refs.length;
    if (offsets.length < n + 1 || timestampsMs.length < offsets[n]! || values.length < offsets[n]!) {
      throw new Error(`Head.appendBatch: ${n} series need ${n + 1} offsets and ${offsets[n]} samples, got ${offsets.length}, ${timestampsMs.length} and ${values.length}`);
    }
    for (let i = 0; i < n; i++) this.appendRange(refs[i]!, timestampsMs, values, offsets[i]!, offsets[i + 1]!);
  }

  /** Appends samples [from, to) of the columns to series `ref`. */
  private appendRange(ref: number, timestampsMs: Float64Array, values: Float64Array, from: number, to: number): void {
    const k = to - from;
    if (k <= 0) return;
    let lo = Infinity;
    for (let i = from; i < to; i++) {
      const t = timestampsMs[i]!;
      if (!Number.isSafeInteger(t)) throw new Error(`Head.appendMany: timestamp ${t} is not an integer millisecond`);
      if (t < lo) lo = t;
    }
    const page = this.idxPages[ref >>> REF_PAGE_SHIFT];
    let idx = page === undefined ? -1 : page[ref & REF_PAGE_MASK]! - 1;
    if (idx < 0) idx = this.addSeries(ref);
    const n = this.lens[idx]!;
    let prevMax = this.maxTByIdx[idx]!;
    let inOrder = true;
    let c = this.tailChunk[idx]!;
    let tsSlab = this.pool.tsSlabs[c >>> SLAB_CHUNKS_SHIFT]!;
    let valSlab = this.pool.valSlabs[c >>> SLAB_CHUNKS_SHIFT]!;
    let base = (c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT;
    for (let i = 0; i < k; i++) {
      const pos = (n + i) & CHUNK_SAMPLES_MASK;
      if (pos === 0 && n + i !== 0) {
        c = this.extend(idx);
        tsSlab = this.pool.tsSlabs[c >>> SLAB_CHUNKS_SHIFT]!;
        valSlab = this.pool.valSlabs[c >>> SLAB_CHUNKS_SHIFT]!;
        base = (c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT;
      }
      const t = timestampsMs[from + i]!;
      tsSlab[base + pos] = t;
      valSlab[base + pos] = values[from + i]!;
      if (t > prevMax) prevMax = t;
      else inOrder = false;
    }
    this.lens[idx] = n + k;
    this.samples += k;
    this.maxTByIdx[idx] = prevMax;
    if (n === 0 || lo < this.minTByIdx[idx]!) this.minTByIdx[idx] = lo;
    if (!inOrder) this.sortedByIdx[idx] = 0;
    if (prevMax > this.maxT) this.maxT = prevMax;
    if (lo < this.minT) this.minT = lo;
  }

  /** After this, appends throw; the head is only read and packed. */
  freeze(): void {
    this.frozen = true;
  }

  /** A copy of the refs of the series with samples in this head. */
  refs(): Bitmap {
    return this.refSet.clone();
  }

  /**
   * Samples of one series within [minTMs, maxTMs], sorted with unique timestamps, copied into
   * fresh arrays (see "Ordering rules" for why not views). Undefined when there are none.
   */
  samplesOf(ref: number, minTMs: number, maxTMs: number): SampleRun | undefined {
    const idx = this.idxOf(ref);
    if (idx < 0) return undefined;
    return this.runOf(idx, minTMs, maxTMs);
  }

  async select(matchers: readonly Matcher[], minTMs: number, maxTMs: number, withSamples: boolean): Promise<SourceSeries[]> {
    if (this.count === 0 || maxTMs < this.minT || minTMs > this.maxT || maxTMs < minTMs) return [];
    const selected = RoaringBitmap32.and(selectPostings(this.registry, matchers), this.refSet);
    const refs = selected.toUint32Array();
    const out: SourceSeries[] = [];
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      const idx = this.idxOf(ref);
      const lo = this.minTByIdx[idx]!;
      const hi = this.maxTByIdx[idx]!;
      if (hi < minTMs || lo > maxTMs) continue;
      let ts = EMPTY;
      let vs = EMPTY;
      if (withSamples) {
        const run = this.runOf(idx, minTMs, maxTMs);
        if (run === undefined) continue;
        ts = run.timestampsMs;
        vs = run.values;
      } else if ((lo < minTMs || hi > maxTMs) && this.rangeOf(idx, minTMs, maxTMs) === 0) {
        // A series wholly inside the range needs no sort or search; others may have a gap there.
        continue;
      }
      out.push({ labels: this.registry.labelsOf(ref), key: this.registry.keyOf(ref), timestampsMs: ts, values: vs });
    }
    return this.registry.hasAliases ? mergeAliases(out, undefined) : out;
  }

  /**
   * A flat copy of every series for the flush worker: series by ascending ref, each sorted with
   * unique timestamps (last write wins). Fresh buffers, safe to transfer to a worker.
   */
  pack(): PackedHead {
    const refList = this.refSet.toUint32Array();
    const n = refList.length;
    const idxs = new Int32Array(n);
    const total = this.sortAll(refList, idxs);
    if (total > 0xffff_ffff) throw new Error(`Head.pack: ${total} samples do not fit uint32 offsets`);
    // Shared memory: the flush worker reads them without a copy or a transfer (shared-arrays.ts).
    let offsets: Uint32Array = sharedUint32Array(n + 1);
    let timestampsMs: Float64Array = sharedFloat64Array(total);
    let values: Float64Array = sharedFloat64Array(total);
    this.copyAll(idxs, offsets, timestampsMs, values);
    const labels: Labels[] = new Array<Labels>(n);
    for (let i = 0; i < n; i++) labels[i] = this.registry.labelsOf(refList[i]!);
    let refs: Uint32Array = refList;
    if (this.registry.hasAliases) {
      ({ refs, offsets, timestampsMs, values } = this.mergePackedAliases(refList, labels, offsets, timestampsMs, values));
      labels.length = refs.length;
    }
    return { labelsJson: JSON.stringify(labels), offsets, timestampsMs, values, refs };
  }

  /** pack() step: sorts every series that needs it, fills idxs, returns the total sample count. */
  private sortAll(refList: Uint32Array, idxs: Int32Array): number {
    let total = 0;
    for (let i = 0; i < refList.length; i++) {
      const idx = this.idxOf(refList[i]!);
      if (this.sortedByIdx[idx] === 0) this.normalize(idx);
      idxs[i] = idx;
      total += this.lens[idx]!;
    }
    return total;
  }

  /** pack() step: copies the series in idxs order into the flat arrays (kept apart so it optimizes alone). */
  private copyAll(idxs: Int32Array, offsets: Uint32Array, timestampsMs: Float64Array, values: Float64Array): void {
    let at = 0;
    for (let i = 0; i < idxs.length; i++) {
      const idx = idxs[i]!;
      const len = this.lens[idx]!;
      offsets[i] = at;
      this.copyOut(idx, 0, len, timestampsMs, values, at);
      at += len;
    }
    offsets[idxs.length] = at;
  }

  assertInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`Head invariant: ${msg}`);
    };
    if (this.refSet.size !== this.count) fail(`refSet has ${this.refSet.size} refs, count ${this.count}`);
    let mapped = 0;
    let pages = 0;
    for (let p = 0; p < this.idxPages.length; p++) {
      const page = this.idxPages[p];
      if (page === undefined) continue;
      pages++;
      for (let j = 0; j < page.length; j++) {
        if (page[j] === 0) continue;
        mapped++;
        if (this.refByIdx[page[j]! - 1] !== (p << REF_PAGE_SHIFT) + j) fail(`page entry for ref ${(p << REF_PAGE_SHIFT) + j} points at the wrong idx`);
      }
    }
    if (pages !== this.idxPageCount) fail(`idxPageCount ${this.idxPageCount}, counted ${pages}`);
    if (mapped !== this.count) fail(`ref table maps ${mapped} refs, count ${this.count}`);
    const free = this.pool.assertInvariants();
    const seen = new Set<number>();
    let samples = 0;
    let minT = Infinity;
    let maxT = -Infinity;
    for (let idx = 0; idx < this.count; idx++) {
      const ref = this.refByIdx[idx]!;
      if (this.idxOf(ref) !== idx) fail(`idx ${idx} ref ${ref} not mapped back`);
      if (!this.refSet.has(ref)) fail(`ref ${ref} missing from refSet`);
      if (!this.registry.hasRef(ref)) fail(`ref ${ref} not registered`);
      const n = this.lens[idx]!;
      if (n < 1) fail(`ref ${ref} has no samples`);
      let chunks = 0;
      let last = NO_CHUNK;
      for (let c = this.headChunk[idx]!; c !== NO_CHUNK; c = this.pool.next[c]!) {
        if (seen.has(c) || free.has(c)) fail(`chunk ${c} of ref ${ref} is shared or free`);
        seen.add(c);
        chunks++;
        last = c;
      }
      if (chunks !== ((n + CHUNK_SAMPLES_MASK) >>> CHUNK_SAMPLES_SHIFT)) fail(`ref ${ref} has ${chunks} chunks for ${n} samples`);
      if (last !== this.tailChunk[idx]) fail(`ref ${ref} tail chunk is not the end of its chain`);
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      this.copyOut(idx, 0, n, ts, vs, 0);
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const t = ts[i]!;
        if (t < lo) lo = t;
        if (t > hi) hi = t;
        if (this.sortedByIdx[idx] === 1 && i > 0 && !(t > ts[i - 1]!)) fail(`ref ${ref} flagged sorted but not at ${i}`);
      }
      if (lo !== this.minTByIdx[idx] || hi !== this.maxTByIdx[idx]) fail(`ref ${ref} min/max ${this.minTByIdx[idx]}/${this.maxTByIdx[idx]}, actual ${lo}/${hi}`);
      if (lo < minT) minT = lo;
      if (hi > maxT) maxT = hi;
      samples += n;
    }
    if (seen.size !== this.pool.chunksInUse) fail(`${seen.size} chunks in chains, pool has ${this.pool.chunksInUse} in use`);
    if (samples !== this.samples) fail(`sampleCount ${this.samples}, actual ${samples}`);
    if (minT !== this.minT || maxT !== this.maxT) fail(`minT/maxT ${this.minT}/${this.maxT}, actual ${minT}/${maxT}`);
  }

  /** idx of ref in this head, or -1. */
  private idxOf(ref: number): number {
    const page = this.idxPages[ref >>> REF_PAGE_SHIFT];
    return page === undefined ? -1 : page[ref & REF_PAGE_MASK]! - 1;
  }

  /** Sorts the series if needed and copies out its samples in range, or undefined when none. */
  private runOf(idx: number, minTMs: number, maxTMs: number): SampleRun | undefined {
    if (this.sortedByIdx[idx] === 0) this.normalize(idx);
    const n = this.lens[idx]!;
    const a = minTMs <= this.minTByIdx[idx]! ? 0 : this.searchIndex(idx, minTMs, false);
    const b = maxTMs >= this.maxTByIdx[idx]! ? n : this.searchIndex(idx, maxTMs, true);
    if (a >= b) return undefined;
    const ts = new Float64Array(b - a);
    const vs = new Float64Array(b - a);
    this.copyOut(idx, a, b, ts, vs, 0);
    return { timestampsMs: ts, values: vs };
  }

  /** Samples of a series in [minTMs, maxTMs] (sorting it first if needed). */
  private rangeOf(idx: number, minTMs: number, maxTMs: number): number {
    if (this.sortedByIdx[idx] === 0) this.normalize(idx);
    const a = this.searchIndex(idx, minTMs, false);
    const b = this.searchIndex(idx, maxTMs, true);
    return Math.max(0, b - a);
  }

  /**
   * In a sorted series, the first index whose timestamp is >= t (upper=false) or > t
   * (upper=true). Walks the chain a chunk at a time, then binary-searches inside the chunk.
   */
  private searchIndex(idx: number, t: number, upper: boolean): number {
    const n = this.lens[idx]!;
    const tsSlabs = this.pool.tsSlabs;
    let i = 0;
    for (let c = this.headChunk[idx]!; c !== NO_CHUNK; c = this.pool.next[c]!) {
      const k = Math.min(n - i, CHUNK_SAMPLES_MASK + 1);
      const slab = tsSlabs[c >>> SLAB_CHUNKS_SHIFT]!;
      const base = (c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT;
      const lastT = slab[base + k - 1]!;
      if (upper ? lastT <= t : lastT < t) {
        i += k;
        continue;
      }
      let lo = 0;
      let hi = k - 1; // the answer is in [0, k-1]: the last sample qualifies
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const v = slab[base + mid]!;
        if (upper ? v <= t : v < t) lo = mid + 1;
        else hi = mid;
      }
      return i + lo;
    }
    return n;
  }

  /** Copies samples [from, to) of a series into outT/outV at offset `at`. */
  private copyOut(idx: number, from: number, to: number, outT: Float64Array, outV: Float64Array, at: number): void {
    const tsSlabs = this.pool.tsSlabs;
    const valSlabs = this.pool.valSlabs;
    const next = this.pool.next;
    let c = this.headChunk[idx]!;
    for (let skip = from >>> CHUNK_SAMPLES_SHIFT; skip > 0; skip--) c = next[c]!;
    let i = from;
    let o = at;
    while (i < to) {
      const slabIdx = c >>> SLAB_CHUNKS_SHIFT;
      const ts = tsSlabs[slabIdx]!;
      const vs = valSlabs[slabIdx]!;
      const base = (c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT;
      const end = Math.min(to, ((i >>> CHUNK_SAMPLES_SHIFT) + 1) << CHUNK_SAMPLES_SHIFT);
      for (let p = base + (i & CHUNK_SAMPLES_MASK), e = base + ((end - 1) & CHUNK_SAMPLES_MASK); p <= e; p++) {
        outT[o] = ts[p]!;
        outV[o] = vs[p]!;
        o++;
      }
      i = end;
      c = next[c]!;
    }
  }

  /** Sorts and de-duplicates a series in place (rewrites its chain, frees chunks it no longer needs). */
  private normalize(idx: number): void {
    const n = this.lens[idx]!;
    if (this.scratch[0]!.length < n) {
      const cap = Math.max(n, this.scratch[0]!.length * 2);
      this.scratch = [new Float64Array(cap), new Float64Array(cap), new Float64Array(cap), new Float64Array(cap)];
    }
    const [ts, vs, outT, outV] = this.scratch;
    this.copyOut(idx, 0, n, ts, vs, 0);
    const m = sortDedupeLastWins(ts, vs, n, outT, outV);
    const tsSlabs = this.pool.tsSlabs;
    const valSlabs = this.pool.valSlabs;
    const next = this.pool.next;
    let c = this.headChunk[idx]!;
    let last = c;
    for (let i = 0; i < m; i++) {
      const pos = i & CHUNK_SAMPLES_MASK;
      if (pos === 0 && i !== 0) c = next[c]!;
      const slabIdx = c >>> SLAB_CHUNKS_SHIFT;
      const off = ((c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT) + pos;
      tsSlabs[slabIdx]![off] = outT[i]!;
      valSlabs[slabIdx]![off] = outV[i]!;
      last = c;
    }
    const rest = next[last]!;
    if (rest !== NO_CHUNK) {
      next[last] = NO_CHUNK;
      this.pool.freeChain(rest);
    }
    this.tailChunk[idx] = last;
    this.samples -= n - m;
    this.lens[idx] = m;
    this.sortedByIdx[idx] = 1;
  }

  /** Links a fresh chunk after the tail of a series and returns it. */
  private extend(idx: number): number {
    const c = this.pool.alloc();
    this.pool.next[this.tailChunk[idx]!] = c;
    this.tailChunk[idx] = c;
    return c;
  }

  private addSeries(ref: number): number {
    if (!this.registry.hasRef(ref)) throw new Error(`Head: series ref ${ref} is not registered`);
    const idx = this.count;
    if (idx === this.refByIdx.length) this.growSlots();
    const c = this.pool.alloc();
    this.refByIdx[idx] = ref;
    this.lens[idx] = 0;
    this.headChunk[idx] = c;
    this.tailChunk[idx] = c;
    this.minTByIdx[idx] = Infinity;
    this.maxTByIdx[idx] = -Infinity;
    this.sortedByIdx[idx] = 1;
    const p = ref >>> REF_PAGE_SHIFT;
    let page = this.idxPages[p];
    if (page === undefined) {
      while (this.idxPages.length < p) this.idxPages.push(undefined);
      this.idxPages[p] = page = new Int32Array(REF_PAGE_SIZE);
      this.idxPageCount++;
    }
    page[ref & REF_PAGE_MASK] = idx + 1;
    this.refSet.add(ref);
    this.count++;
    return idx;
  }

  private growSlots(): void {
    const cap = this.refByIdx.length * 2;
    const grow = <T extends Uint32Array | Int32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.refByIdx = grow(this.refByIdx, (n) => new Uint32Array(n));
    this.lens = grow(this.lens, (n) => new Uint32Array(n));
    this.headChunk = grow(this.headChunk, (n) => new Int32Array(n));
    this.tailChunk = grow(this.tailChunk, (n) => new Int32Array(n));
    this.minTByIdx = grow(this.minTByIdx, (n) => new Float64Array(n));
    this.maxTByIdx = grow(this.maxTByIdx, (n) => new Float64Array(n));
    this.sortedByIdx = grow(this.sortedByIdx, (n) => new Uint8Array(n));
  }

  /** pack() when the registry has aliases: series sharing a key become one, under the newest ref. */
  private mergePackedAliases(
    refList: Uint32Array,
    labels: Labels[],
    offsets: Uint32Array,
    timestampsMs: Float64Array,
    values: Float64Array,
  ): { refs: Uint32Array; offsets: Uint32Array; timestampsMs: Float64Array; values: Float64Array } {
    const series: SourceSeries[] = [];
    for (let i = 0; i < refList.length; i++) {
      series.push({
        labels: labels[i]!,
        key: this.registry.keyOf(refList[i]!),
        timestampsMs: timestampsMs.subarray(offsets[i]!, offsets[i + 1]!),
        values: values.subarray(offsets[i]!, offsets[i + 1]!),
      });
    }
    const refs = Array.from(refList);
    const merged = mergeAliases(series, refs);
    if (merged === series) return { refs: refList, offsets, timestampsMs, values };
    let total = 0;
    for (const s of merged) total += s.timestampsMs.length;
    const outOffsets = sharedUint32Array(merged.length + 1);
    const outT = sharedFloat64Array(total);
    const outV = sharedFloat64Array(total);
    let at = 0;
    for (let i = 0; i < merged.length; i++) {
      const s = merged[i]!;
      outOffsets[i] = at;
      outT.set(s.timestampsMs, at);
      outV.set(s.values, at);
      at += s.timestampsMs.length;
      labels[i] = s.labels;
    }
    outOffsets[merged.length] = at;
    return { refs: Uint32Array.from(refs), offsets: outOffsets, timestampsMs: outT, values: outV };
  }
}

/**
 * Merges series that share a key (aliases of one label set after a crash mid-flush; see
 * series-registry.ts). Input is in ascending ref order, so the newer ref comes later and wins
 * on equal timestamps. Order of first appearance is kept. When refs (parallel to series) is
 * given, it is rewritten in place to match the result, each merged series under its newest ref.
 * Returns the input array itself when nothing was merged.
 */
function mergeAliases(series: SourceSeries[], refs: number[] | undefined): SourceSeries[] {
  const byKey = new Map<string, number>();
  let merged = false;
  const out: SourceSeries[] = [];
  const outRefs: number[] = [];
  for (let k = 0; k < series.length; k++) {
    const s = series[k]!;
    const at = byKey.get(s.key);
    if (at === undefined) {
      byKey.set(s.key, out.length);
      out.push(s);
      if (refs) outRefs.push(refs[k]!);
      continue;
    }
    merged = true;
    if (refs) outRefs[at] = refs[k]!;
    const prev = out[at]!;
    const n = prev.timestampsMs.length + s.timestampsMs.length;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    ts.set(prev.timestampsMs);
    ts.set(s.timestampsMs, prev.timestampsMs.length);
    vs.set(prev.values);
    vs.set(s.values, prev.values.length);
    const outT = new Float64Array(n);
    const outV = new Float64Array(n);
    const m = sortDedupeLastWins(ts, vs, n, outT, outV);
    out[at] = { labels: prev.labels, key: prev.key, timestampsMs: outT.subarray(0, m), values: outV.subarray(0, m) };
  }
  if (!merged) return series;
  if (refs) {
    refs.length = outRefs.length;
    for (let i = 0; i < outRefs.length; i++) refs[i] = outRefs[i]!;
  }
  return out;
}
