// Bytes per rollup level, three ways, so the report does not depend on one of them existing:
// the manifest (<dataDir>/manifest.json: every live segment with its level and bytes), the
// segment directories on disk (their names start with the level: raw-..., 5m-..., 1h-...), and
// the server's /metrics (any *segment*bytes* gauge with a `level` label).
import fs from 'node:fs';
import path from 'node:path';
import { dirBytes } from '../paths.js';
import { parsePromText } from '../prom-text.js';

export interface LevelBytes {
  level: string;
  segments: number;
  bytes: number;
  /** Samples (raw) or buckets (levels) per the manifest; undefined when counted on disk. */
  sampleCount?: number;
  /** Earliest partition start and latest partition end (manifest). */
  fromMs?: number;
  toMs?: number;
}

interface ManifestLike {
  segments?: { level?: string; bytes?: number; sampleCount?: number; partitionStartMs?: number; partitionEndMs?: number }[];
}

/** Level order for printing: raw first, then by bucket width (5m < 1h < 1d), unknown names last. */
export function levelOrder(a: string, b: string): number {
  const w = (l: string): number => {
    if (l === 'raw') return 0;
    const m = /^(\d+)([smhdwy])$/.exec(l);
    if (m === null) return Infinity;
    const unit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
    return Number(m[1]) * unit[m[2]!]!;
  };
  return w(a) - w(b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function levelsFromManifest(dataDir: string): LevelBytes[] | undefined {
  let m: ManifestLike;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dataDir, 'manifest.json'), 'utf8')) as ManifestLike;
  } catch {
    return undefined;
  }
  const by = new Map<string, LevelBytes>();
  for (const s of m.segments ?? []) {
    const level = s.level ?? 'raw';
    let e = by.get(level);
    if (e === undefined) by.set(level, (e = { level, segments: 0, bytes: 0, sampleCount: 0 }));
    e.segments++;
    e.bytes += s.bytes ?? 0;
    e.sampleCount! += s.sampleCount ?? 0;
    if (s.partitionStartMs !== undefined) e.fromMs = Math.min(e.fromMs ?? Infinity, s.partitionStartMs);
    if (s.partitionEndMs !== undefined) e.toMs = Math.max(e.toMs ?? -Infinity, s.partitionEndMs);
  }
  return [...by.values()].sort((a, b) => levelOrder(a.level, b.level));
}

/** Sizes of the segment directories under <dataDir>/tenants/<tenant>/segments, by name prefix. */
export function levelsOnDisk(dataDir: string): LevelBytes[] {
  const by = new Map<string, LevelBytes>();
  let tenants: string[] = [];
  try {
    tenants = fs.readdirSync(path.join(dataDir, 'tenants'));
  } catch {
    return [];
  }
  for (const t of tenants) {
    const dir = path.join(dataDir, 'tenants', t, 'segments');
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name.endsWith('.tmp')) continue;
      const dash = e.name.indexOf('-');
      // A name without a level prefix (older segment names) is raw data.
      const prefix = dash > 0 ? e.name.slice(0, dash) : 'raw';
      const level = prefix === 'raw' || /^\d+[smhdwy]$/.test(prefix) ? prefix : 'raw';
      let l = by.get(level);
      if (l === undefined) by.set(level, (l = { level, segments: 0, bytes: 0 }));
      l.segments++;
      l.bytes += dirBytes(path.join(dir, e.name));
    }
  }
  return [...by.values()].sort((a, b) => levelOrder(a.level, b.level));
}

/** Per level sums of the server's segment-bytes gauges that carry a `level` label (empty if none). */
export async function levelsFromMetrics(baseUrl: string): Promise<{ metric: string; level: string; bytes: number }[]> {
  const res = await fetch(new URL('/metrics', baseUrl));
  if (res.status !== 200) return [];
  const sums = new Map<string, { metric: string; level: string; bytes: number }>();
  for (const s of parsePromText(await res.text()).samples) {
    const level = s.labels['level'];
    if (level === undefined || !/segment/.test(s.name) || !/bytes/.test(s.name) || /cache/.test(s.name)) continue;
    const k = `${s.name}\u0000${level}`;
    const e = sums.get(k) ?? { metric: s.name, level, bytes: 0 };
    e.bytes += s.value;
    sums.set(k, e);
  }
  return [...sums.values()].sort((a, b) => levelOrder(a.level, b.level));
}
