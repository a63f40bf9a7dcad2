// Admin routes: operations that tests, benchmarks and operators trigger by hand.
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine.js';
import { MochaError } from '../errors.js';
import { isValidTenantId } from '../model/write.js';

export function registerAdminRoutes(app: FastifyInstance, engine: Engine): void {
  // Freezes and flushes the memtables; answers once the segments are on disk and in the manifest.
  app.post('/api/v1/admin/flush', async (_req, reply) => {
    await engine.flush();
    const s = engine.stats();
    return reply.send({ status: 'success', data: { segments: s.segments, segmentBytes: s.segmentBytes } });
  });

  // Runs compaction now over every partition (settled or not) and retention, optionally of one
  // tenant (?tenant=); answers with what it did once the new manifest is in place.
  app.post('/api/v1/admin/compact', async (req, reply) => {
    const tenant = (req.query as Record<string, unknown>).tenant;
    if (tenant !== undefined && (typeof tenant !== 'string' || !isValidTenantId(tenant))) {
      throw new MochaError('BAD_TENANT', `invalid parameter "tenant": ${JSON.stringify(tenant)} is not a valid tenant id`);
    }
    const summary = await engine.compact({ force: true, ...(tenant !== undefined ? { tenant } : {}) });
    const s = engine.stats();
    return reply.send({ status: 'success', data: { ...summary, segments: s.segments, segmentBytes: s.segmentBytes } });
  });
}
