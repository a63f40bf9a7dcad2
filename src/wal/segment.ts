// WAL segment files: names, the 16-byte header, and a bounded-memory sequential reader that
// walks the frames of one segment and stops at the first damage (format: docs/format/wal.md).
//
// The reader never throws for damage in the data: it reports the offset of the last whole
// record and why it stopped, and the WAL's replay decides what to cut. It only throws for what
// is not damage (an I/O error, or a header of a newer format version that must not be "repaired").
import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { MochaError } from '../errors.js';
import { checkFrame, FRAME_HEADER_BYTES } from './records.js';

/** "MOCHAWAL" in ASCII. */
export const SEGMENT_MAGIC = Buffer.from('MOCHAWAL', 'latin1');
/**
 * Version written. 2 added the exemplars record type; a version-1 segment is read as before
 * (it has no exemplars). The bump keeps an older build, which treats an unknown record type as
 * damage and would cut the log there, from opening a WAL that holds exemplars: it refuses to start.
 */
export const SEGMENT_FORMAT_VERSION = 2;
/** Versions this build reads. */
export const SEGMENT_FORMAT_VERSIONS_READ: readonly number[] = [1, 2];
/** magic[8] | version u16 | reserved u16 (0) | segment number u32. */
export const SEGMENT_HEADER_BYTES = 16;
/** Segment numbers start at 1 and are written as 8 decimal digits. */
export const SEGMENT_NUMBER_MIN = 1;
export const SEGMENT_NUMBER_MAX = 99_999_999;
const SEGMENT_NAME_RE = /^\d{8}$/;

/** Reads are issued in chunks of this size; a frame larger than the chunk grows the buffer once. */
export const SEGMENT_READ_CHUNK_BYTES = 4 * 1024 * 1024;

export function segmentFileName(n: number): string {
  if (!Number.isInteger(n) || n < SEGMENT_NUMBER_MIN || n > SEGMENT_NUMBER_MAX) throw new Error(`WAL segment number ${n} outside ${SEGMENT_NUMBER_MIN}..${SEGMENT_NUMBER_MAX}`);
  return String(n).padStart(8, '0');
}

export function segmentPath(dir: string, n: number): string {
  return path.join(dir, segmentFileName(n));
}

/** The segment number a file name stands for, or undefined for files that are not segments. */
export function parseSegmentFileName(name: string): number | undefined {
  if (!SEGMENT_NAME_RE.test(name)) return undefined;
  const n = Number(name);
  return n >= SEGMENT_NUMBER_MIN ? n : undefined;
}

export function encodeSegmentHeader(n: number): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(h, 0);
  h.writeUInt16LE(SEGMENT_FORMAT_VERSION, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt32LE(n, 12);
  return h;
}

/**
 * Validates a segment header. Returns a damage reason, or undefined when it is good. A header
 * with the right magic but a version this code does not know is not damage: it throws, so a
 * downgrade never deletes a newer WAL.
 */
export function checkSegmentHeader(h: Uint8Array, length: number, n: number): string | undefined {
  if (length < SEGMENT_HEADER_BYTES) return `bad header: file has ${length} bytes, a header needs ${SEGMENT_HEADER_BYTES}`;
  const b = Buffer.from(h.buffer, h.byteOffset, SEGMENT_HEADER_BYTES);
  if (!b.subarray(0, 8).equals(SEGMENT_MAGIC)) return `bad header: magic ${JSON.stringify(b.subarray(0, 8).toString('latin1'))} is not "MOCHAWAL"`;
  const version = b.readUInt16LE(8);
  if (!SEGMENT_FORMAT_VERSIONS_READ.includes(version)) {
    throw new MochaError('WAL_CORRUPT', `WAL segment ${n} has format version ${version}; this build reads versions ${SEGMENT_FORMAT_VERSIONS_READ.join(' and ')} only (written by a newer mocha-tsdb?)`, {
      segment: n,
      offset: 8,
    });
  }
  const reserved = b.readUInt16LE(10);
  if (reserved !== 0) return `bad header: reserved field is ${reserved}, not 0`;
  const number = b.readUInt32LE(12);
  if (number !== n) return `bad header: file ${segmentFileName(n)} says it is segment ${number}`;
  return undefined;
}

export interface SegmentScan {
  /** Offset after the last whole, valid record (the header size for a segment without records). */
  validBytes: number;
  fileBytes: number;
  records: number;
  /** Why the scan stopped before the end of the file. */
  damage?: { offset: number; reason: string };
}

/**
 * Walks the frames of one open segment file, calling onFrame(type, buf, payloadStart,
 * payloadEnd, offset) for each frame that passes its checks. onFrame returns a reason when the
 * payload did not decode (recorded as damage at the frame) and undefined otherwise; what it
 * throws propagates. Memory: one read chunk plus the largest frame.
 */
export async function scanSegment(
  fh: FileHandle,
  n: number,
  payloadBytesMax: number,
  onFrame: (type: number, buf: Buffer, payloadStart: number, payloadEnd: number, offset: number) => string | undefined,
): Promise<SegmentScan> {
  const fileBytes = (await fh.stat()).size;
  let buf = Buffer.allocUnsafe(Math.min(SEGMENT_READ_CHUNK_BYTES, Math.max(fileBytes, SEGMENT_HEADER_BYTES)));
  let bufFileOffset = 0; // file offset of buf[0]
  let bufBytes = 0; // bytes of buf holding file data

  /** Makes file bytes [offset, offset + n) resident, or as many as the file has; returns the buffer index of offset. */
  const ensure = async (offset: number, want: number): Promise<number> => {
    const haveEnd = bufFileOffset + bufBytes;
    const wantEnd = Math.min(offset + want, fileBytes);
    if (offset >= bufFileOffset && wantEnd <= haveEnd) return offset - bufFileOffset;
    // Keep the bytes from offset on, move them to the front, and read more behind them.
    const keep = Math.max(0, haveEnd - offset);
    const size = Math.max(buf.length, wantEnd - offset);
    const next = size > buf.length ? Buffer.allocUnsafe(size) : buf;
    if (keep > 0) buf.copy(next, 0, offset - bufFileOffset, bufBytes);
    buf = next;
    bufFileOffset = offset;
    bufBytes = keep;
    const fillTo = Math.min(buf.length, fileBytes - offset);
    while (bufBytes < fillTo) {
      const { bytesRead } = await fh.read(buf, bufBytes, fillTo - bufBytes, bufFileOffset + bufBytes);
      if (bytesRead === 0) break; // file shrank under us: treat what we have as the end
      bufBytes += bytesRead;
    }
    return 0;
  };

  const scan: SegmentScan = { validBytes: 0, fileBytes, records: 0 };
  await ensure(0, SEGMENT_HEADER_BYTES);
  const headerDamage = checkSegmentHeader(buf, Math.min(bufBytes, fileBytes), n);
  if (headerDamage !== undefined) {
    scan.damage = { offset: 0, reason: headerDamage };
    return scan;
  }
  let offset = SEGMENT_HEADER_BYTES;
  scan.validBytes = offset;
  while (offset < fileBytes) {
    let at = await ensure(offset, FRAME_HEADER_BYTES);
    let avail = bufFileOffset + bufBytes - offset;
    if (avail >= 4) {
      const len = buf.readUInt32LE(at);
      if (len > 0 && len <= payloadBytesMax) {
        at = await ensure(offset, FRAME_HEADER_BYTES + len);
        avail = bufFileOffset + bufBytes - offset;
      }
    }
    const check = checkFrame(buf, at, at + avail, payloadBytesMax);
    if (!check.ok) {
      const zeros = await isZeroFrom(fh, offset, fileBytes);
      scan.damage = { offset, reason: zeros ? `zero-filled tail of ${fileBytes - offset} bytes` : check.reason };
      return scan;
    }
    const undecodable = onFrame(check.type, buf, at + FRAME_HEADER_BYTES, check.next, offset);
    if (undecodable !== undefined) {
      scan.damage = { offset, reason: `record does not decode: ${undecodable}` };
      return scan;
    }
    offset += check.next - at;
    scan.validBytes = offset;
    scan.records++;
  }
  return scan;
}

/** True when every byte of the file from offset to its end is zero (a preallocated or zero-filled tail). */
async function isZeroFrom(fh: FileHandle, offset: number, fileBytes: number): Promise<boolean> {
  const chunk = Buffer.allocUnsafe(Math.min(SEGMENT_READ_CHUNK_BYTES, Math.max(1, fileBytes - offset)));
  let pos = offset;
  while (pos < fileBytes) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, fileBytes - pos), pos);
    if (bytesRead === 0) break;
    for (let i = 0; i < bytesRead; i++) if (chunk[i] !== 0) return false;
    pos += bytesRead;
  }
  return true;
}
