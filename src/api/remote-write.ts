// Prometheus remote write (PROTOCOLS.md §4) at POST /api/v1/write.
//
// 1.0 (application/x-protobuf, WriteRequest) and 2.0 (application/x-protobuf;proto=
// io.prometheus.write.v2.Request), both snappy block-compressed; any other type or encoding is 415.
// Success is 204 with an empty body. A request with invalid series keeps its valid ones and
// answers 400 with a readable text body naming what was rejected (never retried; PROTOCOLS.md §4:
// a partial write must not answer 2xx). Structural errors store nothing (400). Back-pressure is
// 429 (retried). Rejected exemplars alone do not fail a request (as in Prometheus): they are
// counted in mocha_ingest_rejected_samples_total{reason="invalid_exemplar"} and, for 2.0, show in
// the Exemplars-Written header. Every answer to a 2.0 request carries the
// X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written headers, which tell a
// Prometheus sender that this receiver speaks 2.0.
import type { FastifyInstance } from 'fastify';
import { MochaError } from '../errors.js';
import { REMOTE_WRITE_BODY_BYTES_MAX } from '../constants.js';
import { decodeRemoteWriteV1, remoteWriteDecoderStats, type DecodedWrite } from '../ingest/remote-write.js';
import { decodeRemoteWriteV2, remoteWriteV2DecoderStats } from '../ingest/remote-write-v2.js';
import type { MetricsRegistry } from '../metrics.js';
import type { IngestPipeline, IngestResult, RejectionTally } from '../ingest/pipeline.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendPlainError } from './http-errors.js';
import { takeBody, tenantOf } from './server.js';

export interface RemoteWriteRouteOptions {
  bodyBytesMax?: number;
}

/** Which remote-write version a Content-Type asks for; undefined when not a remote-write type. */
export function remoteWriteVersionOf(contentType: string | undefined): '1.0' | '2.0' | undefined {
  if (contentType === undefined || contentType === '') return '1.0'; // Prometheus always sends it; be lenient when absent
  const [media, ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (media !== 'application/x-protobuf') return undefined;
  const proto = params.find((p) => p.startsWith('proto='))?.slice('proto='.length);
  if (proto === undefined || proto === 'prometheus.writerequest') return '1.0';
  if (proto === 'io.prometheus.write.v2.request') return '2.0';
  return undefined;
}

/**
 * Reads a body up to bytesMax. Past the limit the rest is read and dropped (up to
 * BODY_DRAIN_BYTES_MAX) before answering 413: closing a socket with unread data makes the kernel
 * send a reset, and the sender would see a network error (and retry forever) instead of the 413.
 */
const BODY_DRAIN_BYTES_MAX = 1024 * 1024 * 1024;
function readBodyBounded(payload: NodeJS.ReadableStream, bytesMax: number, done: (err: Error | null, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let finished = false;
  const finish = (err: Error | null, body?: Buffer) => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  payload.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= bytesMax) chunks.push(chunk);
    else if (chunks.length > 0) chunks.length = 0;
    if (bytes > BODY_DRAIN_BYTES_MAX) {
      (payload as NodeJS.ReadableStream & { destroy(): void }).destroy();
      finish(new MochaError('BODY_TOO_LARGE', `request body exceeds ${bytesMax} bytes`));
    }
  });
  payload.on('end', () => {
    if (bytes > bytesMax) finish(new MochaError('BODY_TOO_LARGE', `request body of ${bytes} bytes exceeds the limit of ${bytesMax} bytes`));
    else finish(null, Buffer.concat(chunks, bytes));
  });
  payload.on('error', (e: Error) => finish(e));
}

/**
 * Decodes a body and hands it to the pipeline; resolves when the samples are durable. A function
 * of its own, returning the pipeline's promise without awaiting it: an async handler keeps its
 * locals alive across its awaits, so the body and the decoded columns would live until the WAL's
 * fsync (see IngestPipeline.ingest).
 */
async function decodeAndIngest(pipeline: IngestPipeline, tenant: string, version: '1.0' | '2.0', body: unknown): Promise<IngestResult> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new MochaError('BAD_REMOTE_WRITE', 'empty request body');
  const decoded: DecodedWrite = version === '2.0' ? await decodeRemoteWriteV2(body) : await decodeRemoteWriteV1(body);
  return pipeline.ingest(tenant, version === '2.0' ? 'remote_write_v2' : 'remote_write_v1', {
    series: [],
    batch: decoded.batch,
    exemplars: decoded.exemplars,
    metadata: decoded.metadata,
    rejected: decoded.rejected,
    histogramsWritten: 0,
  });
}

export function registerRemoteWriteRoutes(app: FastifyInstance, pipeline: IngestPipeline, metrics: MetricsRegistry, opts: RemoteWriteRouteOptions = {}): void {
  const bodyBytesMax = opts.bodyBytesMax ?? REMOTE_WRITE_BODY_BYTES_MAX;
  const rejected = metrics.counter('mocha_remote_write_rejected_requests_total', 'Remote-write requests rejected, by reason code.');
  const samplesReceived = metrics.counter('mocha_remote_write_samples_received_total', 'Samples received by remote write and stored.');
  // 1.0 and 2.0 decoders have a cache each; the metrics sum both.
  const cacheStat = (k: 'hits' | 'misses' | 'bypasses' | 'entries') => remoteWriteDecoderStats()[k] + remoteWriteV2DecoderStats()[k];
  metrics.counterFunc('mocha_remote_write_label_cache_hits_total', 'Series whose label bytes were found in a decoder cache (1.0 and 2.0).', () => cacheStat('hits'));
  metrics.counterFunc('mocha_remote_write_label_cache_misses_total', 'Series decoded and validated from scratch.', () => cacheStat('misses'));
  metrics.counterFunc('mocha_remote_write_label_cache_bypasses_total', 'Times a label cache stood aside because it thrashed.', () => cacheStat('bypasses'));
  metrics.gauge('mocha_remote_write_label_cache_entries', 'Entries in the remote-write label caches.', () => cacheStat('entries'));
  app.register(async (scope) => {
    // Bodies are taken raw whatever their type; the route decides what it accepts.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => readBodyBounded(payload, bodyBytesMax, done));
    scope.setErrorHandler((err, req, reply) => {
      rejected.inc({ code: (err as { code?: string }).code ?? 'UNKNOWN' });
      // Errors before the handler ran (413 from the body reader) still tell a 2.0 sender nothing was written.
      if (isV2Request(req) && !reply.hasHeader(WRITTEN_HEADERS.samples)) setWrittenHeaders(reply, 0, 0, 0);
      return sendPlainError(reply, err);
    });
    scope.post('/api/v1/write', async (req, reply) => {
      const v2 = isV2Request(req);
      if (v2) setWrittenHeaders(reply, 0, 0, 0);
      const tenant = tenantOf(req);
      const encoding = (req.headers['content-encoding'] ?? 'snappy').toString().toLowerCase();
      if (encoding !== 'snappy') {
        throw new MochaError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${JSON.stringify(encoding)}: remote write bodies must be snappy block-compressed`);
      }
      const version = remoteWriteVersionOf(req.headers['content-type']);
      if (version === undefined) {
        throw new MochaError(
          'UNSUPPORTED_MEDIA_TYPE',
          `unsupported Content-Type ${JSON.stringify(req.headers['content-type'])}: this server accepts remote write 1.0 (application/x-protobuf) and 2.0 (application/x-protobuf;proto=io.prometheus.write.v2.Request)`,
        );
      }
      const result = await decodeAndIngest(pipeline, tenant, version, takeBody(req));
      samplesReceived.inc({}, result.samplesWritten);
      if (v2) setWrittenHeaders(reply, result.samplesWritten, result.histogramsWritten, result.exemplarsWritten);
      // Valid samples of a request with invalid ones are kept, and the sender is told with a 400 (not retried).
      if (failsRequest(result.rejected)) throw new MochaError('BAD_REMOTE_WRITE', result.rejected.message());
      return reply.code(204).send();
    });
  });
}

/** Response headers of remote write 2.0 (prometheus/prometheus storage/remote/stats.go). */
export const WRITTEN_HEADERS = {
  samples: 'x-prometheus-remote-write-samples-written',
  histograms: 'x-prometheus-remote-write-histograms-written',
  exemplars: 'x-prometheus-remote-write-exemplars-written',
} as const;

function setWrittenHeaders(reply: FastifyReply, samples: number, histograms: number, exemplars: number): void {
  reply.header(WRITTEN_HEADERS.samples, String(samples));
  reply.header(WRITTEN_HEADERS.histograms, String(histograms));
  reply.header(WRITTEN_HEADERS.exemplars, String(exemplars));
}

function isV2Request(req: FastifyRequest): boolean {
  return remoteWriteVersionOf(req.headers['content-type']) === '2.0';
}

/** Rejected samples, series or histograms fail the request (400); rejected exemplars alone do not. */
function failsRequest(rejected: RejectionTally): boolean {
  for (const reason of rejected.byReason.keys()) if (reason !== 'invalid_exemplar') return true;
  return false;
}
