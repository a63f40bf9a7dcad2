// OTLP/HTTP metrics (PROTOCOLS.md §5) at POST /v1/metrics and /api/v1/otlp/v1/metrics (the path
// Prometheus 3 serves, so either base URL works for an OTLP exporter).
//
// Bodies: application/x-protobuf or application/json, identity or gzip. The limit applies to the
// decompressed bytes and is enforced while inflating (chunk by chunk, or for small bodies in one
// gunzipSync call bounded by maxOutputLength): a gzip bomb costs at most the limit in memory,
// never its full expansion. Answers are in the request's content type:
// 200 + ExportMetricsServiceResponse (partial_success when some points were rejected), 400 +
// google.rpc.Status for an undecodable body (nothing stored), 413 over the limit, 415 for other
// types or encodings, 429 + Retry-After under back-pressure (nothing stored, the sender retries).
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MochaError } from '../errors.js';
import { OTLP_BODY_BYTES_MAX, OTLP_GZIP_SYNC_BYTES_MAX } from '../constants.js';
import type { IngestPipeline, IngestResult } from '../ingest/pipeline.js';
import type { MetricsRegistry } from '../metrics.js';
import { decodeOtlpMetrics, encodeExportMetricsResponse, encodeRpcStatus, grpcCodeOf, type OtlpFormat } from '../ingest/otlp/metrics.js';
import { toHttpError } from './http-errors.js';
import { takeBody, tenantOf } from './server.js';

export interface OtlpRouteOptions {
  /** Decompressed body bytes. */
  bodyBytesMax?: number;
}

export const OTLP_METRICS_PATHS = ['/v1/metrics', '/api/v1/otlp/v1/metrics'] as const;
/** Seconds a sender should wait after a 429/503 (OTLP senders honour Retry-After). */
const RETRY_AFTER_SECONDS = 5;
/**
 * After a refusal the rest of the body is still read (and dropped) up to this many bytes: closing
 * a socket with unread data makes the kernel send a reset, and the sender would see a network
 * error (and retry) instead of the 413/415.
 */
const BODY_DRAIN_BYTES_MAX = 1024 * 1024 * 1024;

/** The OTLP encoding a Content-Type names, or undefined when it is neither OTLP encoding. */
export function otlpFormatOf(contentType: string | undefined): OtlpFormat | undefined {
  if (contentType === undefined) return undefined;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  if (media === 'application/x-protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  return undefined;
}

function contentTypeOf(format: OtlpFormat): string {
  return format === 'json' ? 'application/json' : 'application/x-protobuf';
}

function unsupportedType(contentType: string | undefined): MochaError {
  return new MochaError(
    'UNSUPPORTED_MEDIA_TYPE',
    `unsupported Content-Type ${JSON.stringify(contentType ?? '')}: OTLP metrics must be application/x-protobuf or application/json`,
  );
}

/** Reads the rest of a body and drops it, then calls done (bounded by BODY_DRAIN_BYTES_MAX). */
function drainThen(payload: NodeJS.ReadableStream, done: () => void): void {
  let bytes = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  const readable = payload as NodeJS.ReadableStream & { readableEnded?: boolean; destroy(): void };
  if (readable.readableEnded === true) return finish();
  payload.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > BODY_DRAIN_BYTES_MAX) {
      readable.destroy();
      finish();
    }
  });
  payload.on('end', finish);
  payload.on('error', finish);
  payload.on('close', finish);
  payload.resume();
}

/**
 * Reads an OTLP body, inflating gzip as it arrives, and stops as soon as the decompressed bytes
 * pass `bytesMax` (413). Unsupported types or encodings are refused before anything is inflated.
 */
export function readOtlpBody(req: FastifyRequest, payload: NodeJS.ReadableStream, bytesMax: number, done: (err: Error | null, body?: Buffer) => void): void {
  const contentType = req.headers['content-type'];
  if (otlpFormatOf(contentType) === undefined) return drainThen(payload, () => done(unsupportedType(contentType)));
  const encoding = (req.headers['content-encoding'] ?? 'identity').toString().trim().toLowerCase();
  if (encoding !== 'gzip' && encoding !== 'identity') {
    return drainThen(payload, () =>
      done(new MochaError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${JSON.stringify(encoding)}: OTLP bodies must be gzip or identity`)),
    );
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  let finished = false;
  const finish = (err: Error | null, body?: Buffer) => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  const tooLarge = () =>
    new MochaError('BODY_TOO_LARGE', `OTLP body exceeds the limit of ${bytesMax} bytes${encoding === 'gzip' ? ' after decompression' : ''}`);

  if (encoding === 'identity') {
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= bytesMax) return void chunks.push(chunk);
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      chunks.length = 0;
      drainThen(payload, () => finish(tooLarge()));
    };
    const onEnd = () => finish(null, Buffer.concat(chunks, bytes));
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', (e: Error) => finish(e));
    return;
  }

  const declared = Number(req.headers['content-length']);
  if (Number.isSafeInteger(declared) && declared >= 0 && declared <= OTLP_GZIP_SYNC_BYTES_MAX) {
    return readGzipSmall(payload, declared, bytesMax, finish, tooLarge);
  }

  // gzip: inflate while reading; compressed bytes are bounded by the same limit (gzip never
  // makes real OTLP bodies larger than a few bytes over their size).
  const gunzip = zlib.createGunzip();
  let compressed = 0;
  let stopped = false;
  const stop = (err: MochaError) => {
    if (stopped) return;
    stopped = true;
    chunks.length = 0;
    payload.unpipe(gunzip);
    gunzip.destroy();
    drainThen(payload, () => finish(err));
  };
  payload.on('data', (chunk: Buffer) => {
    compressed += chunk.length;
    if (compressed > bytesMax) stop(new MochaError('BODY_TOO_LARGE', `OTLP body exceeds the limit of ${bytesMax} bytes (compressed)`));
  });
  payload.on('error', (e: Error) => {
    stopped = true;
    gunzip.destroy();
    finish(e);
  });
  gunzip.on('data', (chunk: Buffer) => {
    if (stopped) return;
    bytes += chunk.length;
    if (bytes > bytesMax) return stop(tooLarge());
    chunks.push(chunk);
  });
  gunzip.on('error', (e: Error) => {
    if (!stopped) stop(new MochaError('BAD_OTLP', `body is not valid gzip: ${e.message}`));
  });
  gunzip.on('end', () => {
    if (!stopped) finish(null, Buffer.concat(chunks, bytes));
  });
  payload.pipe(gunzip);
}

/** zlib's default output chunk (16 KiB) and the slack that lets a body's whole output fit one chunk. */
const GUNZIP_CHUNK_BYTES_MIN = 16 * 1024;
const GUNZIP_CHUNK_SLACK_BYTES = 64;

/**
 * The output chunk size for gunzipSync: the size the gzip trailer declares (ISIZE, the last
 * member's length mod 2^32) plus a little, so the body inflates into one buffer. Why: with the
 * default 16 KiB chunks, a 450 KB OTLP body took 28 native calls, 28 allocations and a final
 * concat, and inflated 1.45x slower (bench/micro/gunzip-sync.ts). ISIZE comes from the sender, so
 * it is only a hint, bounded by the output limit (which already bounds what a body may cost): a
 * lie costs at most that allocation, a body with several members just takes more chunks.
 */
export function gunzipChunkBytes(input: Uint8Array, outputBytesMax: number): number {
  if (input.length < 18) return GUNZIP_CHUNK_BYTES_MIN; // shorter than an empty gzip member
  const n = input.length;
  const declared = (input[n - 4]! | (input[n - 3]! << 8) | (input[n - 2]! << 16) | (input[n - 1]! << 24)) >>> 0;
  return Math.max(GUNZIP_CHUNK_BYTES_MIN, Math.min(declared + GUNZIP_CHUNK_SLACK_BYTES, outputBytesMax + 1));
}

/**
 * A small gzip body (Content-Length <= OTLP_GZIP_SYNC_BYTES_MAX): read whole, then inflated in one
 * synchronous call whose output is bounded by `bytesMax` (zlib stops there: a bomb costs at most
 * the limit in memory, and a bounded time on the JS thread).
 */
function readGzipSmall(
  payload: NodeJS.ReadableStream,
  declared: number,
  bytesMax: number,
  finish: (err: Error | null, body?: Buffer) => void,
  tooLarge: () => MochaError,
): void {
  const chunks: Buffer[] = [];
  let compressed = 0;
  let stopped = false;
  const onData = (chunk: Buffer) => {
    compressed += chunk.length;
    // The HTTP parser holds a body to its Content-Length; this only guards the bound itself.
    if (compressed <= declared) return void chunks.push(chunk);
    stopped = true;
    chunks.length = 0;
    payload.removeListener('data', onData);
    drainThen(payload, () => finish(new MochaError('BAD_OTLP', `body is longer than its Content-Length of ${declared} bytes`)));
  };
  payload.on('data', onData);
  payload.on('error', (e: Error) => {
    stopped = true;
    finish(e);
  });
  payload.on('end', () => {
    if (stopped) return;
    const input = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, compressed);
    let out: Buffer;
    try {
      out = zlib.gunzipSync(input, { maxOutputLength: bytesMax, chunkSize: gunzipChunkBytes(input, bytesMax) });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) return finish(tooLarge());
      return finish(new MochaError('BAD_OTLP', `body is not valid gzip: ${(e as Error).message}`));
    }
    finish(null, out);
  });
}

function sendOtlpError(reply: FastifyReply, format: OtlpFormat, e: unknown): FastifyReply {
  const h = toHttpError(e);
  if (h.status >= 500) reply.log.error({ err: e }, 'OTLP request failed');
  if (h.status === 429 || h.status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  return reply.code(h.status).header('content-type', contentTypeOf(format)).send(encodeRpcStatus(format, grpcCodeOf(h.status), h.message));
}

/** Decodes an OTLP metrics body and hands it to the pipeline (synchronously: nothing is kept but the count). */
function startOtlpIngest(pipeline: IngestPipeline, tenant: string, format: OtlpFormat, body: unknown): { result: Promise<IngestResult>; dataPoints: number } {
  const decoded = decodeOtlpMetrics(Buffer.isBuffer(body) ? body : Buffer.alloc(0), format);
  return { result: pipeline.ingest(tenant, 'otlp', decoded.request), dataPoints: decoded.dataPoints };
}

export function registerOtlpRoutes(app: FastifyInstance, pipeline: IngestPipeline, metrics: MetricsRegistry, opts: OtlpRouteOptions = {}): void {
  const bodyBytesMax = opts.bodyBytesMax ?? OTLP_BODY_BYTES_MAX;
  const rejectedRequests = metrics.counter('mocha_otlp_rejected_requests_total', 'OTLP requests refused as a whole, by error code.');
  const dataPointsReceived = metrics.counter('mocha_otlp_data_points_received_total', 'OTLP metric data points received (accepted or rejected).');
  app.register(async (scope) => {
    // Bodies are taken raw whatever their type; readOtlpBody decides what it accepts.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (req, payload, done) => readOtlpBody(req, payload, bodyBytesMax, done));
    scope.setErrorHandler((err, req, reply) => {
      rejectedRequests.inc({ code: (err as { code?: string }).code ?? 'UNKNOWN' });
      // A refused type is answered in JSON: readable, and a valid OTLP encoding.
      return sendOtlpError(reply, otlpFormatOf(req.headers['content-type']) ?? 'json', err);
    });
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const format = otlpFormatOf(req.headers['content-type']);
      if (format === undefined) throw unsupportedType(req.headers['content-type']);
      const tenant = tenantOf(req);
      // No local holds the body or the decoded request across the await (see IngestPipeline.ingest).
      const started = startOtlpIngest(pipeline, tenant, format, takeBody(req));
      const result = await started.result;
      dataPointsReceived.inc({}, started.dataPoints);
      // partial_success counts rejected samples; rejected exemplars alone give a message with a
      // count of 0, which OTLP allows (a warning: the sender must not retry).
      return reply
        .code(200)
        .header('content-type', contentTypeOf(format))
        .send(encodeExportMetricsResponse(format, result.rejected.samples, result.rejected.empty ? '' : result.rejected.message()));
    };
    for (const p of OTLP_METRICS_PATHS) scope.post(p, handler);
  });
}
