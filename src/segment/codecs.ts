// Arrow IPC body compression codecs (LZ4_FRAME via lz4-napi, ZSTD via @mongodb-js/zstd) and a
// fix-up for files apache-arrow writes with compression.
//
// Two facts about apache-arrow 21 shape this module:
// - Its Codec interface is synchronous. lz4-napi has sync frame functions; zstd 1.2.2 (pinned)
//   is async only, so ZSTD goes through the blocking helper thread in zstd-sync.ts.
// - Its writer stores the *compressed* length in the 8-byte prefix of each compressed buffer,
//   where the Arrow spec wants the *uncompressed* length (arrow JS itself only checks for -1,
//   but Arrow C++ / pyarrow / DuckDB allocate from it and fail). fixCompressedLengthPrefixes()
//   rewrites the prefixes in place after writing, so every Arrow reader can open our files.
import { compressionRegistry, CompressionType, Message, MessageHeader, RecordBatchFileWriter, type RecordBatch, type TypeMap } from 'apache-arrow';
import lz4 from 'lz4-napi';
import { zstdCompressSync, zstdDecompressSync } from './zstd-sync.js';

export type SegmentCompression = 'zstd' | 'lz4' | 'none';

let registered = false;

/** Registers LZ4_FRAME and ZSTD in apache-arrow's compressionRegistry (idempotent, per thread). */
export function registerArrowCodecs(): void {
  if (registered) return;
  compressionRegistry.set(CompressionType.LZ4_FRAME, {
    encode: (data) => toPlain(lz4.compressFrameSync(asBuffer(data))),
    decode: (data) => toPlain(lz4.decompressFrameSync(asBuffer(data))),
  });
  compressionRegistry.set(CompressionType.ZSTD, {
    encode: (data) => zstdCompressSync(data),
    decode: (data) => takePredecompressed(data) ?? zstdDecompressSync(data),
  });
  registered = true;
}

/**
 * Bodies decompressed ahead of a synchronous parse (reader.ts predecompressIpcFile), by the IPC
 * file's ArrayBuffer, then the byte offset of the compressed data in it: the ZSTD codec takes
 * them from here instead of blocking on the zstd helper thread once per buffer (at segment open,
 * on the event loop; slow when compaction keeps the cores busy).
 */
const predecompressed = new WeakMap<ArrayBufferLike, Map<number, { compressedBytes: number; data: Uint8Array }>>();

/** Makes `data` the decompressed form of the compressed bytes at `compressed` (a view of the file's buffer). */
export function putPredecompressed(compressed: Uint8Array, data: Uint8Array): void {
  let m = predecompressed.get(compressed.buffer);
  if (m === undefined) predecompressed.set(compressed.buffer, (m = new Map()));
  m.set(compressed.byteOffset, { compressedBytes: compressed.byteLength, data });
}

/** Forgets what putPredecompressed kept for a file's buffer. */
export function dropPredecompressed(file: Uint8Array): void {
  predecompressed.delete(file.buffer);
}

function takePredecompressed(compressed: Uint8Array): Uint8Array | undefined {
  const hit = predecompressed.get(compressed.buffer)?.get(compressed.byteOffset);
  return hit !== undefined && hit.compressedBytes === compressed.byteLength ? hit.data : undefined;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

// Arrow copies what encode returns; a plain Uint8Array view avoids Buffer-specific paths.
function toPlain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function compressionTypeOf(c: SegmentCompression): CompressionType | null {
  return c === 'zstd' ? CompressionType.ZSTD : c === 'lz4' ? CompressionType.LZ4_FRAME : null;
}

/** Serializes record batches (one schema) as an Arrow IPC file, compressed and spec-conformant. */
export function arrowFileBytes<T extends TypeMap>(batches: readonly RecordBatch<T>[], compression: SegmentCompression): Uint8Array {
  registerArrowCodecs();
  const type = compressionTypeOf(compression);
  const writer = new RecordBatchFileWriter<T>(type === null ? {} : { compressionType: type });
  for (const b of batches) writer.write(b);
  writer.finish();
  const bytes = writer.toUint8Array(true);
  if (type !== null) fixCompressedLengthPrefixes(bytes, type);
  return bytes;
}

interface BodyBuffers {
  buffers: { offset: number | bigint; length: number | bigint }[];
}

const ARROW_FILE_MAGIC_BYTES = 8; // "ARROW1" + 2 bytes padding
const IPC_CONTINUATION = 0xffffffff;

/**
 * Rewrites each compressed buffer's int64 prefix to the uncompressed length (see the top note).
 * Walks the messages of an IPC file in order; buffers whose prefix is -1 (stored uncompressed)
 * are left alone.
 */
export function fixCompressedLengthPrefixes(file: Uint8Array, type: CompressionType): void {
  fixCompressedMessagePrefixes(file, ARROW_FILE_MAGIC_BYTES, type, false);
}

/**
 * The same over a run of whole IPC messages starting at `start` (a streaming writer fixes each
 * piece as it is written): with untilEnd, stops at the end of the bytes instead of requiring an
 * end-of-stream marker.
 */
export function fixCompressedMessagePrefixes(file: Uint8Array, start: number, type: CompressionType, untilEnd: boolean): void {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let pos = start;
  for (;;) {
    if (untilEnd && pos === file.length) return;
    if (pos + 8 > file.length) throw new Error(`arrow file ends inside a message header at ${pos}`);
    if (view.getUint32(pos, true) !== IPC_CONTINUATION) throw new Error(`no IPC continuation marker at ${pos}`);
    const metaBytes = view.getInt32(pos + 4, true);
    if (metaBytes === 0) return; // end-of-stream marker: the footer follows
    const message = Message.decode(file.subarray(pos + 8, pos + 8 + metaBytes));
    const bodyStart = pos + 8 + metaBytes;
    let header: BodyBuffers | null = null;
    if (message.headerType === MessageHeader.RecordBatch) header = message.header() as unknown as BodyBuffers;
    else if (message.headerType === MessageHeader.DictionaryBatch) header = (message.header() as unknown as { data: BodyBuffers }).data;
    if (header !== null) {
      for (const { offset, length } of header.buffers) {
        if (length === 0) continue;
        const at = bodyStart + Number(offset);
        const prefix = view.getBigInt64(at, true);
        if (prefix === -1n) continue;
        const payload = file.subarray(at + 8, at + Number(length));
        view.setBigInt64(at, BigInt(uncompressedLength(payload, type)), true);
      }
    }
    pos = bodyStart + Number(message.bodyLength);
  }
}

function uncompressedLength(payload: Uint8Array, type: CompressionType): number {
  if (type === CompressionType.ZSTD) {
    const n = zstdFrameContentSize(payload);
    if (n !== undefined) return n;
    return zstdDecompressSync(payload).length;
  }
  return lz4.decompressFrameSync(asBuffer(payload)).length;
}

/** Frame_Content_Size from a zstd frame header (RFC 8878 §3.1.1.1), when the frame carries it. */
export function zstdFrameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return undefined;
  const fhd = frame[4]!;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd >>> 5) & 1;
  const dictIdFlag = fhd & 3;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
  if (at + fcsBytes > frame.length) return undefined;
  let n = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) n = n * 256 + frame[at + i]!;
  return fcsBytes === 2 ? n + 256 : n;
}
