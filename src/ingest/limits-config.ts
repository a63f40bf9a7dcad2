// Per-tenant ingest limits: defaults from command-line flags, optional overrides per tenant from
// a JSON file (--limits-file). Everything is validated at start-up; a bad value stops the process
// with a message that names the flag or the file, tenant and field (docs/OPERATIONS.md, "Limits").
import fs from 'node:fs';
import { EXEMPLARS_PER_TENANT_MAX, LABEL_NAME_BYTES_MAX, LABEL_VALUE_BYTES_MAX, LABELS_PER_SERIES_MAX } from '../constants.js';
import { isValidTenantId } from '../model/write.js';
import { parseDurationParam } from '../query/params.js';
import { DEFAULT_TENANT_LIMITS, type TenantLimits } from './pipeline.js';

/** Limits of one tenant: the ingest limits plus the size of its exemplar buffer. */
export interface TenantPolicy extends TenantLimits {
  /** Exemplars kept in the tenant's circular buffer; 0 = exemplars are not stored. */
  exemplarsMax: number;
}

export const DEFAULT_TENANT_POLICY: Readonly<TenantPolicy> = Object.freeze({ ...DEFAULT_TENANT_LIMITS, exemplarsMax: EXEMPLARS_PER_TENANT_MAX });

/** How each field is written: in flags (kebab-case) and in the limits file (camelCase, the field name). */
const FIELDS: ReadonlyArray<{ field: keyof TenantPolicy; flag: string; kind: 'count' | 'bytes' | 'duration'; zeroMeans?: string }> = [
  { field: 'seriesActiveMax', flag: 'tenant-series-max', kind: 'count', zeroMeans: 'no limit' },
  { field: 'labelsPerSeriesMax', flag: 'labels-per-series-max', kind: 'count' },
  { field: 'labelNameBytesMax', flag: 'label-name-bytes-max', kind: 'bytes' },
  { field: 'labelValueBytesMax', flag: 'label-value-bytes-max', kind: 'bytes' },
  { field: 'sampleAgeMaxMs', flag: 'sample-age-max', kind: 'duration', zeroMeans: 'no limit' },
  { field: 'sampleFutureMaxMs', flag: 'sample-future-max', kind: 'duration', zeroMeans: 'no sample after now' },
  { field: 'exemplarsMax', flag: 'exemplars-per-tenant-max', kind: 'count', zeroMeans: 'exemplars not stored' },
];

/** The flag names, for parseArgs and --help. */
export const LIMIT_FLAGS: readonly string[] = FIELDS.map((f) => f.flag);

/** The key a field has in the limits file: the field name without its unit suffix ("sampleAgeMax"). */
function fileKeyOf(field: keyof TenantPolicy): string {
  return field.endsWith('Ms') ? field.slice(0, -2) : field;
}

function parseValue(kind: 'count' | 'bytes' | 'duration', raw: unknown, where: string): number {
  if (kind === 'duration') {
    if (typeof raw !== 'string') throw new Error(`${where}: expected a duration string such as "10m" or "0", got ${JSON.stringify(raw)}`);
    let ms: number;
    try {
      ms = parseDurationParam(raw);
    } catch {
      throw new Error(`${where}: ${JSON.stringify(raw)} is not a duration (use e.g. 30s, 10m, 2h, 7d, or 0)`);
    }
    if (!(ms >= 0)) throw new Error(`${where}: duration must not be negative, got ${JSON.stringify(raw)}`);
    return ms;
  }
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${where}: expected a whole number of ${kind === 'bytes' ? 'bytes' : 'items'} >= 0, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function checkPolicy(p: TenantPolicy, where: string): void {
  // A series always has __name__; 0 would reject everything silently by configuration mistake.
  if (p.labelsPerSeriesMax < 1) throw new Error(`${where}: labelsPerSeriesMax must be at least 1`);
  if (p.labelNameBytesMax < 1) throw new Error(`${where}: labelNameBytesMax must be at least 1`);
  if (p.labelValueBytesMax < 1) throw new Error(`${where}: labelValueBytesMax must be at least 1`);
  // The decoders enforce the built-in bounds before any tenant limit: a tenant can only be stricter.
  const hard: Array<[keyof TenantPolicy, number, string]> = [
    ['labelsPerSeriesMax', LABELS_PER_SERIES_MAX, 'LABELS_PER_SERIES_MAX'],
    ['labelNameBytesMax', LABEL_NAME_BYTES_MAX, 'LABEL_NAME_BYTES_MAX'],
    ['labelValueBytesMax', LABEL_VALUE_BYTES_MAX, 'LABEL_VALUE_BYTES_MAX'],
  ];
  for (const [field, max, name] of hard) {
    if (p[field] > max) throw new Error(`${where}: ${field} ${p[field]} exceeds the built-in bound ${max} (${name}, enforced by the decoders); limits can only be lowered`);
  }
}

/**
 * The default policy from flag values (strings as parseArgs gives them; absent = built-in default).
 * Throws with the flag's name on a bad value.
 */
export function policyFromFlags(values: Readonly<Record<string, string | boolean | undefined>>): TenantPolicy {
  const p: TenantPolicy = { ...DEFAULT_TENANT_POLICY };
  for (const f of FIELDS) {
    const raw = values[f.flag];
    if (raw === undefined) continue;
    p[f.field] = parseValue(f.kind, raw, `--${f.flag}`);
  }
  checkPolicy(p, 'flags');
  return p;
}

/** Parses the limits file's text: {"tenants": {"<id>": {"seriesActiveMax": 1000, "sampleAgeMax": "1h", ...}}}. */
export function parseLimitsFile(text: string, defaults: TenantPolicy, fileName = 'limits file'): Map<string, TenantPolicy> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${fileName}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${fileName}: expected an object {"tenants": {...}}`);
  for (const k of Object.keys(doc)) if (k !== 'tenants') throw new Error(`${fileName}: unknown top-level key ${JSON.stringify(k)} (only "tenants")`);
  const tenants = (doc as { tenants?: unknown }).tenants;
  if (tenants === undefined) return new Map();
  if (typeof tenants !== 'object' || tenants === null || Array.isArray(tenants)) throw new Error(`${fileName}: "tenants" must be an object of tenant id -> limits`);
  const byKey = new Map(FIELDS.map((f) => [fileKeyOf(f.field), f]));
  const out = new Map<string, TenantPolicy>();
  for (const [tenant, overrides] of Object.entries(tenants as Record<string, unknown>)) {
    const where = `${fileName}: tenant ${JSON.stringify(tenant)}`;
    if (!isValidTenantId(tenant)) throw new Error(`${where}: not a valid tenant id (must match [A-Za-z0-9_.-]{1,64})`);
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) throw new Error(`${where}: limits must be an object`);
    const p: TenantPolicy = { ...defaults };
    for (const [key, raw] of Object.entries(overrides as Record<string, unknown>)) {
      const f = byKey.get(key);
      if (f === undefined) throw new Error(`${where}: unknown limit ${JSON.stringify(key)}; known: ${[...byKey.keys()].join(', ')}`);
      p[f.field] = parseValue(f.kind, raw, `${where}, ${key}`);
    }
    checkPolicy(p, where);
    out.set(tenant, p);
  }
  return out;
}

/** Default policy plus per-tenant overrides; what the pipeline and the exemplar store ask. */
export class TenantPolicies {
  constructor(
    readonly defaults: TenantPolicy,
    private readonly overrides: ReadonlyMap<string, TenantPolicy> = new Map(),
  ) {}

  static fromFlags(values: Readonly<Record<string, string | boolean | undefined>>, limitsFile?: string): TenantPolicies {
    const defaults = policyFromFlags(values);
    if (limitsFile === undefined) return new TenantPolicies(defaults);
    let text: string;
    try {
      text = fs.readFileSync(limitsFile, 'utf8');
    } catch (e) {
      throw new Error(`--limits-file ${limitsFile}: cannot read: ${(e as Error).message}`);
    }
    return new TenantPolicies(defaults, parseLimitsFile(text, defaults, limitsFile));
  }

  get(tenant: string): TenantPolicy {
    return this.overrides.get(tenant) ?? this.defaults;
  }

  /** Tenants with overrides (logged at start). */
  tenants(): string[] {
    return [...this.overrides.keys()];
  }
}

/** --help lines for the limit flags. */
export const LIMIT_FLAGS_HELP = `  --tenant-series-max N       new series of a tenant are rejected once its memtable holds N
                              (default ${DEFAULT_TENANT_POLICY.seriesActiveMax}; 0 = no limit)
  --labels-per-series-max N   series with more labels are rejected (default ${DEFAULT_TENANT_POLICY.labelsPerSeriesMax})
  --label-name-bytes-max N    longer label names are rejected (default ${DEFAULT_TENANT_POLICY.labelNameBytesMax})
  --label-value-bytes-max N   longer label values are rejected (default ${DEFAULT_TENANT_POLICY.labelValueBytesMax})
  --sample-age-max DURATION   samples older than now minus this are rejected (default 0 = no
                              limit: backfill allowed)
  --sample-future-max DURATION  samples later than now plus this are rejected (default 10m)
  --exemplars-per-tenant-max N  exemplars kept per tenant, oldest dropped first (default
                              ${DEFAULT_TENANT_POLICY.exemplarsMax}; 0 = exemplars not stored)
  --limits-file FILE          per-tenant overrides of the limits above, JSON:
                              {"tenants": {"team-a": {"seriesActiveMax": 100000, "sampleAgeMax": "1h"}}}
                              keys: ${FIELDS.map((f) => fileKeyOf(f.field)).join(', ')}
`;
