// Admin routes: operations that tests, benchmarks and operators trigger by hand.
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine.js';

export function registerAdminRoutes(app: FastifyInstance, engine: Engine): void {
  // Freezes and flushes the memtables; answers once the segments are on disk and in the manifest.
  app.post('/api/v1/admin/flush', async (_req, reply) => {
    await engine.flush();
    const s = engine.stats();
    return reply.send({ status: 'success', data: { segments: s.segments, segmentBytes: s.segmentBytes } });
  });
}
