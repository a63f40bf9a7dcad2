// Turns errors into the envelope of the protocol that was spoken. Prometheus API routes answer
// {"status":"error","errorType","error"}; remote write answers plain text (Prometheus logs the
// body of a 4xx as the reason).
import type { FastifyReply } from 'fastify';
import { MochaError } from '../errors.js';

export interface HttpErrorShape {
  status: number;
  errorType: string;
  message: string;
  code: string;
}

/** Maps any thrown value (MochaError, fastify's own errors, anything else) to a status and message. */
export function toHttpError(e: unknown): HttpErrorShape {
  if (e instanceof MochaError) return { status: e.status, errorType: e.errorType, message: e.message, code: e.code };
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const status = fe.statusCode;
    const errorType = status === 404 ? 'not_found' : 'bad_data';
    return { status, errorType, message: fe.message ?? 'bad request', code: fe.code ?? 'BAD_REQUEST' };
  }
  return { status: 500, errorType: 'internal', message: (e as Error)?.message ?? String(e), code: 'INTERNAL' };
}

export function sendPromError(reply: FastifyReply, e: unknown): FastifyReply {
  const h = toHttpError(e);
  if (h.status >= 500) reply.log.error({ err: e }, 'request failed');
  return reply
    .code(h.status)
    .header('content-type', 'application/json')
    .send(JSON.stringify({ status: 'error', errorType: h.errorType, error: h.message }));
}

export function sendPlainError(reply: FastifyReply, e: unknown): FastifyReply {
  const h = toHttpError(e);
  if (h.status >= 500) reply.log.error({ err: e }, 'request failed');
  if (h.status === 429 || h.status === 503) reply.header('retry-after', '5');
  return reply.code(h.status).header('content-type', 'text/plain; charset=utf-8').send(`${h.message}\n`);
}
