// Sample storage of one head: fixed-size chunks of CHUNK_SAMPLES (timestamp, value) pairs carved
// out of large slabs, so no series owns a typed array of its own.
//
// Why: a per-series Float64Array costs ~300 bytes of V8 and allocator overhead and ~1.5 µs to
// allocate once it outgrows V8's on-heap limit (64 bytes), and growing one by doubling copies
// the series and leaves up to half of it empty. Chunks never move: an append writes in place,
// the slack is at most one partly filled chunk per series, and a whole head is freed at once
// when it is dropped. Measured with bench/micro/memtable-append.ts.
//
// A chunk id c lives in slab c >>> SLAB_CHUNKS_SHIFT at sample offset
// (c & SLAB_CHUNKS_MASK) << CHUNK_SAMPLES_SHIFT, in tsSlabs (timestamps) and valSlabs (values).
// Series chain their chunks through next[]; free chunks are chained from freeHead the same way.

export const CHUNK_SAMPLES_SHIFT = 4;
/** 16 samples (256 bytes of ts+value) per chunk: slack per series stays small for short series. */
export const CHUNK_SAMPLES = 1 << CHUNK_SAMPLES_SHIFT;
export const CHUNK_SAMPLES_MASK = CHUNK_SAMPLES - 1;
export const SLAB_CHUNKS_SHIFT = 10;
/** 1024 chunks = 16,384 samples = 256 KiB of timestamps and values per slab. */
export const SLAB_CHUNKS = 1 << SLAB_CHUNKS_SHIFT;
export const SLAB_CHUNKS_MASK = SLAB_CHUNKS - 1;
const SLAB_SAMPLES = SLAB_CHUNKS * CHUNK_SAMPLES;
/** Chunk ids are int32 (next[] uses -1 for "none"): at most 2^31 chunks, i.e. 32 G samples, per head. */
const CHUNKS_MAX = 0x7fff_ffff;

export const NO_CHUNK = -1;

export class ChunkPool {
  readonly tsSlabs: Float64Array[] = [];
  readonly valSlabs: Float64Array[] = [];
  /** next[c]: the chunk after c in its series (or in the free list); NO_CHUNK at the end. */
  next: Int32Array = new Int32Array(SLAB_CHUNKS);
  private freeHead = NO_CHUNK;
  private freeCount = 0;
  /** Chunks ever carved from slabs (ids 0..bumped-1). */
  private bumped = 0;

  /** Chunks handed out and not freed. */
  get chunksInUse(): number {
    return this.bumped - this.freeCount;
  }

  get chunksFree(): number {
    return this.freeCount;
  }

  /** Bytes of slabs and chain links (what the pool holds, used or not). */
  bytes(): number {
    return this.tsSlabs.length * SLAB_SAMPLES * 16 + this.next.length * 4;
  }

  /** A chunk with next = NO_CHUNK. Its contents are stale; the caller writes before reading. */
  alloc(): number {
    let c = this.freeHead;
    if (c !== NO_CHUNK) {
      this.freeHead = this.next[c]!;
      this.freeCount--;
    } else {
      c = this.bumped;
      if (c === CHUNKS_MAX) throw new Error(`ChunkPool: ${CHUNKS_MAX} chunks in one head`);
      if ((c & SLAB_CHUNKS_MASK) === 0 && c >>> SLAB_CHUNKS_SHIFT === this.tsSlabs.length) this.addSlab();
      this.bumped = c + 1;
    }
    this.next[c] = NO_CHUNK;
    return c;
  }

  /** Returns the chain starting at first (through its end) to the free list. */
  freeChain(first: number): void {
    let c = first;
    let last = NO_CHUNK;
    let n = 0;
    while (c !== NO_CHUNK) {
      last = c;
      n++;
      c = this.next[c]!;
    }
    if (last === NO_CHUNK) return;
    this.next[last] = this.freeHead;
    this.freeHead = first;
    this.freeCount += n;
  }

  /** Checks the free list against the counters; returns the set of free chunk ids. */
  assertInvariants(): Set<number> {
    const free = new Set<number>();
    let c = this.freeHead;
    while (c !== NO_CHUNK) {
      if (c < 0 || c >= this.bumped) throw new Error(`ChunkPool invariant: free chunk ${c} out of range [0, ${this.bumped})`);
      if (free.has(c)) throw new Error(`ChunkPool invariant: free list has a cycle at ${c}`);
      free.add(c);
      c = this.next[c]!;
    }
    if (free.size !== this.freeCount) throw new Error(`ChunkPool invariant: freeCount ${this.freeCount}, listed ${free.size}`);
    if (this.tsSlabs.length !== this.valSlabs.length) throw new Error('ChunkPool invariant: slab lists differ');
    if (this.bumped > this.tsSlabs.length * SLAB_CHUNKS) throw new Error('ChunkPool invariant: bumped past the slabs');
    return free;
  }

  private addSlab(): void {
    this.tsSlabs.push(new Float64Array(SLAB_SAMPLES));
    this.valSlabs.push(new Float64Array(SLAB_SAMPLES));
    const needed = this.tsSlabs.length * SLAB_CHUNKS;
    if (this.next.length < needed) {
      const grown = new Int32Array(Math.max(needed, this.next.length * 2));
      grown.set(this.next);
      this.next = grown;
    }
  }
}
