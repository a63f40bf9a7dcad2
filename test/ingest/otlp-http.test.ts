// The OTLP route in-process, with the real ingest pipeline in front of an engine stand-in that
// refuses writes the way the engine does under back-pressure (TOO_MANY_REQUESTS before storing
// anything): the sender must get 429 with Retry-After and a google.rpc.Status in its encoding.
// (Back-pressure cannot be provoked reliably from outside a real server.)
import Fastify from 'fastify';
import { describe, expect, test } from 'vitest';
import { gunzipChunkBytes, registerOtlpRoutes } from '../../src/api/otlp.js';
import { MochaError } from '../../src/errors.js';
import { IngestPipeline, type IngestTarget } from '../../src/ingest/pipeline.js';
import { MetricsRegistry } from '../../src/metrics.js';
import type { AppendSeries } from '../../src/model/write.js';
import { fieldBytes } from './pb-builder.js';
import { attrs, encodeExportMetricsRequest, msToNanos, type OtlpMetricsRequestJson } from '../../bench/lib/otlp-payload.js';

class Target implements IngestTarget {
  full = false;
  stored: AppendSeries[] = [];
  async append(_tenant: string, series: readonly AppendSeries[]): Promise<void> {
    if (this.full) throw new MochaError('TOO_MANY_REQUESTS', 'memtables are full: flushes are behind; retry later');
    this.stored.push(...series);
  }
  seriesCount(): number {
    return this.stored.length;
  }
  hasSeries(_t: string, key: string): boolean {
    return this.stored.some((s) => s.key === key);
  }
}

const REQ: OtlpMetricsRequestJson = {
  resourceMetrics: [{ resource: { attributes: attrs({ 'service.name': 's' }) }, scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: msToNanos(Date.now()), asDouble: 1 }] } }] }] }],
};

function setup() {
  const target = new Target();
  const metrics = new MetricsRegistry();
  const app = Fastify();
  registerOtlpRoutes(app, new IngestPipeline({ target, metrics }), metrics, { bodyBytesMax: 4096 });
  return { app, target };
}

describe('OTLP route under back-pressure and limits', () => {
  test('429 with Retry-After and a google.rpc.Status (RESOURCE_EXHAUSTED), in the request encoding; nothing stored', async () => {
    const { app, target } = setup();
    target.full = true;
    const pb = await app.inject({ method: 'POST', url: '/v1/metrics', headers: { 'content-type': 'application/x-protobuf' }, payload: encodeExportMetricsRequest(REQ) });
    expect(pb.statusCode).toBe(429);
    expect(pb.headers['retry-after']).toBe('5');
    expect(pb.headers['content-type']).toBe('application/x-protobuf');
    // google.rpc.Status: code (field 1) = 8, then the message (field 2).
    expect(pb.rawPayload[0]).toBe(0x08);
    expect(pb.rawPayload[1]).toBe(8);
    expect(pb.rawPayload.subarray(4).toString()).toContain('retry later');
    const js = await app.inject({ method: 'POST', url: '/api/v1/otlp/v1/metrics', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(REQ) });
    expect(js.statusCode).toBe(429);
    expect(js.headers['retry-after']).toBe('5');
    expect(JSON.parse(js.body)).toEqual({ code: 8, message: 'memtables are full: flushes are behind; retry later' });
    expect(target.stored).toHaveLength(0);
    // Once there is room, the same request goes through.
    target.full = false;
    const ok = await app.inject({ method: 'POST', url: '/v1/metrics', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(REQ) });
    expect(ok.statusCode).toBe(200);
    expect(target.stored.map((s) => s.labels.find((l) => l.name === '__name__')!.value)).toEqual(['g']);
  });

  test('the decompressed limit is configurable: 413 just above it, 200 at it', async () => {
    const { app } = setup();
    const body = encodeExportMetricsRequest(REQ);
    // An unknown field 1000 pads the body: tag (2 bytes) + length (2 bytes) + filler.
    const padded = (n: number) => Buffer.concat([body, fieldBytes(1000, Buffer.alloc(n - body.length - 4))]);
    const at = padded(4096);
    expect(at.length).toBe(4096);
    expect((await app.inject({ method: 'POST', url: '/v1/metrics', headers: { 'content-type': 'application/x-protobuf' }, payload: at })).statusCode).toBe(200);
    const zlib = await import('node:zlib');
    const over = zlib.gzipSync(Buffer.concat([at, Buffer.alloc(1)]));
    const r = await app.inject({ method: 'POST', url: '/v1/metrics', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, payload: over });
    expect(r.statusCode).toBe(413);
  });

  test('gzip: the same limit whether a body is inflated in one call (small) or as it arrives (no Content-Length)', async () => {
    const { app, target } = setup();
    const { Readable } = await import('node:stream');
    const zlib = await import('node:zlib');
    const body = encodeExportMetricsRequest(REQ);
    const padded = (n: number) => Buffer.concat([body, fieldBytes(1000, Buffer.alloc(n - body.length - 4))]);
    const at = zlib.gzipSync(padded(4096));
    const over = zlib.gzipSync(Buffer.concat([padded(4096), Buffer.alloc(1)]));
    const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };
    // With a Content-Length (small bodies: one bounded gunzipSync).
    expect((await app.inject({ method: 'POST', url: '/v1/metrics', headers, payload: at })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/metrics', headers, payload: over })).statusCode).toBe(413);
    const garbage = await app.inject({ method: 'POST', url: '/v1/metrics', headers, payload: at.subarray(0, at.length - 9) });
    expect(garbage.statusCode).toBe(400);
    // Streamed in small chunks without a Content-Length (zlib's stream).
    const chunked = (b: Buffer) => Readable.from(Array.from({ length: Math.ceil(b.length / 7) }, (_, i) => b.subarray(i * 7, i * 7 + 7)));
    expect((await app.inject({ method: 'POST', url: '/v1/metrics', headers, payload: chunked(at) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/metrics', headers, payload: chunked(over) })).statusCode).toBe(413);
    expect(target.stored.map((s) => s.labels.find((l) => l.name === '__name__')!.value)).toEqual(['g', 'g']);
  });

  test('gzip: the trailer\'s declared size is only a hint (lies are 400s, several members still inflate, the limit holds)', async () => {
    const { app, target } = setup();
    const zlib = await import('node:zlib');
    const body = encodeExportMetricsRequest(REQ);
    const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };
    const post = (payload: Buffer) => app.inject({ method: 'POST', url: '/v1/metrics', headers, payload });
    const gz = zlib.gzipSync(body);
    expect(gz.readUInt32LE(gz.length - 4)).toBe(body.length);
    // The sizes the chunk takes: the declared size plus slack, at least 16 KiB, at most the limit + 1.
    expect(gunzipChunkBytes(gz, 1 << 20)).toBe(16 * 1024);
    const big = zlib.gzipSync(Buffer.alloc(100_000));
    expect(gunzipChunkBytes(big, 1 << 20)).toBe(100_000 + 64);
    expect(gunzipChunkBytes(big, 50_000)).toBe(50_001);
    expect(gunzipChunkBytes(gz.subarray(0, 10), 1 << 20)).toBe(16 * 1024);
    // A trailer that declares another size (smaller, larger, 2^32 - 1) is refused by zlib's length check.
    for (const lie of [1, body.length + 1, 0xffffffff]) {
      const bad = Buffer.from(gz);
      bad.writeUInt32LE(lie, bad.length - 4);
      const r = await post(bad);
      expect(r.statusCode).toBe(400);
      expect(r.body).toMatch(/gzip/);
    }
    expect(target.stored).toHaveLength(0);
    // Two gzip members (the body split in two): the last member's size is not the whole; it still inflates.
    const half = Math.floor(body.length / 2);
    const members = Buffer.concat([zlib.gzipSync(body.subarray(0, half)), zlib.gzipSync(body.subarray(half))]);
    expect((await post(members)).statusCode).toBe(200);
    expect(target.stored).toHaveLength(1);
  });
});
