// The manifest: the list of live segments of a data directory (<dataDir>/manifest.json), and
// how far the WAL is covered by them. It is the single point of truth: a segment directory not
// listed here does not exist for readers, and is deleted at start-up.
//
// Updates are atomic: write manifest.json.tmp, fsync it, rename over manifest.json, fsync the
// directory. A crash leaves the old or the new manifest, never a mix; a leftover .tmp is ignored
// by readManifest and removed by removeOrphanSegments.
import fs from 'node:fs/promises';
import path from 'node:path';
import { MochaError } from '../errors.js';
import { isValidTenantId } from '../model/write.js';
import { RAW_LEVEL, levelNameOf, LEVEL_WIDTH_MIN_MS } from '../rollup/levels.js';
import { MANIFEST_FILE, MANIFEST_FILE_BYTES_MAX, MANIFEST_FORMAT_VERSION, TMP_SUFFIX, tenantSegmentsDir } from './format.js';
import { fsyncDir, writeFileDurable } from './writer.js';
import { checkLevelSources, isLevelName, isLevelSegmentMeta, isSegmentName, type LevelSegmentMeta, type RawSegmentMeta, type SegmentMeta } from './meta.js';

type CommonEntryKeys = 'tenant' | 'name' | 'partitionStartMs' | 'partitionEndMs' | 'minTMs' | 'maxTMs' | 'seriesCount' | 'sampleCount' | 'bytes';

/** What the manifest keeps of a raw segment's meta.json: enough to plan reads without opening it. */
export type RawManifestSegment = Pick<RawSegmentMeta, CommonEntryKeys | 'level'>;
/** ... and of a rollup level segment's: also its width, the raw segments it summarises, its buckets. */
export type LevelManifestSegment = Pick<LevelSegmentMeta, CommonEntryKeys | 'level' | 'widthMs' | 'sources' | 'bucketCount'>;
export type ManifestSegment = RawManifestSegment | LevelManifestSegment;

export function isLevelManifestSegment(s: ManifestSegment): s is LevelManifestSegment {
  return s.level !== RAW_LEVEL;
}

export function manifestEntryOf(m: SegmentMeta): ManifestSegment {
  const common = {
    tenant: m.tenant,
    name: m.name,
    partitionStartMs: m.partitionStartMs,
    partitionEndMs: m.partitionEndMs,
    minTMs: m.minTMs,
    maxTMs: m.maxTMs,
    seriesCount: m.seriesCount,
    sampleCount: m.sampleCount,
    bytes: m.bytes,
  };
  if (isLevelSegmentMeta(m)) return { ...common, level: m.level, widthMs: m.widthMs, sources: [...m.sources], bucketCount: m.bucketCount };
  return { ...common, level: 'raw' };
}

export interface Manifest {
  formatVersion: 1;
  /** WAL segments <= this are covered by segments (-1: none). */
  walCoveredThroughSegment: number;
  nextSegmentSeq: number;
  segments: ManifestSegment[];
}

export function emptyManifest(): Manifest {
  return { formatVersion: MANIFEST_FORMAT_VERSION, walCoveredThroughSegment: -1, nextSegmentSeq: 1, segments: [] };
}

function corrupt(msg: string): MochaError {
  return new MochaError('SEGMENT_CORRUPT', `manifest.json: ${msg}`, { file: MANIFEST_FILE });
}

/** Missing file: an empty manifest. Unreadable or invalid: SEGMENT_CORRUPT. */
export async function readManifest(dataDir: string): Promise<Manifest> {
  const file = path.join(dataDir, MANIFEST_FILE);
  let text: string;
  try {
    const st = await fs.stat(file);
    if (st.size > MANIFEST_FILE_BYTES_MAX) throw corrupt(`too big; got ${st.size} bytes; cannot exceed ${MANIFEST_FILE_BYTES_MAX}`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof MochaError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyManifest();
    throw corrupt(`cannot read: ${(e as Error).message}`);
  }
  return parseManifest(text);
}

function num(o: Record<string, unknown>, key: string, min: number, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw corrupt(`${where}${key} must be an integer; got ${JSON.stringify(v)}`);
  if (v < min) throw corrupt(`${where}too small ${key}; got ${v}; cannot be below ${min}`);
  return v;
}

export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw corrupt(`not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt('must hold an object');
  const o = raw as Record<string, unknown>;
  if (o.formatVersion !== MANIFEST_FORMAT_VERSION) throw corrupt(`unsupported formatVersion ${JSON.stringify(o.formatVersion)}`);
  const walCoveredThroughSegment = num(o, 'walCoveredThroughSegment', -1, '');
  const nextSegmentSeq = num(o, 'nextSegmentSeq', 1, '');
  if (!Array.isArray(o.segments)) throw corrupt('segments must be an array');
  const seen = new Set<string>();
  const segments: ManifestSegment[] = o.segments.map((s: unknown, i: number) => {
    const where = `segments[${i}].`;
    if (typeof s !== 'object' || s === null) throw corrupt(`segments[${i}] must be an object`);
    const e = s as Record<string, unknown>;
    if (typeof e.tenant !== 'string' || !isValidTenantId(e.tenant)) throw corrupt(`${where}tenant is invalid: ${JSON.stringify(e.tenant)}`);
    if (!isSegmentName(e.name)) throw corrupt(`${where}name is invalid: ${JSON.stringify(e.name)}`);
    const level = e.level;
    if (level !== RAW_LEVEL && !isLevelName(level)) throw corrupt(`${where}level is unknown: ${JSON.stringify(level)}`);
    if (level === RAW_LEVEL) {
      for (const k of ['widthMs', 'sources', 'bucketCount']) if (k in e) throw corrupt(`${where}${k} is not a field of a raw segment`);
    }
    const id = `${e.tenant}/${e.name}`;
    if (seen.has(id)) throw corrupt(`${where}duplicate segment ${id}`);
    seen.add(id);
    const partitionStartMs = num(e, 'partitionStartMs', Number.MIN_SAFE_INTEGER, where);
    const partitionEndMs = num(e, 'partitionEndMs', partitionStartMs + 1, where);
    const minTMs = num(e, 'minTMs', partitionStartMs, where);
    const maxTMs = num(e, 'maxTMs', minTMs, where);
    if (maxTMs >= partitionEndMs) throw corrupt(`${where}maxTMs ${maxTMs} is not below partitionEndMs ${partitionEndMs}`);
    const common = {
      tenant: e.tenant,
      name: e.name,
      partitionStartMs,
      partitionEndMs,
      minTMs,
      maxTMs,
      seriesCount: num(e, 'seriesCount', 0, where),
      sampleCount: num(e, 'sampleCount', 0, where),
      bytes: num(e, 'bytes', 0, where),
    };
    if (level === RAW_LEVEL) return { ...common, level: 'raw' as const };
    const widthMs = num(e, 'widthMs', LEVEL_WIDTH_MIN_MS, where);
    if (levelNameOf(widthMs) !== level) throw corrupt(`${where}widthMs ${widthMs} is not the width of level ${JSON.stringify(level)}`);
    const sources = checkLevelSources(e.sources, corrupt, where);
    const bucketCount = num(e, 'bucketCount', common.seriesCount, where);
    return { ...common, level, widthMs, sources, bucketCount };
  });
  return { formatVersion: MANIFEST_FORMAT_VERSION, walCoveredThroughSegment, nextSegmentSeq, segments };
}

/** Atomically replaces the manifest (tmp file, fsync, rename, fsync dir). */
export async function writeManifest(dataDir: string, m: Manifest): Promise<void> {
  // Validate what we write with the same rules as what we read (pair assertion).
  const text = JSON.stringify(m, null, 1) + '\n';
  parseManifest(text);
  await fs.mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, MANIFEST_FILE);
  const tmp = file + TMP_SUFFIX;
  await writeFileDurable(tmp, Buffer.from(text));
  await fs.rename(tmp, file);
  await fsyncDir(dataDir);
}

/**
 * Deletes what a crash can leave behind: `*.tmp` segment directories, segment directories not
 * in the manifest (written but never swapped in), and a stale manifest.json.tmp. Returns the
 * removed paths. Files that are not directories inside segments/ are left alone.
 */
export async function removeOrphanSegments(dataDir: string, m: Manifest): Promise<string[]> {
  const live = new Set(m.segments.map((s) => `${s.tenant}/${s.name}`));
  const removed: string[] = [];
  const tmpManifest = path.join(dataDir, MANIFEST_FILE + TMP_SUFFIX);
  try {
    await fs.rm(tmpManifest);
    removed.push(tmpManifest);
  } catch {
    // none
  }
  let tenants: string[];
  try {
    tenants = await fs.readdir(path.join(dataDir, 'tenants'));
  } catch {
    return removed;
  }
  for (const tenant of tenants.sort()) {
    const dir = tenantSegmentsDir(dataDir, tenant);
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!e.isDirectory()) continue;
      if (!e.name.endsWith(TMP_SUFFIX) && live.has(`${tenant}/${e.name}`)) continue;
      const p = path.join(dir, e.name);
      await fs.rm(p, { recursive: true, force: true });
      removed.push(p);
    }
    if (removed.length > 0) await fsyncDir(dir);
  }
  return removed;
}
