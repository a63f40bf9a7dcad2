// Metric metadata (type, help, unit) from remote write, per tenant, for /api/v1/metadata.
//
// Bounded, in memory, and saved to <data-dir>/metadata.json (docs/FORMAT.md, "Metric metadata"):
// Prometheus resends metadata every minute (`metadata_config.send_interval`), but a 2.0 sender
// only sends it with series, and OTLP senders only with their data points, so without the file
// Grafana's metric browser would show no help or type after a restart until every family was sent
// again. The file is small (bounded by METADATA_ENTRIES_MAX), rewritten whole (temp file, fsync,
// rename) at most every METADATA_SAVE_INTERVAL_MS when something changed, and on close; a crash
// loses at most that interval of changes, which senders resend. Metadata is advisory, so an
// unreadable file is logged and replaced, never a reason not to start.
//
// When the bound is reached the least recently written metric family is dropped to make room, so
// the families that senders keep sending stay.
import fs from 'node:fs';
import path from 'node:path';
import { METADATA_SAVE_INTERVAL_MS } from '../constants.js';
import type { MetricMetadata, MetricTypeName } from '../ingest/remote-write.js';
import { METRIC_TYPE_NAMES } from '../ingest/remote-write.js';

/** Name of the file in the data directory. */
export const METADATA_FILE_NAME = 'metadata.json';
/** Version of its format (docs/FORMAT.md). */
export const METADATA_FILE_VERSION = 1;

export interface MetadataPersistence {
  /** The file: <data-dir>/metadata.json. */
  file: string;
  /** Save at most this often when changed; default METADATA_SAVE_INTERVAL_MS. */
  saveIntervalMs?: number;
  /** Told about unreadable files and failed saves (the store carries on in memory). */
  warn?: (message: string, err?: unknown) => void;
}

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
  /** Changed since the last save. */
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;

  constructor(
    private readonly entriesMax: number = METADATA_ENTRIES_MAX,
    private readonly persistence?: MetadataPersistence,
  ) {
    if (!(entriesMax >= 1)) throw new RangeError(`entriesMax must be >= 1, got ${entriesMax}`);
  }

  /**
   * A store backed by a file: loads it (synchronously: it is small and this runs once at start),
   * then saves every saveIntervalMs when changed. Call close() to save the last changes.
   */
  static open(persistence: MetadataPersistence, entriesMax: number = METADATA_ENTRIES_MAX): MetadataStore {
    const store = new MetadataStore(entriesMax, persistence);
    store.load();
    const interval = persistence.saveIntervalMs ?? METADATA_SAVE_INTERVAL_MS;
    store.timer = setInterval(() => void store.save(), interval);
    store.timer.unref();
    return store;
  }

  private load(): void {
    const p = this.persistence!;
    let text: string;
    try {
      text = fs.readFileSync(p.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') p.warn?.(`cannot read ${p.file}; starting without stored metadata`, e);
      return;
    }
    try {
      const doc = JSON.parse(text) as { version?: unknown; families?: unknown };
      if (doc.version !== METADATA_FILE_VERSION) throw new Error(`unsupported version ${JSON.stringify(doc.version)} (expected ${METADATA_FILE_VERSION})`);
      if (!Array.isArray(doc.families)) throw new Error('"families" is not an array');
      for (const f of doc.families as unknown[]) {
        const fam = f as { tenant?: unknown; metric?: unknown; variants?: unknown };
        if (typeof fam.tenant !== 'string' || typeof fam.metric !== 'string' || !Array.isArray(fam.variants)) throw new Error('a family entry lacks tenant, metric or variants');
        const list: MetricMetadata[] = [];
        for (const v of fam.variants as unknown[]) {
          const e = v as { type?: unknown; help?: unknown; unit?: unknown };
          if (typeof e.help !== 'string' || typeof e.unit !== 'string' || !METRIC_TYPE_NAMES.includes(e.type as MetricTypeName)) throw new Error(`a variant of ${fam.metric} is malformed`);
          list.push({ metricFamilyName: fam.metric, type: e.type as MetricTypeName, help: e.help, unit: e.unit });
        }
        this.add(fam.tenant, list);
      }
      this.dirty = false;
    } catch (e) {
      this.tenants.clear();
      this.recency.clear();
      this.entries = 0;
      p.warn?.(`${p.file} is not a valid metadata file (${(e as Error).message}); starting without stored metadata, it is rewritten at the next save`);
    }
  }

  /** Writes the file if something changed since the last save (temp file, fsync, rename). */
  save(): Promise<void> {
    const p = this.persistence;
    if (p === undefined || !this.dirty) return this.saving ?? Promise.resolve();
    if (this.saving !== undefined) return this.saving.then(() => this.save());
    this.dirty = false;
    const text = this.serialize();
    this.saving = writeFileAtomic(p.file, text)
      .catch((e: unknown) => {
        this.dirty = true; // try again at the next tick
        p.warn?.(`cannot save metric metadata to ${p.file}`, e);
      })
      .finally(() => {
        this.saving = undefined;
      });
    return this.saving;
  }

  /** Stops the timer and saves the last changes. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.save();
  }

  /** The file's content: families least recently written first, so a load keeps the eviction order. */
  private serialize(): string {
    const families: Array<{ tenant: string; metric: string; variants: MetadataEntry[] }> = [];
    for (const rk of this.recency.keys()) {
      const sep = rk.indexOf('\u0000');
      const tenant = rk.slice(0, sep);
      const metric = rk.slice(sep + 1);
      families.push({ tenant, metric, variants: [...this.tenants.get(tenant)!.get(metric)!.variants.values()] });
    }
    return JSON.stringify({ version: METADATA_FILE_VERSION, families }) + '\n';
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
        this.dirty = true;
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

async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(text, 'utf8');
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  // The rename is durable once the directory is synced; best effort (not every platform allows it).
  try {
    const dir = await fs.promises.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* ignore */
  }
}
