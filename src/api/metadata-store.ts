// Metric metadata (type, help, unit) from remote write, per tenant, for /api/v1/metadata.
//
// Kept in memory only and bounded: senders resend all metadata periodically (Prometheus every
// minute by default, `metadata_config.send_interval`), so after a restart the store fills again
// within one interval; persisting it would buy little for the WAL space it costs. When the bound
// is reached the least recently written metric family is dropped to make room, so the families
// that senders keep sending stay.
import type { MetricMetadata, MetricTypeName } from '../ingest/remote-write.js';

/** Upper bound on stored (tenant, metric, variant) entries across all tenants. */
export const METADATA_ENTRIES_MAX = 100_000;
/** Distinct metadata variants kept per metric family (different targets may disagree). */
export const METADATA_VARIANTS_PER_METRIC_MAX = 8;

export interface MetadataEntry {
  type: MetricTypeName;
  help: string;
  unit: string;
}

interface Family {
  /** Keyed by type + help + unit, so a resend of the same metadata is one entry. */
  readonly variants: Map<string, MetadataEntry>;
}

export class MetadataStore {
  private readonly tenants = new Map<string, Map<string, Family>>();
  /** Global recency order of families: "tenant\0metric" keys, least recently written first. */
  private readonly recency = new Map<string, true>();
  private entries = 0;

  constructor(private readonly entriesMax: number = METADATA_ENTRIES_MAX) {
    if (!(entriesMax >= 1)) throw new RangeError(`entriesMax must be >= 1, got ${entriesMax}`);
  }

  /** Records what one remote-write request carried. Empty family names are ignored. */
  add(tenant: string, metadata: readonly MetricMetadata[]): void {
    for (const m of metadata) {
      if (m.metricFamilyName === '') continue;
      let families = this.tenants.get(tenant);
      if (families === undefined) this.tenants.set(tenant, (families = new Map()));
      let fam = families.get(m.metricFamilyName);
      if (fam === undefined) families.set(m.metricFamilyName, (fam = { variants: new Map() }));
      const key = `${m.type}\u0000${m.help}\u0000${m.unit}`;
      if (!fam.variants.has(key)) {
        // Oldest variant gives way: a changed help text replaces the old one over time.
        if (fam.variants.size >= METADATA_VARIANTS_PER_METRIC_MAX) {
          fam.variants.delete(fam.variants.keys().next().value!);
          this.entries--;
        }
        fam.variants.set(key, { type: m.type, help: m.help, unit: m.unit });
        this.entries++;
      }
      const rk = `${tenant}\u0000${m.metricFamilyName}`;
      this.recency.delete(rk);
      this.recency.set(rk, true);
      while (this.entries > this.entriesMax) this.evictOldest(rk);
    }
  }

  /** Families dropped until the bound holds; never the one just written (protect). */
  private evictOldest(protect: string): void {
    for (const rk of this.recency.keys()) {
      if (rk === protect) continue;
      const sep = rk.indexOf('\u0000');
      const tenant = rk.slice(0, sep);
      const families = this.tenants.get(tenant)!;
      const fam = families.get(rk.slice(sep + 1))!;
      this.entries -= fam.variants.size;
      families.delete(rk.slice(sep + 1));
      if (families.size === 0) this.tenants.delete(tenant);
      this.recency.delete(rk);
      return;
    }
    // Only the protected family is left and it alone exceeds the bound: trim its variants.
    const sep = protect.indexOf('\u0000');
    const fam = this.tenants.get(protect.slice(0, sep))!.get(protect.slice(sep + 1))!;
    fam.variants.delete(fam.variants.keys().next().value!);
    this.entries--;
  }

  /**
   * The /api/v1/metadata answer, as Prometheus builds it: families sorted by name (Prometheus
   * iterates a Go map; sorted is deterministic), at most `limit` families when limit >= 0, at most
   * `limitPerMetric` entries each when > 0; `metric` restricts to one family.
   */
  query(tenant: string, opts: { metric?: string; limit?: number; limitPerMetric?: number } = {}): Record<string, MetadataEntry[]> {
    const out: Record<string, MetadataEntry[]> = {};
    const families = this.tenants.get(tenant);
    if (families === undefined) return out;
    const limit = opts.limit ?? -1;
    const perMetric = opts.limitPerMetric ?? -1;
    const names = opts.metric !== undefined && opts.metric !== '' ? (families.has(opts.metric) ? [opts.metric] : []) : [...families.keys()].sort();
    let count = 0;
    for (const name of names) {
      if (limit >= 0 && count >= limit) break;
      let list = [...families.get(name)!.variants.values()];
      if (perMetric > 0) list = list.slice(0, perMetric);
      out[name] = list.map((e) => ({ ...e }));
      count++;
    }
    return out;
  }

  size(): number {
    return this.entries;
  }

  assertInvariants(): void {
    let n = 0;
    let families = 0;
    for (const [tenant, fams] of this.tenants) {
      if (fams.size === 0) throw new Error(`metadata store: empty tenant map for ${tenant}`);
      for (const [name, fam] of fams) {
        if (fam.variants.size === 0 || fam.variants.size > METADATA_VARIANTS_PER_METRIC_MAX) throw new Error(`metadata store: ${tenant}/${name} has ${fam.variants.size} variants`);
        if (!this.recency.has(`${tenant}\u0000${name}`)) throw new Error(`metadata store: ${tenant}/${name} missing from recency order`);
        n += fam.variants.size;
        families++;
      }
    }
    if (n !== this.entries) throw new Error(`metadata store: counted ${n} entries, tracked ${this.entries}`);
    if (families !== this.recency.size) throw new Error(`metadata store: ${families} families, ${this.recency.size} in recency order`);
    if (this.entries > this.entriesMax) throw new Error(`metadata store: ${this.entries} entries exceed the bound ${this.entriesMax}`);
  }
}
