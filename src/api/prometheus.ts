// The Prometheus HTTP API (PROTOCOLS.md §1): queries, series and label look-ups, and the few
// status endpoints Grafana calls on start-up and Save & test.
//
// Every endpoint takes its parameters from the query string and, for POST, from a form-encoded
// body (Grafana's default), merged; `match[]` may repeat.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MochaError } from '../errors.js';
import { QUERY_CONCURRENCY_MAX, QUERY_DURATION_BOUNDS_S, QUERY_SAMPLES_MAX, QUERY_SERIES_MAX, QUERY_TIMEOUT_MS } from '../constants.js';
import { compareLabels, labelsKey, labelsToRecord, type Labels } from '../model/labels.js';
import type { Matcher } from '../model/matchers.js';
import type { Querier } from '../model/querier.js';
import { instantQuery, rangeQuery, type QueryOptions, type QueryResult } from '../query/engine.js';
import { RESOLUTION_AUTO } from '../query/rollup-planner.js';
import { RAW_LEVEL } from '../rollup/levels.js';
import type { MetricsRegistry } from '../metrics.js';
import { formatFloat, formatLabelsJson, formatTimestamp, JsonBytes, jsonString, writeQueryData } from '../query/format.js';
import { AnswerFormatter } from '../query/format-pool.js';
import { walkExpr } from '../query/ast.js';
import { MAX_TIME_MS, MIN_TIME_MS, parseDurationParam, parseTimeParam } from '../query/params.js';
import { parseExpr, parseSeriesSelector } from '../query/parser.js';
import { prettyExpr } from '../query/printer.js';
import type { ServerOptions } from './server.js';
import { tenantOf } from './server.js';
import { sendPromError } from './http-errors.js';
import type { MetadataStore } from './metadata-store.js';


/** Query string and form body merged: what every endpoint reads its parameters from. */
export function requestParams(req: FastifyRequest): URLSearchParams {
  const q = req.url.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? req.url.slice(q + 1) : '');
  if (typeof req.body === 'string' && req.body.length > 0) {
    for (const [k, v] of new URLSearchParams(req.body)) params.append(k, v);
  }
  return params;
}

/** Bounded concurrency: queries beyond the limit wait their turn instead of piling up memory. */
class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }
}

/** Prometheus' envelope; `warnings` and `infos` are left out when empty (Go's omitempty). */
function success(reply: FastifyReply, dataJson: string, warnings?: readonly string[], infos?: readonly string[]): FastifyReply {
  return reply.header('content-type', 'application/json').send(`{"status":"success","data":${dataJson}${annotationsJson(warnings, infos)}}`);
}

/** The envelope's `,"warnings":[...]` and `,"infos":[...]` members, when there are any. */
function annotationsJson(warnings?: readonly string[], infos?: readonly string[]): string {
  const list = (name: string, items: readonly string[] | undefined): string =>
    items !== undefined && items.length > 0 ? `,"${name}":[${items.map(jsonString).join(',')}]` : '';
  return list('warnings', warnings) + list('infos', infos);
}

function optionalTime(params: URLSearchParams, name: string, dflt: number): number {
  const v = params.get(name);
  return v === null || v === '' ? dflt : parseTimeParam(v, name);
}

function requiredParam(params: URLSearchParams, name: string): string {
  const v = params.get(name);
  if (v === null || v === '') throw new MochaError('BAD_QUERY', `invalid parameter "${name}": missing`);
  return v;
}

function parseLimit(params: URLSearchParams): number | undefined {
  const v = params.get('limit');
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new MochaError('BAD_QUERY', `invalid parameter "limit": cannot parse ${JSON.stringify(v)} to a non-negative integer`);
  return n === 0 ? undefined : n;
}

/**
 * Prometheus reports parse errors of the `query` parameter of query, query_range and
 * format_query as `invalid parameter "query": <parse error>` (invalidParamError); evaluation
 * errors keep their own text.
 */
async function asQueryParam<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof MochaError && e.code === 'BAD_QUERY' && e.message.includes(': parse error: ')) {
      throw new MochaError('BAD_QUERY', `invalid parameter "query": ${e.message}`, e.where);
    }
    throw e;
  }
}

/** Go's strconv.Atoi on an optional parameter, as Prometheus' metadata endpoint reads limits. */
function parseIntParam(params: URLSearchParams, name: string): number | undefined {
  const v = params.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[+-]?\d{1,18}$/.test(v)) throw new MochaError('BAD_QUERY', `${name} must be a number`);
  return Number(v);
}

function matcherSets(params: URLSearchParams): Matcher[][] {
  return params.getAll('match[]').map((s) => parseSeriesSelector(s));
}

/** Prometheus' `stats` (any non-empty value) or our `explain=true`: answer with data.stats. */
function wantsStats(params: URLSearchParams): boolean {
  const stats = params.get('stats');
  return (stats !== null && stats !== '') || params.get('explain') === 'true';
}

/**
 * Answers a query: the success envelope around its `data` object, with `stats` added when the
 * query collected them (docs/API.md), written as bytes (JsonBytes).
 */
async function sendQueryResult(
  reply: FastifyReply,
  formatter: AnswerFormatter,
  result: QueryResult,
  steps: { startMs: number; stepMs: number; endMs: number } | undefined,
  onSent: () => void,
): Promise<FastifyReply> {
  // A spare buffer, given back once the response has been written out ('finish'); a response
  // that ends otherwise (the client went away) leaves its buffer to the garbage collector, as
  // the socket may still hold a write of it.
  const w = JsonBytes.pooled();
  reply.raw.once('finish', () => {
    w.release();
    onSent();
  });
  if (steps !== undefined) w.setTimeGrid(steps.startMs, steps.stepMs, Math.floor((steps.endMs - steps.startMs) / steps.stepMs) + 1);
  w.ascii('{"status":"success","data":');
  await formatter.writeQueryData(w, result, statsJson(result));
  w.ascii(annotationsJson(result.warnings, result.infos) + '}');
  return reply.header('content-type', 'application/json').send(w.bytes());
}

/** `,"stats":{...}` when the query collected stats, else ''. */
function statsJson(result: QueryResult): string {
  const stats = result.stats;
  if (stats === undefined) return '';
  const rollup = stats.rollup.map((e) => ({
    expr: e.expr,
    level: e.level,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.edge !== undefined ? { edge: { windowsFromRaw: e.edge.windowsFromRaw, rawReads: e.edge.rawReads, ...(e.edge.rawTail === true ? { rawTail: true } : {}) } } : {}),
    levelSegmentsRead: e.levelSegmentsRead,
    rawPiecesRead: e.rawPiecesRead,
  }));
  return ',"stats":' + JSON.stringify({ samples: { totalQueryableSamples: stats.samplesLoaded }, rollup });
}

export function registerPrometheusRoutes(app: FastifyInstance, opts: ServerOptions, metadataStore: MetadataStore, metrics: MetricsRegistry): void {
  const selections = metrics.counter('mocha_query_selections_total', 'Selector evaluations of queries by the resolution read: a rollup level name or raw.');
  const queryDuration = metrics.histogram(
    'mocha_query_duration_seconds',
    'PromQL queries answered (status 200), from the request to the last byte handed to the socket (queueing included), by endpoint (query, query_range) and what their selectors read: raw, levels (rollup levels only), mixed, or none.',
    QUERY_DURATION_BOUNDS_S,
  );
  /** Observes a query answered now that started at t0 (performance.now()) and read the resolutions `read`. */
  const observeQuery = (endpoint: string, t0: number, read: ReadonlySet<string>): void => {
    const kind = read.size === 0 ? 'none' : !read.has(RAW_LEVEL) ? 'levels' : read.size === 1 ? 'raw' : 'mixed';
    queryDuration.observe({ endpoint, read: kind }, (performance.now() - t0) / 1000);
  };
  const startedAt = new Date();
  const engine = opts.engine;
  // Large matrix answers are written by this thread and format workers together (format-pool.ts).
  const formatter = new AnswerFormatter({ threads: opts.queryFormatThreads ?? 0 });
  app.addHook('onClose', async () => formatter.close());
  metrics.counterFunc('mocha_query_answer_parts_formatted_total', 'Parts of large matrix answers written by format workers (--query-format-threads).', () => formatter.partsByWorkers);
  metrics.counterFunc('mocha_query_answer_parts_format_failed_total', 'Parts of large matrix answers a format worker failed to write (the main thread wrote them instead).', () => formatter.partsFailed);
  const limiter = new Semaphore(opts.queryConcurrencyMax ?? QUERY_CONCURRENCY_MAX);
  const timeoutMsDefault = opts.queryTimeoutMs ?? QUERY_TIMEOUT_MS;

  app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.setErrorHandler((err, _req, reply) => sendPromError(reply, err));

    const withQuerier = async <T>(req: FastifyRequest, fn: (q: Querier) => Promise<T>): Promise<T> => {
      const q = engine.querier(tenantOf(req));
      try {
        return await fn(q);
      } finally {
        q.close();
      }
    };

    const queryOptions = (params: URLSearchParams, resultSeriesMax: number | undefined, read: Set<string>): QueryOptions => {
      let timeoutMs = timeoutMsDefault;
      const t = params.get('timeout');
      if (t !== null && t !== '') timeoutMs = Math.min(timeoutMs, parseDurationParam(t, 'timeout'));
      return {
        samplesMax: opts.querySamplesMax ?? QUERY_SAMPLES_MAX,
        seriesMax: QUERY_SERIES_MAX,
        timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
        ...(opts.lookbackDeltaMs !== undefined ? { lookbackDeltaMs: opts.lookbackDeltaMs } : {}),
        ...(resultSeriesMax !== undefined ? { resultSeriesMax } : {}),
        resolution: params.get('resolution') || RESOLUTION_AUTO,
        onSelection: (level) => {
          selections.inc({ level });
          read.add(level);
        },
        stats: wantsStats(params),
      };
    };

    const instant = async (req: FastifyRequest, reply: FastifyReply) => {
      const t0 = performance.now();
      const read = new Set<string>();
      const params = requestParams(req);
      const expr = requiredParam(params, 'query');
      const timeMs = optionalTime(params, 'time', Date.now());
      // Prometheus 3's `limit`: at most that many series, with a warning when more were cut.
      const limit = parseLimit(params);
      const result = await asQueryParam(limiter.run(() => withQuerier(req, (q) => instantQuery(q, expr, timeMs, queryOptions(params, limit, read)))));
      return sendQueryResult(reply, formatter, result, undefined, () => observeQuery('query', t0, read));
    };
    scope.get('/api/v1/query', instant);
    scope.post('/api/v1/query', instant);

    const range = async (req: FastifyRequest, reply: FastifyReply) => {
      const t0 = performance.now();
      const read = new Set<string>();
      const params = requestParams(req);
      const expr = requiredParam(params, 'query');
      const startMs = parseTimeParam(requiredParam(params, 'start'), 'start');
      const endMs = parseTimeParam(requiredParam(params, 'end'), 'end');
      const stepMs = parseDurationParam(requiredParam(params, 'step'), 'step');
      const limit = parseLimit(params);
      const result = await asQueryParam(limiter.run(() => withQuerier(req, (q) => rangeQuery(q, expr, startMs, endMs, stepMs, queryOptions(params, limit, read)))));
      return sendQueryResult(reply, formatter, result, { startMs, stepMs, endMs }, () => observeQuery('query_range', t0, read));
    };
    scope.get('/api/v1/query_range', range);
    scope.post('/api/v1/query_range', range);

    const series = async (req: FastifyRequest, reply: FastifyReply) => {
      const params = requestParams(req);
      const sets = matcherSets(params);
      if (sets.length === 0) throw new MochaError('BAD_QUERY', 'no match[] parameter provided');
      const startMs = optionalTime(params, 'start', MIN_TIME_MS);
      const endMs = optionalTime(params, 'end', MAX_TIME_MS);
      const limit = parseLimit(params);
      const all = await withQuerier(req, async (q) => {
        const seen = new Map<string, Labels>();
        for (const ms of sets) for (const l of await q.series(ms, startMs, endMs)) seen.set(labelsKey(l), l);
        return [...seen.values()];
      });
      all.sort(compareLabels);
      const warnings: string[] = [];
      let out = all;
      if (limit !== undefined && all.length > limit) {
        out = all.slice(0, limit);
        warnings.push('results truncated due to limit');
      }
      return success(reply, JSON.stringify(out.map(labelsToRecord)), warnings);
    };
    scope.get('/api/v1/series', series);
    scope.post('/api/v1/series', series);

    const labelNames = async (req: FastifyRequest, reply: FastifyReply) => {
      const params = requestParams(req);
      const sets = matcherSets(params);
      const startMs = optionalTime(params, 'start', MIN_TIME_MS);
      const endMs = optionalTime(params, 'end', MAX_TIME_MS);
      const names = await withQuerier(req, async (q) => {
        const acc = new Set<string>();
        for (const ms of sets.length > 0 ? sets : [[]]) for (const n of await q.labelNames(ms, startMs, endMs)) acc.add(n);
        return [...acc].sort();
      });
      return sendLimited(reply, names, parseLimit(params));
    };
    scope.get('/api/v1/labels', labelNames);
    scope.post('/api/v1/labels', labelNames);

    const labelValues = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
      const params = requestParams(req);
      const name = decodeLabelNameParam(req.params.name);
      const sets = matcherSets(params);
      const startMs = optionalTime(params, 'start', MIN_TIME_MS);
      const endMs = optionalTime(params, 'end', MAX_TIME_MS);
      const values = await withQuerier(req, async (q) => {
        const acc = new Set<string>();
        for (const ms of sets.length > 0 ? sets : [[]]) for (const v of await q.labelValues(name, ms, startMs, endMs)) acc.add(v);
        return [...acc].sort();
      });
      return sendLimited(reply, values, parseLimit(params));
    };
    scope.get('/api/v1/label/:name/values', labelValues);

    // Grafana's Save & test and start-up calls.
    scope.get('/api/v1/status/buildinfo', async (_req, reply) =>
      success(
        reply,
        JSON.stringify({ version: '3.0.0', revision: 'mocha-tsdb', branch: 'main', buildUser: 'mocha-tsdb', buildDate: '', goVersion: 'node' + process.versions.node }),
      ),
    );
    scope.get('/api/v1/rules', async (_req, reply) => success(reply, '{"groups":[]}'));
    // No alerting and no scraping here: empty but well-formed answers, so UIs that probe them work.
    scope.get('/api/v1/alerts', async (_req, reply) => success(reply, '{"alerts":[]}'));
    scope.get('/api/v1/targets', async (_req, reply) => success(reply, '{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}'));
    scope.get('/api/v1/status/flags', async (_req, reply) => success(reply, '{}'));
    scope.get('/api/v1/status/runtimeinfo', async (_req, reply) =>
      success(
        reply,
        JSON.stringify({
          startTime: startedAt.toISOString(),
          CWD: process.cwd(),
          reloadConfigSuccess: true,
          lastConfigTime: startedAt.toISOString(),
          corruptionCount: 0,
          goroutineCount: 0,
          GOMAXPROCS: 0,
          GOMEMLIMIT: 0,
          GOGC: '',
          GODEBUG: '',
          storageRetention: '',
        }),
      ),
    );

    // Metadata from remote write (metadata-store.ts). Prometheus serves it by GET only.
    scope.get('/api/v1/metadata', async (req, reply) => {
      const params = requestParams(req);
      const limit = parseIntParam(params, 'limit');
      const limitPerMetric = parseIntParam(params, 'limit_per_metric');
      const metric = params.get('metric') ?? undefined;
      const data = metadataStore.query(tenantOf(req), {
        ...(metric !== undefined ? { metric } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(limitPerMetric !== undefined ? { limitPerMetric } : {}),
      });
      return success(reply, JSON.stringify(data));
    });

    // Exemplars of the series each selector of the query selects (src/exemplars/store.ts), in
    // Prometheus' shape. start/end are parsed as Prometheus parses them: Grafana sends
    // milliseconds, which a float-seconds parser reads as seconds far in the future, and
    // Prometheus accepts that; so do we (only end < start is refused).
    const exemplars = async (req: FastifyRequest, reply: FastifyReply) => {
      const params = requestParams(req);
      const startMs = optionalTime(params, 'start', MIN_TIME_MS);
      const endMs = optionalTime(params, 'end', MAX_TIME_MS);
      if (endMs < startMs) throw new MochaError('BAD_QUERY', 'end timestamp must not be before start timestamp');
      const expr = parseExpr(requiredParam(params, 'query'));
      const matcherSets: Array<readonly Matcher[]> = [];
      walkExpr(expr, (node) => {
        if (node.kind === 'VectorSelector') matcherSets.push(node.matchers);
      });
      const found = opts.exemplars?.select(tenantOf(req), matcherSets, startMs, endMs) ?? [];
      let json = '[';
      for (let i = 0; i < found.length; i++) {
        const s = found[i]!;
        if (i > 0) json += ',';
        json += '{"seriesLabels":' + formatLabelsJson(s.seriesLabels) + ',"exemplars":[';
        for (let j = 0; j < s.exemplars.length; j++) {
          const e = s.exemplars[j]!;
          if (j > 0) json += ',';
          json += '{"labels":' + formatLabelsJson(e.labels) + ',"value":"' + formatFloat(e.value) + '","timestamp":' + formatTimestamp(e.timestampMs) + '}';
        }
        json += ']}';
      }
      return success(reply, json + ']');
    };
    scope.get('/api/v1/query_exemplars', exemplars);
    scope.post('/api/v1/query_exemplars', exemplars);

    // Prometheus' Pretty(0) of the parsed query (src/query/printer.ts).
    const formatQuery = async (req: FastifyRequest, reply: FastifyReply) => {
      const params = requestParams(req);
      const text = prettyExpr(await asQueryParam(Promise.resolve().then(() => parseExpr(requiredParam(params, 'query')))));
      return success(reply, jsonString(text));
    };
    scope.get('/api/v1/format_query', formatQuery);
    scope.post('/api/v1/format_query', formatQuery);
  });
}

function sendLimited(reply: FastifyReply, items: string[], limit: number | undefined): FastifyReply {
  if (limit !== undefined && items.length > limit) return success(reply, JSON.stringify(items.slice(0, limit)), ['results truncated due to limit']);
  return success(reply, JSON.stringify(items));
}

/** Label names in the path are either plain or, for UTF-8 names, "U__"-escaped (Prometheus 3). */
function decodeLabelNameParam(raw: string): string {
  if (!raw.startsWith('U__')) return raw;
  return raw.slice(3).replace(/_([0-9a-fA-F]+)_|__/g, (m, hex: string | undefined) => (hex ? String.fromCodePoint(parseInt(hex, 16)) : '_'));
}
