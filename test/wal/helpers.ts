// Shared helpers for the WAL tests: temp dirs, seeded record generators, bit-exact comparison,
// and a map of where each frame sits on disk (so damage tests can aim at one record).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Labels } from '../../src/model/labels.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { scanSegment, segmentPath, parseSegmentFileName } from '../../src/wal/segment.js';
import { Wal, type WalOptions, type WalRecord } from '../../src/wal/wal.js';
import { WAL_RECORD_BYTES_MAX } from '../../src/constants.js';
import { mulberry32 } from '../helpers/prng.js';

export function tempDir(prefix = 'mocha-wal-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Values that must survive bit-exactly. */
export function specialValues(): Float64Array {
  const v = new Float64Array(6);
  v[0] = NaN;
  v[1] = Infinity;
  v[2] = -Infinity;
  v[3] = STALE_NAN;
  v[4] = -0;
  v[5] = 1.5e-300;
  return v;
}

export type SeriesRecord = Extract<WalRecord, { type: 'series' }>;
export type SamplesRecord = Extract<WalRecord, { type: 'samples' }>;

export function seriesRecord(tenant: string, firstRef: number, count: number, tag: string): SeriesRecord {
  const refs = new Uint32Array(count);
  const labels: Labels[] = [];
  for (let i = 0; i < count; i++) {
    refs[i] = firstRef + i;
    labels.push([
      { name: '__name__', value: `metric_${tag}` },
      { name: 'i', value: String(firstRef + i) },
      { name: 'unicode', value: 'µs–✓' },
    ]);
  }
  return { type: 'series', tenant, refs, labels };
}

/** A samples record with n entries from a seeded PRNG; the first entries are special values. */
export function samplesRecord(tenant: string, seed: number, n: number, refMax = 100): SamplesRecord {
  const rnd = mulberry32(seed);
  const refs = new Uint32Array(n);
  const timestampsMs = new Float64Array(n);
  const values = new Float64Array(n);
  const special = specialValues();
  const t0 = 1_700_000_000_000 + Math.floor(rnd() * 1e6);
  for (let i = 0; i < n; i++) {
    refs[i] = 1 + Math.floor(rnd() * refMax);
    timestampsMs[i] = t0 + Math.floor(rnd() * 60_000);
    if (i < special.length) values.set(special.subarray(i, i + 1), i);
    else values[i] = (rnd() - 0.5) * 1e6;
  }
  return { type: 'samples', tenant, refs, timestampsMs, values };
}

function hex(a: Float64Array | Uint32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

/** A comparable form of a record with every float as its bits. */
export function canon(rec: WalRecord): unknown {
  if (rec.type === 'series') return { type: rec.type, tenant: rec.tenant, refs: Array.from(rec.refs), labels: rec.labels };
  if (rec.type === 'exemplars') return { type: rec.type, tenant: rec.tenant, exemplars: rec.exemplars.map((e) => ({ ...e, value: hex(Float64Array.of(e.value)) })) };
  return { type: rec.type, tenant: rec.tenant, refs: hex(rec.refs), timestampsMs: hex(rec.timestampsMs), values: hex(rec.values) };
}

export async function openReplayed(opts: WalOptions, fromSegment = 1): Promise<{ wal: Wal; records: WalRecord[]; segments: number[]; report: Awaited<ReturnType<Wal['replay']>> }> {
  const wal = await Wal.open(opts);
  const records: WalRecord[] = [];
  const segments: number[] = [];
  const report = await wal.replay(fromSegment, (rec, seg) => {
    records.push(rec);
    segments.push(seg);
  });
  wal.assertInvariants();
  return { wal, records, segments, report };
}

export function segmentNumbers(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .map((f) => parseSegmentFileName(f))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
}

export interface FrameAt {
  segment: number;
  offset: number;
  bytes: number;
  /** Index of the record in the order of the whole log. */
  index: number;
}

/** Where every frame of an undamaged log is. */
export async function frameMap(dir: string): Promise<FrameAt[]> {
  const out: FrameAt[] = [];
  for (const segment of segmentNumbers(dir)) {
    const fh = await fsp.open(segmentPath(dir, segment), 'r');
    try {
      const scan = await scanSegment(fh, segment, WAL_RECORD_BYTES_MAX, (_type, _buf, start, end, offset) => {
        out.push({ segment, offset, bytes: end - start + 9, index: out.length });
        return undefined;
      });
      if (scan.damage) throw new Error(`frameMap: segment ${segment} damaged: ${scan.damage.reason}`);
    } finally {
      await fh.close();
    }
  }
  return out;
}

export const silentLogger = { warn: (): void => undefined, info: (): void => undefined };

export function recordingLogger(): { logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }; warnings: Array<{ obj: object; msg: string }> } {
  const warnings: Array<{ obj: object; msg: string }> = [];
  return {
    warnings,
    logger: {
      warn: (obj, msg) => warnings.push({ obj, msg }),
      info: () => undefined,
    },
  };
}
