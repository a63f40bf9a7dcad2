#!/usr/bin/env node
// Flags and start-up: `npm start -- --help` lists the flags. One process, one data directory,
// one port for every protocol.
import { SEGMENT_CACHE_BYTES_MAX_DEFAULT, segmentBatchCache, segmentChunkCache, segmentLevelCache } from './segment/cache.js';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { pino } from 'pino';
import { DEFAULT_ROLLUP_LEVELS_TEXT, parseRetention, parseRollupLevels } from './rollup/levels.js';
import { assertConstants, COMPACTION_INTERVAL_MS, MEMTABLE_BYTES_MAX, PARTITION_MS, LOOKBACK_DELTA_MS, WAL_PENDING_BYTES_MAX, QUERY_SAMPLES_MAX } from './constants.js';
import { HOST_IS_LITTLE_ENDIAN } from './model/samples.js';
import { Engine } from './engine.js';
import { buildServer } from './api/server.js';
import { parseDurationParam } from './query/params.js';
import { LIMIT_FLAGS, LIMIT_FLAGS_HELP, TenantPolicies } from './ingest/limits-config.js';
import { ExemplarStore } from './exemplars/store.js';
import { defaultQueryFormatThreads, QUERY_FORMAT_THREADS_MAX } from './query/format-pool.js';

const HELP = `mocha-tsdb: storage for Prometheus and OpenTelemetry metrics (remote write and OTLP in, PromQL out)

Usage: npm start -- [flags]

  --data-dir DIR              data directory (default ./data)
  --listen HOST:PORT          address to serve every API on (default 0.0.0.0:9201)
  --wal-fsync batch|off       batch (default): a write is acknowledged after its WAL batch is
                              fdatasync'ed (group commit); off: after write(2) only, so an OS
                              crash may lose the last acknowledged writes (a process crash does not)
  --wal-segment-bytes-max BYTES  cut a new WAL segment file at this size (default 128 MiB)
  --memtable-bytes-max BYTES  flush the memtable when it passes this size (default ${MEMTABLE_BYTES_MAX})
  --memtable-total-bytes-max BYTES  answer writes with 429 while memtables (active and being
                              flushed) and series registries hold more (default 3 x the above,
                              at least 1.5 GiB)
  --wal-pending-bytes-max BYTES  answer writes with 429 while more bytes than this wait to be
                              written to the WAL (default ${WAL_PENDING_BYTES_MAX})
  --segment-cache-bytes-max BYTES  bound of each of the three segment read caches (decompressed
                              batches, decoded chunks, decoded rollup level blocks: apart, so
                              raw reads never evict the levels) shared by all queries (default 1/16 of
                              the machine's memory within 64-512 MiB: ${SEGMENT_CACHE_BYTES_MAX_DEFAULT} here)
  --flush-interval DURATION   flush a non-empty memtable at least this often (default 2h)
  --lookback-delta DURATION   PromQL lookback for instant selectors (default 5m)
  --query-samples-max N       samples (or rollup buckets) one query may load, plus its output
                              points; more is a 422 (default ${QUERY_SAMPLES_MAX})
  --query-format-threads N    worker threads that help write large range-query answers (a
                              30-day matrix is ~11 MB of JSON); 0: the main thread alone
                              (default: cores - 1, at most ${QUERY_FORMAT_THREADS_MAX}: ${defaultQueryFormatThreads()} here)
  --rollup-levels LIST        rollup levels compaction builds (one segment per UTC day), finest first,
                              each a multiple of the previous (default ${DEFAULT_ROLLUP_LEVELS_TEXT}; none: no levels)
  --retention LIST            how long each level is kept, e.g. raw=15d,5m=90d,1h=2y,1d=inf;
                              levels not named are kept forever (default: everything forever)
  --compaction-interval DURATION  how often compaction looks for work; it also runs after each
                              flush (default 5m; 0: only on POST /api/v1/admin/compact)
  --log-level LEVEL           trace|debug|info|warn|error (default info)
  -h, --help                  this text

Per-tenant limits (docs/OPERATIONS.md, "Limits"):
${LIMIT_FLAGS_HELP}`;

function parseListen(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = i > 0 ? s.slice(0, i).replace(/^\[|\]$/g, '') : '0.0.0.0';
  const port = Number(i >= 0 ? s.slice(i + 1) : s);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--listen: invalid port in ${JSON.stringify(s)}`);
  return { host, port };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: './data' },
      listen: { type: 'string', default: '0.0.0.0:9201' },
      'wal-fsync': { type: 'string', default: 'batch' },
      'memtable-bytes-max': { type: 'string' },
      'memtable-total-bytes-max': { type: 'string' },
      'wal-pending-bytes-max': { type: 'string' },
      'segment-cache-bytes-max': { type: 'string' },
      'query-format-threads': { type: 'string' },
      'limits-file': { type: 'string' },
      ...Object.fromEntries(LIMIT_FLAGS.map((f) => [f, { type: 'string' as const }])),
      'wal-segment-bytes-max': { type: 'string' },
      'flush-interval': { type: 'string' },
      'lookback-delta': { type: 'string' },
      'query-samples-max': { type: 'string' },
      'rollup-levels': { type: 'string', default: DEFAULT_ROLLUP_LEVELS_TEXT },
      retention: { type: 'string', default: '' },
      'compaction-interval': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  assertConstants();
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('mocha-tsdb needs a little-endian host (x86_64, arm64)');
  const fsyncPolicy = values['wal-fsync'];
  if (fsyncPolicy !== 'batch' && fsyncPolicy !== 'off') throw new Error(`--wal-fsync must be batch or off, got ${fsyncPolicy}`);
  const logger = pino({ level: values['log-level'] });
  const dataDir = path.resolve(values['data-dir']!);
  const { host, port } = parseListen(values.listen!);
  const memtableBytesMax = values['memtable-bytes-max'] !== undefined ? Number(values['memtable-bytes-max']) : MEMTABLE_BYTES_MAX;
  if (!(memtableBytesMax > 0)) throw new Error('--memtable-bytes-max must be a positive number of bytes');
  const bytesFlag = (name: string): number | undefined => {
    const raw = (values as Record<string, string | boolean | undefined>)[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!(Number.isSafeInteger(n) && n > 0)) throw new Error(`--${name} must be a positive whole number of bytes, got ${JSON.stringify(raw)}`);
    return n;
  };
  const memtableTotalBytesMax = bytesFlag('memtable-total-bytes-max');
  const walPendingBytesMax = bytesFlag('wal-pending-bytes-max');
  const segmentCacheBytesMax = bytesFlag('segment-cache-bytes-max');
  if (segmentCacheBytesMax !== undefined) {
    segmentBatchCache.setBytesMax(segmentCacheBytesMax);
    segmentChunkCache.setBytesMax(segmentCacheBytesMax);
    segmentLevelCache.setBytesMax(segmentCacheBytesMax);
  }
  // Limits are validated before anything is opened: a typo stops the start with its flag or file named.
  const policies = TenantPolicies.fromFlags(values as Record<string, string | boolean | undefined>, values['limits-file']);
  const rollupLevels = parseRollupLevels(values['rollup-levels']!);
  const retention = parseRetention(values.retention!, rollupLevels);
  const compactionIntervalMs =
    values['compaction-interval'] !== undefined ? parseDurationParam(values['compaction-interval'], 'compaction-interval') : COMPACTION_INTERVAL_MS;
  if (!(compactionIntervalMs >= 0)) throw new Error('--compaction-interval must not be negative');
  const compactionSwapDelayMs = Number(process.env.MOCHA_TEST_COMPACTION_DELAY_MS ?? 0);
  const exemplars = new ExemplarStore({ capacityFor: (tenant) => policies.get(tenant).exemplarsMax });

  const engine = await Engine.open({
    dataDir,
    logger,
    walFsync: fsyncPolicy,
    memtableBytesMax,
    ...(memtableTotalBytesMax !== undefined ? { memtableTotalBytesMax } : {}),
    ...(walPendingBytesMax !== undefined ? { walPendingBytesMax } : {}),
    exemplarLog: exemplars,
    ...(values['wal-segment-bytes-max'] !== undefined ? { walSegmentBytesMax: Number(values['wal-segment-bytes-max']) } : {}),
    flushIntervalMs: values['flush-interval'] !== undefined ? parseDurationParam(values['flush-interval'], 'flush-interval') : PARTITION_MS,
    rollupLevels,
    retention,
    compactionIntervalMs,
    // Crash tests widen the window between a compaction's output and its manifest swap.
    ...(compactionSwapDelayMs > 0 ? { compactionSwapDelayMs } : {}),
  });
  const lookbackDeltaMs = values['lookback-delta'] !== undefined ? parseDurationParam(values['lookback-delta'], 'lookback-delta') : LOOKBACK_DELTA_MS;
  let querySamplesMax: number | undefined;
  if (values['query-samples-max'] !== undefined) {
    querySamplesMax = Number(values['query-samples-max']);
    if (!(Number.isSafeInteger(querySamplesMax) && querySamplesMax > 0)) throw new Error(`--query-samples-max must be a positive whole number, got ${JSON.stringify(values['query-samples-max'])}`);
  }
  const queryFormatThreads = values['query-format-threads'] !== undefined ? Number(values['query-format-threads']) : defaultQueryFormatThreads();
  if (!(Number.isSafeInteger(queryFormatThreads) && queryFormatThreads >= 0)) throw new Error(`--query-format-threads must be a whole number >= 0, got ${JSON.stringify(values['query-format-threads'])}`);
  const { app } = buildServer({
    engine,
    logger,
    lookbackDeltaMs,
    ...(querySamplesMax !== undefined ? { querySamplesMax } : {}),
    limitsFor: (tenant) => policies.get(tenant),
    exemplars,
    dataDir,
    queryFormatThreads,
  });
  if (policies.tenants().length > 0) logger.info({ tenants: policies.tenants() }, 'per-tenant limits loaded');
  await app.listen({ host, port });
  logger.info({ dataDir, listen: `${host}:${port}` }, 'mocha-tsdb ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new requests, finishing in-flight writes');
    try {
      await app.close(); // stops accepting, waits for in-flight requests
      await engine.close(); // waits for a running flush, fsyncs and closes the WAL
      logger.info('shut down cleanly; the memtable replays from the WAL at the next start');
      process.exit(0);
    } catch (e) {
      logger.error({ err: e }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`mocha-tsdb: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
