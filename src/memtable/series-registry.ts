// The series registry of one tenant: label set <-> series ref, and the inverted index
// (label name=value -> roaring bitmap of refs) that selectPostings() runs matchers against.
//
// It lives for the whole process and is shared by the tenant's active head and its frozen
// heads. Refs are uint32, start at 1 and are never reused while the process runs; they are
// stable across restarts because the WAL records `ref -> labels` and replay calls restore().
//
// Invariants (checked by assertInvariants):
// - every registered ref is in allPostings, and in postings(name, value) for each of its labels,
//   and in no other posting list; no posting list is empty;
// - keyToRef maps each key to a registered ref whose key it is; every registered key has an entry;
// - nextRef > every registered ref.
//
// Aliases: after a crash in the middle of a flush, the WAL can hold two definitions of the same
// label set under different refs (the old ref was dropped by retainOnly before the crash, the
// label set came back under a new ref, and the flush that made the old one obsolete never
// reached the manifest). restore() accepts that: both refs stay registered with the same labels
// and getRef() answers the newest. Heads merge such refs into one series when they read or pack
// (see Head.select and Head.pack), so no reader sees two series with one key.
import { MochaError } from '../errors.js';
import { labelsKey, type Labels } from '../model/labels.js';
import { RoaringBitmap32, type Bitmap, type PostingsIndex } from '../model/postings.js';

/** Refs are uint32 and 0 is never a ref (it is the "none" value of dense arrays elsewhere). */
export const SERIES_REF_MAX = 0xffff_ffff;

interface SeriesEntry {
  readonly labels: Labels;
  readonly key: string;
}

// bytesEstimate() constants: V8 object and Map-entry sizes measured roughly with
// process.memoryUsage() on Node 20 (pointer compression off); an estimate, not an account.
const ENTRY_OVERHEAD_BYTES = 330; // entry object, two Map entries, the labels array, roaring growth; see bench/micro/memtable-append.ts
const LABEL_OVERHEAD_BYTES = 56; // one {name, value} object plus two string headers
const POSTING_REF_BYTES = 4; // roaring array containers hold 2 bytes per ref; round up for slack
const POSTING_LIST_BYTES = 96; // a RoaringBitmap32 wrapper, its native struct and a Map entry

export class SeriesRegistry implements PostingsIndex {
  private readonly byRef = new Map<number, SeriesEntry>();
  private readonly keyToRef = new Map<string, number>();
  private readonly index = new Map<string, Map<string, Bitmap>>();
  private readonly all = new RoaringBitmap32();
  private nextRef = 1;
  /** For label sets registered under several refs (see "Aliases"): the refs keyToRef does not answer. */
  private readonly aliasRefs = new Map<string, number[]>();
  private aliasCount = 0;
  private bytes = 0;
  /**
   * Moves whenever a key's ref may change other than by create() (a series dropped, or an alias
   * restored), so a remembered key -> ref (SeriesRefMemo) is valid while the epoch is the same.
   */
  epoch = 0;

  get size(): number {
    return this.byRef.size;
  }

  /** True when some label set is registered under more than one ref (rare; after a crash mid-flush). */
  get hasAliases(): boolean {
    return this.aliasCount > 0;
  }

  getRef(key: string): number | undefined {
    return this.keyToRef.get(key);
  }

  hasRef(ref: number): boolean {
    return this.byRef.has(ref);
  }

  /** Registers a new label set (the caller checked getRef first) and returns its fresh ref. */
  create(labels: Labels, key: string): number {
    if (this.keyToRef.has(key)) throw new Error(`SeriesRegistry.create: ${JSON.stringify(key)} is already registered`);
    if (this.nextRef > SERIES_REF_MAX) {
      throw new MochaError('INTERNAL', `series refs exhausted: ${SERIES_REF_MAX} series were created since the process started`);
    }
    const ref = this.nextRef++;
    this.insert(ref, labels, key);
    this.keyToRef.set(key, ref);
    return ref;
  }

  /**
   * Registers a definition read from the WAL under its recorded ref. Idempotent for the same
   * labels; the same ref with other labels is corruption. The same labels under a second ref is
   * legal (see "Aliases"): the newest ref wins getRef().
   */
  restore(ref: number, labels: Labels): void {
    if (!Number.isInteger(ref) || ref < 1 || ref > SERIES_REF_MAX) {
      throw new MochaError('WAL_CORRUPT', `series definition with invalid ref ${ref}`, { ref });
    }
    const key = labelsKey(labels);
    this.epoch++;
    const existing = this.byRef.get(ref);
    if (existing !== undefined) {
      if (existing.key === key) return;
      throw new MochaError('WAL_CORRUPT', `series ref ${ref} redefined: was ${JSON.stringify(existing.labels)}, now ${JSON.stringify(labels)}`, {
        ref,
      });
    }
    this.insert(ref, labels, key);
    if (ref >= this.nextRef) this.nextRef = ref + 1;
    const current = this.keyToRef.get(key);
    if (current === undefined) {
      this.keyToRef.set(key, ref);
    } else {
      // Either this ref or the one already mapped becomes an alias; the newer (higher) one wins.
      let list = this.aliasRefs.get(key);
      if (list === undefined) this.aliasRefs.set(key, (list = []));
      if (ref > current) {
        this.keyToRef.set(key, ref);
        list.push(current);
      } else {
        list.push(ref);
      }
      this.aliasCount++;
    }
  }

  labelsOf(ref: number): Labels {
    return this.entry(ref).labels;
  }

  keyOf(ref: number): string {
    return this.entry(ref).key;
  }

  /** A copy: callers (selectPostings with no matchers) may hand it on and mutate it. */
  allPostings(): Bitmap {
    return this.all.clone();
  }

  labelValues(name: string): Iterable<string> {
    return this.index.get(name)?.keys() ?? [];
  }

  /** The live posting list (read-only for the caller: selectPostings clones before handing on). */
  postings(name: string, value: string): Bitmap | undefined {
    return this.index.get(name)?.get(value);
  }

  /** Sorted label names present on at least one registered series. */
  labelNames(): string[] {
    return [...this.index.keys()].sort();
  }

  /** Rough heap bytes of labels, keys, maps and postings; O(1), maintained incrementally. */
  bytesEstimate(): number {
    return this.bytes;
  }

  /** Drops series not in keep (used after a flush to forget series with no recent samples); returns how many. */
  retainOnly(keep: Bitmap): number {
    const dropped = RoaringBitmap32.andNot(this.all, keep);
    if (dropped.isEmpty) return 0;
    const refs = dropped.toUint32Array();
    this.epoch++;
    for (let i = 0; i < refs.length; i++) this.remove(refs[i]!);
    this.all.andNotInPlace(dropped);
    return refs.length;
  }

  assertInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`SeriesRegistry invariant: ${msg}`);
    };
    if (this.all.size !== this.byRef.size) fail(`allPostings has ${this.all.size} refs, registry ${this.byRef.size}`);
    let aliases = 0;
    const expected = new Map<string, Map<string, number>>();
    for (const [ref, e] of this.byRef) {
      if (!this.all.has(ref)) fail(`ref ${ref} missing from allPostings`);
      if (ref >= this.nextRef) fail(`ref ${ref} >= nextRef ${this.nextRef}`);
      if (labelsKey(e.labels) !== e.key) fail(`ref ${ref} key does not match its labels`);
      const mapped = this.keyToRef.get(e.key);
      if (mapped === undefined) fail(`key of ref ${ref} not in keyToRef`);
      if (mapped !== ref) aliases++;
      for (const l of e.labels) {
        if (this.index.get(l.name)?.get(l.value)?.has(ref) !== true) fail(`ref ${ref} missing from postings ${l.name}=${l.value}`);
        let byValue = expected.get(l.name);
        if (!byValue) expected.set(l.name, (byValue = new Map()));
        byValue.set(l.value, (byValue.get(l.value) ?? 0) + 1);
      }
    }
    for (const [key, ref] of this.keyToRef) {
      if (this.byRef.get(ref)?.key !== key) fail(`keyToRef maps ${JSON.stringify(key)} to ref ${ref} of another key`);
    }
    if (aliases !== this.aliasCount) fail(`aliasCount ${this.aliasCount}, counted ${aliases}`);
    let listed = 0;
    for (const [key, list] of this.aliasRefs) {
      if (list.length === 0) fail(`empty alias list for ${JSON.stringify(key)}`);
      for (const r of list) if (this.byRef.get(r)?.key !== key || this.keyToRef.get(key) === r) fail(`bad alias ref ${r}`);
      listed += list.length;
    }
    if (listed !== this.aliasCount) fail(`alias lists hold ${listed} refs, aliasCount ${this.aliasCount}`);
    for (const [name, byValue] of this.index) {
      if (byValue.size === 0) fail(`empty value map for ${name}`);
      for (const [value, bm] of byValue) {
        // Equal counts plus the membership check above mean no posting list holds a stray ref.
        if (bm.size !== (expected.get(name)?.get(value) ?? 0)) fail(`postings ${name}=${value} has ${bm.size} refs, expected ${expected.get(name)?.get(value) ?? 0}`);
      }
    }
  }

  private entry(ref: number): SeriesEntry {
    const e = this.byRef.get(ref);
    if (e === undefined) throw new Error(`series ref ${ref} is not registered`);
    return e;
  }

  private insert(ref: number, labels: Labels, key: string): void {
    this.byRef.set(ref, { labels, key });
    this.all.add(ref);
    let bytes = ENTRY_OVERHEAD_BYTES + 2 * key.length;
    for (const l of labels) {
      let byValue = this.index.get(l.name);
      if (byValue === undefined) this.index.set(l.name, (byValue = new Map()));
      let bm = byValue.get(l.value);
      if (bm === undefined) {
        byValue.set(l.value, (bm = new RoaringBitmap32()));
        bytes += POSTING_LIST_BYTES;
      }
      bm.add(ref);
      bytes += LABEL_OVERHEAD_BYTES + 2 * (l.name.length + l.value.length) + POSTING_REF_BYTES;
    }
    this.bytes += bytes;
  }

  private remove(ref: number): void {
    const e = this.entry(ref);
    this.byRef.delete(ref);
    let bytes = ENTRY_OVERHEAD_BYTES + 2 * e.key.length;
    for (const l of e.labels) {
      const byValue = this.index.get(l.name)!;
      const bm = byValue.get(l.value)!;
      bm.remove(ref);
      if (bm.isEmpty) {
        byValue.delete(l.value);
        bytes += POSTING_LIST_BYTES;
        if (byValue.size === 0) this.index.delete(l.name);
      }
      bytes += LABEL_OVERHEAD_BYTES + 2 * (l.name.length + l.value.length) + POSTING_REF_BYTES;
    }
    this.bytes -= bytes;
    const list = this.aliasCount > 0 ? this.aliasRefs.get(e.key) : undefined;
    if (list === undefined) {
      this.keyToRef.delete(e.key);
      return;
    }
    if (this.keyToRef.get(e.key) === ref) {
      // The newest remaining alias takes over the key.
      let at = 0;
      for (let i = 1; i < list.length; i++) if (list[i]! > list[at]!) at = i;
      this.keyToRef.set(e.key, list[at]!);
      list.splice(at, 1);
    } else {
      list.splice(list.indexOf(ref), 1);
    }
    if (list.length === 0) this.aliasRefs.delete(e.key);
    this.aliasCount--;
  }
}
