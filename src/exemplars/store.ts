// Exemplar storage, kept the way Prometheus keeps it (tsdb/exemplar.go, CircularExemplarStorage):
// per tenant, one circular buffer of a fixed number of exemplars shared by all series, with an
// index from series to a linked list through the buffer (oldest to newest). A new exemplar
// overwrites the oldest of the whole buffer, which is always the oldest of its own series, so
// unlinking it is O(1).
//
// Differences from Prometheus, and why:
// - A duplicate (same series, timestamp, value and labels as one still held) is dropped however
//   old it is, not only when it equals the newest of its series: a sender that retries a batch
//   resends exemplars that may no longer be the newest, and they must not be stored twice.
// - An exemplar older than the newest of its series is kept (Prometheus refuses it as out of
//   order): the buffer is a recent history, order is restored at query time, and refusing would
//   turn into a 400 for the whole request under this project's rule that rejections are reported.
// - Labels over EXEMPLAR_LABELS_RUNES_MAX runes (names and values together) are refused, as upstream.
//
// Durability is the engine's: admitted exemplars are logged in the WAL batch of their request
// (ExemplarSink in src/ingest/pipeline.ts), replayed at start (replay), and logged again after each
// flush's WAL cut (retained), so truncating the WAL never loses the buffer.
import { EXEMPLAR_LABELS_RUNES_MAX } from '../constants.js';
import type { ExemplarLog } from '../engine.js';
import { compareLabels, labelsKey, type Labels } from '../model/labels.js';
import type { Matcher } from '../model/matchers.js';
import type { ExemplarInput, ExemplarSink, RejectionTally } from '../ingest/pipeline.js';
import { seriesText } from '../ingest/pipeline.js';
import type { WalExemplar } from '../wal/records.js';

/** One stored exemplar, as the query API returns it. */
export interface StoredExemplar {
  readonly labels: Labels;
  readonly value: number;
  readonly timestampMs: number;
}

export interface SeriesExemplars {
  readonly seriesLabels: Labels;
  /** Oldest first. */
  readonly exemplars: StoredExemplar[];
}

interface Slot {
  seriesKey: string;
  labels: Labels;
  value: number;
  timestampMs: number;
  /** The next (newer) slot of the same series, or -1. */
  next: number;
  dedupKey: string;
}

interface SeriesIndex {
  readonly seriesLabels: Labels;
  oldest: number;
  newest: number;
  count: number;
}

/** One tenant's buffer. */
class TenantBuffer {
  private readonly slots: Array<Slot | undefined>;
  /** Where the next exemplar goes; the slot there (if any) is the oldest. */
  private nextSlot = 0;
  private readonly index = new Map<string, SeriesIndex>();
  private readonly held = new Set<string>();

  constructor(readonly capacity: number) {
    this.slots = new Array<Slot | undefined>(capacity);
  }

  get size(): number {
    return this.held.size;
  }

  holds(dedupKey: string): boolean {
    return this.held.has(dedupKey);
  }

  add(e: WalExemplar, seriesKey: string, dedupKey: string): boolean {
    if (this.capacity === 0 || this.held.has(dedupKey)) return false;
    const at = this.nextSlot;
    const old = this.slots[at];
    if (old !== undefined) this.evict(old);
    const slot: Slot = { seriesKey, labels: e.labels, value: e.value, timestampMs: e.timestampMs, next: -1, dedupKey };
    this.slots[at] = slot;
    this.held.add(dedupKey);
    const idx = this.index.get(seriesKey);
    if (idx === undefined) this.index.set(seriesKey, { seriesLabels: e.seriesLabels, oldest: at, newest: at, count: 1 });
    else {
      this.slots[idx.newest]!.next = at;
      idx.newest = at;
      idx.count++;
    }
    this.nextSlot = (at + 1) % this.capacity;
    return true;
  }

  /** The slot being overwritten is the oldest of the buffer, hence of its series. */
  private evict(old: Slot): void {
    this.held.delete(old.dedupKey);
    const idx = this.index.get(old.seriesKey)!;
    if (idx.count === 1) this.index.delete(old.seriesKey);
    else {
      idx.oldest = old.next;
      idx.count--;
    }
  }

  /** Exemplars of series matching every matcher of one of the sets, in [minTMs, maxTMs]. */
  select(matcherSets: ReadonlyArray<readonly Matcher[]>, minTMs: number, maxTMs: number): SeriesExemplars[] {
    const out: SeriesExemplars[] = [];
    for (const idx of this.index.values()) {
      if (!matcherSets.some((ms) => matchesAll(idx.seriesLabels, ms))) continue;
      const exemplars: StoredExemplar[] = [];
      for (let at = idx.oldest; at !== -1; at = this.slots[at]!.next) {
        const s = this.slots[at]!;
        if (s.timestampMs >= minTMs && s.timestampMs <= maxTMs) exemplars.push({ labels: s.labels, value: s.value, timestampMs: s.timestampMs });
      }
      if (exemplars.length === 0) continue;
      // Stable: equal timestamps keep arrival order.
      exemplars.sort((a, b) => a.timestampMs - b.timestampMs);
      out.push({ seriesLabels: idx.seriesLabels, exemplars });
    }
    return out.sort((a, b) => compareLabels(a.seriesLabels, b.seriesLabels));
  }

  /** Everything held, oldest first. */
  all(): WalExemplar[] {
    const out: WalExemplar[] = [];
    for (let k = 0; k < this.capacity; k++) {
      const s = this.slots[(this.nextSlot + k) % this.capacity];
      if (s === undefined) continue;
      out.push({ seriesLabels: this.index.get(s.seriesKey)!.seriesLabels, labels: s.labels, value: s.value, timestampMs: s.timestampMs });
    }
    return out;
  }

  assertInvariants(): void {
    const fail = (m: string): never => {
      throw new Error(`exemplar buffer invariant broken: ${m}`);
    };
    let linked = 0;
    for (const [key, idx] of this.index) {
      let n = 0;
      let last = -1;
      for (let at = idx.oldest; at !== -1; at = this.slots[at]!.next) {
        const s = this.slots[at];
        if (s === undefined || s.seriesKey !== key) fail(`series ${key} links to a slot of another series`);
        last = at;
        n++;
        if (n > this.capacity) fail(`cycle in series ${key}`);
      }
      if (n !== idx.count || last !== idx.newest) fail(`series ${key}: count ${idx.count}, walked ${n}`);
      linked += n;
    }
    if (linked !== this.held.size) fail(`${linked} linked slots, ${this.held.size} held`);
  }
}

function matchesAll(labels: Labels, matchers: readonly Matcher[]): boolean {
  for (const m of matchers) {
    let v = '';
    for (const l of labels) {
      if (l.name === m.name) {
        v = l.value;
        break;
      }
    }
    if (!m.matches(v)) return false;
  }
  return true;
}

/** Runes (code points) of all label names and values, as Go's utf8.RuneCountInString. */
export function exemplarLabelRunes(labels: Labels): number {
  let n = 0;
  for (const l of labels) n += runeCount(l.name) + runeCount(l.value);
  return n;
}

function runeCount(s: string): number {
  let n = s.length;
  // A surrogate pair is two UTF-16 units but one rune.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Exact identity of an exemplar: series, timestamp, value bits, labels. */
function dedupKeyOf(seriesKey: string, e: WalExemplar): string {
  // Object.is semantics for the value: -0 and 0 differ, every NaN is one value (as JSON would show it).
  const v = Object.is(e.value, -0) ? '-0' : String(e.value);
  return `${seriesKey}\u0000${e.timestampMs}\u0000${v}\u0000${labelsKey(e.labels)}`;
}

export interface ExemplarStoreOptions {
  /** Buffer size of a tenant; 0 = the tenant's exemplars are not stored (ignored, counted). */
  capacityFor: (tenant: string) => number;
}

export class ExemplarStore implements ExemplarSink, ExemplarLog {
  private readonly tenants = new Map<string, TenantBuffer>();
  private ignoredCount = 0;

  constructor(private readonly opts: ExemplarStoreOptions) {}

  private buffer(tenant: string): TenantBuffer | undefined {
    let b = this.tenants.get(tenant);
    if (b === undefined) {
      const capacity = this.opts.capacityFor(tenant);
      if (!(capacity > 0)) return undefined;
      b = new TenantBuffer(capacity);
      this.tenants.set(tenant, b);
    }
    return b;
  }

  admit(tenant: string, exemplars: readonly ExemplarInput[], rejected: RejectionTally): ExemplarInput[] {
    const b = this.buffer(tenant);
    if (b === undefined) {
      this.ignoredCount += exemplars.length;
      return [];
    }
    const out: ExemplarInput[] = [];
    const inBatch = new Set<string>();
    for (const e of exemplars) {
      const runes = exemplarLabelRunes(e.labels);
      if (runes > EXEMPLAR_LABELS_RUNES_MAX) {
        rejected.add('invalid_exemplar', 1, 0, `exemplar labels of ${seriesText(e.seriesLabels)} have ${runes} runes, above the limit of ${EXEMPLAR_LABELS_RUNES_MAX}`);
        continue;
      }
      if (!Number.isFinite(e.timestampMs)) {
        rejected.add('invalid_exemplar', 1, 0, `exemplar of ${seriesText(e.seriesLabels)} has no valid timestamp`);
        continue;
      }
      const key = dedupKeyOf(e.seriesKey, e);
      if (b.holds(key) || inBatch.has(key)) continue; // a resend: already stored
      inBatch.add(key);
      out.push(e);
    }
    return out;
  }

  append(tenant: string, exemplars: readonly ExemplarInput[]): number {
    const b = this.buffer(tenant);
    if (b === undefined) return 0;
    let n = 0;
    for (const e of exemplars) if (b.add(e, e.seriesKey, dedupKeyOf(e.seriesKey, e))) n++;
    return n;
  }

  replay(tenant: string, exemplars: readonly WalExemplar[]): void {
    const b = this.buffer(tenant);
    if (b === undefined) return;
    for (const e of exemplars) {
      const seriesKey = labelsKey(e.seriesLabels);
      b.add(e, seriesKey, dedupKeyOf(seriesKey, e));
    }
  }

  *retained(): Iterable<{ tenant: string; exemplars: readonly WalExemplar[] }> {
    for (const [tenant, b] of this.tenants) if (b.size > 0) yield { tenant, exemplars: b.all() };
  }

  /**
   * Exemplars of the series that match one of the matcher sets (one set per selector of a
   * query), in [minTMs, maxTMs]; series sorted by labels, exemplars by time.
   */
  select(tenant: string, matcherSets: ReadonlyArray<readonly Matcher[]>, minTMs: number, maxTMs: number): SeriesExemplars[] {
    return this.tenants.get(tenant)?.select(matcherSets, minTMs, maxTMs) ?? [];
  }

  /** Exemplars held, over all tenants. */
  size(): number {
    let n = 0;
    for (const b of this.tenants.values()) n += b.size;
    return n;
  }

  /** Exemplars dropped because their tenant's buffer size is 0. */
  ignored(): number {
    return this.ignoredCount;
  }

  assertInvariants(): void {
    for (const b of this.tenants.values()) b.assertInvariants();
  }
}
