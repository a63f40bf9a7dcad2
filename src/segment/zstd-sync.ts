// Synchronous zstd for Arrow's codec interface, on top of the pinned async-only @mongodb-js/zstd.
//
// apache-arrow calls Codec.encode/decode synchronously per IPC body buffer, while
// @mongodb-js/zstd 1.2.2 (pinned) only offers async compress/decompress (its native module also
// exports Encoder/Decoder classes, but they have no methods). So one helper thread runs the async
// calls and the calling thread blocks on Atomics.wait until the helper posts the result on a
// MessageChannel, which receiveMessageOnPort reads synchronously (the pattern `synckit` uses).
// Cost: one thread hop per Arrow buffer (~50-100 µs), small next to compressing a buffer, but
// not next to decompressing one per query: the reader's samples.arrow path decompresses with the
// async API instead (reader.ts readBatch); this helper serves the writer and the small
// series.arrow / postings.arrow files read once at open.
// The helper is started lazily, once per thread that needs it, and unref'ed so it never keeps the
// process alive.
import { createRequire } from 'node:module';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** A helper call that takes longer than this is a hung helper, not a slow buffer. */
const ZSTD_SYNC_CALL_TIMEOUT_MS = 60_000;
/** Starting a worker thread takes ~30 ms; far longer means it cannot start. */
const ZSTD_HELPER_START_TIMEOUT_MS = 10_000;
/**
 * zstd level for segments: 3, zstd's default. Note: @mongodb-js/zstd 1.2.2's JS wrapper
 * (`compress(data)`) does not pass a level on to its native binding, so every level gives the
 * same bytes and 3 is what is used whatever this says. Measured with the binding called directly
 * on the decompressed buffers of 30-day bench segments (3 Dec 2026; our cell encodings leave
 * zstd 6-25%): level 9 saves 0.1-0.7% over 3 at ~4.5x the CPU, level 19 2-7% at ~80-170x.
 */
export const ZSTD_LEVEL = 3;

const HELPER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { port, signal } = workerData;
let zstd;
try {
  zstd = require(workerData.zstdPath);
  port.postMessage({ id: 0, ok: true });
} catch (e) {
  port.postMessage({ id: 0, ok: false, error: 'cannot load @mongodb-js/zstd: ' + String((e && e.message) || e) });
}
Atomics.store(signal, 0, 1);
Atomics.notify(signal, 0);
parentPort.on('message', async (m) => {
  let reply;
  try {
    const input = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    const out = m.op === 'c' ? await zstd.compress(input, m.level) : await zstd.decompress(input);
    reply = { id: m.id, ok: true, data: new Uint8Array(out.buffer, out.byteOffset, out.byteLength) };
  } catch (e) {
    reply = { id: m.id, ok: false, error: String((e && e.message) || e) };
  }
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

interface Helper {
  worker: Worker;
  port: MessagePort;
  signal: Int32Array;
  nextId: number;
}

let helper: Helper | undefined;
/** Never notified: Atomics.wait on it is a 1 ms sleep while polling for a late reply. */
const pollSleep = new Int32Array(new SharedArrayBuffer(4));

function startHelper(): Helper {
  const require = createRequire(import.meta.url);
  const zstdPath = require.resolve('@mongodb-js/zstd');
  const { port1, port2 } = new MessageChannel();
  const signal = new Int32Array(new SharedArrayBuffer(4));
  // execArgv: [] so flags of the parent (e.g. --input-type=module) cannot turn the CommonJS
  // helper source into something else; a helper that fails to start would block every call.
  const worker = new Worker(HELPER_SOURCE, { eval: true, execArgv: [], workerData: { zstdPath, port: port2, signal }, transferList: [port2] });
  worker.unref();
  port1.unref();
  worker.on('error', () => {
    helper = undefined;
  });
  const h: Helper = { worker, port: port1, signal, nextId: 1 };
  // Handshake: the helper answers id 0 once zstd is loaded (or with the reason it could not).
  const waited = Atomics.wait(signal, 0, 0, ZSTD_HELPER_START_TIMEOUT_MS);
  const got = receiveMessageOnPort(port1);
  const reply = got?.message as { ok: boolean; error?: string } | undefined;
  if (waited === 'timed-out' || reply === undefined || !reply.ok) {
    void worker.terminate();
    throw new Error(`zstd helper thread did not start: ${reply?.error ?? `no answer within ${ZSTD_HELPER_START_TIMEOUT_MS} ms`}`);
  }
  return h;
}

function call(op: 'c' | 'd', data: Uint8Array): Uint8Array {
  helper ??= startHelper();
  const h = helper;
  const id = h.nextId++;
  Atomics.store(h.signal, 0, 0);
  h.worker.postMessage({ op, id, level: ZSTD_LEVEL, data });
  const deadline = Date.now() + ZSTD_SYNC_CALL_TIMEOUT_MS;
  Atomics.wait(h.signal, 0, 0, ZSTD_SYNC_CALL_TIMEOUT_MS);
  // The signal can be seen before the reply is receivable on this side of the port (seen under
  // heavy load in CI: "signalled without a reply"), so poll the port briefly until it arrives.
  for (;;) {
    const got = receiveMessageOnPort(h.port);
    if (got !== undefined) {
      const reply = got.message as { id: number; ok: boolean; data?: Uint8Array; error?: string };
      if (reply.id < id) continue; // a late answer to an earlier call that gave up: drop it
      if (reply.id !== id) throw new Error(`zstd helper answered call ${reply.id}, expected ${id}`);
      if (!reply.ok || reply.data === undefined) throw new Error(`zstd: ${reply.error ?? 'no data'}`);
      return reply.data;
    }
    if (Date.now() > deadline) throw new Error(`zstd helper thread did not answer within ${ZSTD_SYNC_CALL_TIMEOUT_MS} ms`);
    Atomics.wait(pollSleep, 0, 0, 1);
  }
}

export function zstdCompressSync(data: Uint8Array): Uint8Array {
  return call('c', data);
}

export function zstdDecompressSync(data: Uint8Array): Uint8Array {
  return call('d', data);
}

/** Async variants for callers that can await (no thread hop). */
export { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
