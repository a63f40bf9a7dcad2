// Prometheus remote write (PROTOCOLS.md §4) at POST /api/v1/write.
//
// 1.0 only for now: snappy block + protobuf WriteRequest. A 2.0 content type is refused with 415
// so that a sender configured for 2.0 falls back or fails loudly instead of losing data.
// Success is 204 with an empty body; bad data is 400 with a readable text body (never retried);
// back-pressure is 429 (retried).
import type { FastifyInstance } from 'fastify';
import { MochaError } from '../errors.js';
import { REMOTE_WRITE_BODY_BYTES_MAX } from '../constants.js';
import { decodeRemoteWriteV1, remoteWriteDecoderStats } from '../ingest/remote-write.js';
import type { MetricsRegistry } from '../metrics.js';
import { RejectionTally, type IngestPipeline } from '../ingest/pipeline.js';
import { sendPlainError } from './http-errors.js';
import { tenantOf } from './server.js';

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

export function registerRemoteWriteRoutes(app: FastifyInstance, pipeline: IngestPipeline, metrics: MetricsRegistry, opts: RemoteWriteRouteOptions = {}): void {
  const bodyBytesMax = opts.bodyBytesMax ?? REMOTE_WRITE_BODY_BYTES_MAX;
  const rejected = metrics.counter('mocha_remote_write_rejected_requests_total', 'Remote-write requests rejected, by reason code.');
  const samplesReceived = metrics.counter('mocha_remote_write_samples_received_total', 'Samples received by remote write and stored.');
  metrics.counterFunc('mocha_remote_write_label_cache_hits_total', 'Series whose raw label bytes were found in the decoder cache.', () => remoteWriteDecoderStats().hits);
  metrics.counterFunc('mocha_remote_write_label_cache_misses_total', 'Series decoded and validated from scratch.', () => remoteWriteDecoderStats().misses);
  metrics.counterFunc('mocha_remote_write_label_cache_bypasses_total', 'Times the label cache stood aside because it thrashed.', () => remoteWriteDecoderStats().bypasses);
  metrics.gauge('mocha_remote_write_label_cache_entries', 'Entries in the remote-write label cache.', () => remoteWriteDecoderStats().entries);
  app.register(async (scope) => {
    // Bodies are taken raw whatever their type; the route decides what it accepts.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => readBodyBounded(payload, bodyBytesMax, done));
    scope.setErrorHandler((err, _req, reply) => {
      rejected.inc({ code: (err as { code?: string }).code ?? 'UNKNOWN' });
      return sendPlainError(reply, err);
    });
    scope.post('/api/v1/write', async (req, reply) => {
      const tenant = tenantOf(req);
      const encoding = (req.headers['content-encoding'] ?? 'snappy').toString().toLowerCase();
      if (encoding !== 'snappy') {
        throw new MochaError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${JSON.stringify(encoding)}: remote write bodies must be snappy block-compressed`);
      }
      const version = remoteWriteVersionOf(req.headers['content-type']);
      if (version !== '1.0') {
        throw new MochaError(
          'UNSUPPORTED_MEDIA_TYPE',
          `unsupported Content-Type ${JSON.stringify(req.headers['content-type'])}: this server accepts remote write 1.0 (application/x-protobuf)`,
        );
      }
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length === 0) throw new MochaError('BAD_REMOTE_WRITE', 'empty request body');
      const decoded = await decodeRemoteWriteV1(body);
      const result = await pipeline.ingest(tenant, 'remote_write_v1', {
        series: decoded.series,
        exemplars: [],
        metadata: decoded.metadata,
        rejected: new RejectionTally(),
      });
      samplesReceived.inc({}, result.samplesWritten);
      // 1.0: valid samples of a request with invalid ones are kept, and the sender is told with a 400 (not retried).
      if (!result.rejected.empty) throw new MochaError('BAD_REMOTE_WRITE', result.rejected.message());
      return reply.code(204).send();
    });
  });
}
