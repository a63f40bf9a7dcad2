// The ingest pipeline alone: each per-tenant limit, start-timestamp zeros, partial drops, what
// the rejection message says, what /metrics counts, and exemplars going through the store in the
// WAL tick. The engine is replaced by an in-memory target that records what it was given.
import { describe, expect, it } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord, labelsKey } from '../../src/model/labels.js';
import { newSeriesRefMemo, type AppendSeries } from '../../src/model/write.js';
import { MetricsRegistry } from '../../src/metrics.js';
import {
  DEFAULT_TENANT_LIMITS,
  IngestPipeline,
  RejectionTally,
  type ExemplarInput,
  type IngestRequest,
  type IngestTarget,
  type TenantLimits,
} from '../../src/ingest/pipeline.js';
import { ExemplarStore } from '../../src/exemplars/store.js';

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
const MIN = 60_000;

class FakeTarget implements IngestTarget {
  readonly stored = new Map<string, Map<string, AppendSeries[]>>();
  readonly loggedExemplars: ExemplarInput[] = [];
  refuse: MochaError | undefined;

  append(tenant: string, series: readonly AppendSeries[], exemplars: readonly ExemplarInput[] = [], onLogged?: () => void): Promise<void> {
    if (this.refuse) return Promise.reject(this.refuse);
    let t = this.stored.get(tenant);
    if (!t) this.stored.set(tenant, (t = new Map()));
    for (const s of series) {
      const list = t.get(s.key) ?? [];
      list.push(s);
      t.set(s.key, list);
    }
    this.loggedExemplars.push(...exemplars);
    onLogged?.();
    return Promise.resolve();
  }

  seriesCount(tenant: string): number {
    return this.stored.get(tenant)?.size ?? 0;
  }

  hasSeries(tenant: string, key: string): boolean {
    return this.stored.get(tenant)?.has(key) ?? false;
  }

  samplesOf(tenant: string, labels: Record<string, string>): Array<[number, number]> {
    const parts = this.stored.get(tenant)?.get(labelsKey(labelsFromRecord(labels))) ?? [];
    return parts.flatMap((p) => Array.from(p.timestampsMs, (t, i) => [t, p.values[i]!] as [number, number]));
  }
}

function series(labels: Record<string, string>, points: Array<[number, number]>, starts?: number[]): AppendSeries {
  const l = labelsFromRecord(labels);
  return {
    labels: l,
    key: labelsKey(l),
    timestampsMs: Float64Array.from(points.map((p) => p[0])),
    values: Float64Array.from(points.map((p) => p[1])),
    ...(starts !== undefined ? { startTimestampsMs: Float64Array.from(starts) } : {}),
  };
}

function request(s: AppendSeries[], exemplars: ExemplarInput[] = []): IngestRequest {
  return { series: s, exemplars, metadata: [], rejected: new RejectionTally() };
}

function exemplar(seriesLabels: Record<string, string>, labels: Record<string, string>, timestampMs: number, value: number): ExemplarInput {
  const sl = labelsFromRecord(seriesLabels);
  return { seriesLabels: sl, seriesKey: labelsKey(sl), labels: labelsFromRecord(labels), timestampMs, value };
}

function setup(limits: Partial<TenantLimits> = {}, opts: { exemplarsMax?: number } = {}) {
  const target = new FakeTarget();
  const metrics = new MetricsRegistry();
  const store = new ExemplarStore({ capacityFor: () => opts.exemplarsMax ?? 100 });
  const pipeline = new IngestPipeline({
    target,
    metrics,
    limitsFor: (tenant) => (tenant === 'strict' ? { ...DEFAULT_TENANT_LIMITS, ...limits, seriesActiveMax: 1 } : { ...DEFAULT_TENANT_LIMITS, ...limits }),
    exemplars: store,
    nowMs: () => NOW,
  });
  /** Value of a metric line in the /metrics text. */
  const metric = (name: string, labels: Record<string, string>): number => {
    const want = `${name}{${Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')}}`;
    const line = metrics
      .render()
      .split('\n')
      .find((l) => l.startsWith(want + ' '));
    return line === undefined ? 0 : Number(line.slice(want.length + 1));
  };
  return { target, pipeline, store, metric };
}

describe('ingest pipeline limits', () => {
  it('stores everything within the limits and reports nothing rejected', async () => {
    const { target, pipeline, metric } = setup();
    const r = await pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'up', job: 'a' }, [[NOW - MIN, 1], [NOW, 2]])]));
    expect(r.samplesWritten).toBe(2);
    expect(r.rejected.empty).toBe(true);
    expect(target.samplesOf('default', { __name__: 'up', job: 'a' })).toEqual([[NOW - MIN, 1], [NOW, 2]]);
    expect(metric('mocha_ingest_samples_written_total', { protocol: 'remote_write_v1' })).toBe(2);
  });

  it('too many labels: the whole series is rejected, the others stored', async () => {
    const { target, pipeline, metric } = setup({ labelsPerSeriesMax: 3 });
    const r = await pipeline.ingest(
      'default',
      'otlp',
      request([series({ __name__: 'wide', a: '1', b: '2', c: '3' }, [[NOW, 1], [NOW - 1, 2]]), series({ __name__: 'narrow', a: '1' }, [[NOW, 5]])]),
    );
    expect(r.samplesWritten).toBe(1);
    expect(r.rejected.samples).toBe(2);
    expect(target.samplesOf('default', { __name__: 'wide', a: '1', b: '2', c: '3' })).toEqual([]);
    expect(target.samplesOf('default', { __name__: 'narrow', a: '1' })).toEqual([[NOW, 5]]);
    expect(r.rejected.message()).toBe('rejected 2 samples: too_many_labels: 2 samples of 1 series (e.g. series wide{a="1", b="2", c="3"} has 4 labels, above the limit of 3)');
    expect(metric('mocha_ingest_rejected_samples_total', { protocol: 'otlp', reason: 'too_many_labels' })).toBe(2);
  });

  it('label name and value byte limits count UTF-8 bytes, not characters', async () => {
    const { pipeline } = setup({ labelNameBytesMax: 8, labelValueBytesMax: 4 });
    const r = await pipeline.ingest(
      'default',
      'remote_write_v1',
      request([
        series({ __name__: 'm', abcdefghi: 'x' }, [[NOW, 1]]), // name of 9 bytes
        series({ __name__: 'm', v: 'éé' }, [[NOW, 1]]), // 4 bytes: allowed
        series({ __name__: 'm', v: 'ééé' }, [[NOW, 1]]), // 3 characters, 6 bytes
      ]),
    );
    expect(r.samplesWritten).toBe(1);
    expect([...r.rejected.byReason.keys()].sort()).toEqual(['label_name_too_long', 'label_value_too_long']);
    expect(r.rejected.byReason.get('label_name_too_long')!.example).toContain('"abcdefghi"');
    expect(r.rejected.byReason.get('label_name_too_long')!.example).toContain('longer than 8 bytes');
    expect(r.rejected.byReason.get('label_value_too_long')!.example).toBe('value of label v of series m{v="ééé"} is longer than 4 bytes');
  });

  it('sample age: unlimited by default (backfill), enforced when set; partial drops keep the rest of the series', async () => {
    const { target, pipeline } = setup();
    const old = NOW - 365 * 24 * 60 * MIN;
    const r = await pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'backfill' }, [[old, 1]])]));
    expect(r.rejected.empty).toBe(true);
    expect(target.samplesOf('default', { __name__: 'backfill' })).toEqual([[old, 1]]);

    const strict = setup({ sampleAgeMaxMs: 60 * MIN });
    const r2 = await strict.pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'mixed' }, [[NOW - 61 * MIN, 1], [NOW - 59 * MIN, 2], [NOW - 62 * MIN, 3], [NOW, 4]])]));
    expect(r2.samplesWritten).toBe(2);
    expect(strict.target.samplesOf('default', { __name__: 'mixed' })).toEqual([[NOW - 59 * MIN, 2], [NOW, 4]]);
    expect(r2.rejected.message()).toBe(
      `rejected 2 samples: sample_too_old: 2 samples (e.g. sample of mixed{} at ${new Date(NOW - 62 * MIN).toISOString()} is older than the limit of ${new Date(NOW - 60 * MIN).toISOString()})`,
    );
    expect(strict.metric('mocha_ingest_rejected_samples_total', { protocol: 'remote_write_v1', reason: 'sample_too_old' })).toBe(2);
  });

  it('sample future limit: 10 minutes by default, configurable', async () => {
    const { target, pipeline } = setup();
    const r = await pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'f' }, [[NOW + 10 * MIN, 1], [NOW + 10 * MIN + 1, 2]])]));
    expect(r.samplesWritten).toBe(1);
    expect(r.rejected.byReason.get('sample_too_new')).toMatchObject({ samples: 1, series: 0 });
    expect(r.rejected.message()).toContain('is more than 600s in the future');
    expect(target.samplesOf('default', { __name__: 'f' })).toEqual([[NOW + 10 * MIN, 1]]);

    const zero = setup({ sampleFutureMaxMs: 0 });
    const r2 = await zero.pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'f' }, [[NOW, 1], [NOW + 1, 2]])]));
    expect(r2.samplesWritten).toBe(1);
  });

  it('series limit: existing series keep ingesting, new ones beyond the limit are rejected, per tenant', async () => {
    const { target, pipeline, metric } = setup();
    // Tenant "strict" may hold 1 series.
    const r1 = await pipeline.ingest('strict', 'remote_write_v1', request([series({ __name__: 'a' }, [[NOW, 1]]), series({ __name__: 'b' }, [[NOW, 1]]), series({ __name__: 'c' }, [[NOW, 1]])]));
    expect(r1.samplesWritten).toBe(1);
    expect(r1.rejected.byReason.get('series_limit')).toMatchObject({ samples: 2, series: 2 });
    expect(r1.rejected.message()).toContain('tenant "strict" has reached its limit of 1 active series; new series b{} rejected');
    const r2 = await pipeline.ingest('strict', 'remote_write_v1', request([series({ __name__: 'a' }, [[NOW + 1, 2]]), series({ __name__: 'd' }, [[NOW, 1]])]));
    expect(r2.samplesWritten).toBe(1);
    expect(target.samplesOf('strict', { __name__: 'a' })).toEqual([[NOW, 1], [NOW + 1, 2]]);
    expect(metric('mocha_ingest_rejected_samples_total', { protocol: 'remote_write_v1', reason: 'series_limit' })).toBe(3);
    // Another tenant is not affected.
    const r3 = await pipeline.ingest('other', 'remote_write_v1', request([series({ __name__: 'b' }, [[NOW, 1]]), series({ __name__: 'c' }, [[NOW, 1]])]));
    expect(r3.rejected.empty).toBe(true);
  });

  it('decoder rejections are merged into the result, counted and described', async () => {
    const { pipeline, metric } = setup();
    const req = request([series({ __name__: 'ok' }, [[NOW, 1]])]);
    req.rejected.add('invalid_labels', 3, 1, 'label name "0bad" is not valid');
    const r = await pipeline.ingest('default', 'remote_write_v2', req);
    expect(r.samplesWritten).toBe(1);
    expect(r.rejected.message()).toBe('rejected 3 samples: invalid_labels: 3 samples of 1 series (e.g. label name "0bad" is not valid)');
    expect(metric('mocha_ingest_rejected_samples_total', { protocol: 'remote_write_v2', reason: 'invalid_labels' })).toBe(3);
  });

  it('back-pressure from the engine propagates and nothing is stored or counted as written', async () => {
    const { target, pipeline, store, metric } = setup();
    target.refuse = new MochaError('TOO_MANY_REQUESTS', 'memtables full');
    const req = request([series({ __name__: 'bp' }, [[NOW, 1]])], [exemplar({ __name__: 'bp' }, { trace_id: 'a' }, NOW, 1)]);
    await expect(pipeline.ingest('default', 'remote_write_v1', req)).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    expect(target.samplesOf('default', { __name__: 'bp' })).toEqual([]);
    expect(store.size()).toBe(0);
    expect(metric('mocha_ingest_samples_written_total', { protocol: 'remote_write_v1' })).toBe(0);
  });
});

describe('start timestamps (withStartZeros)', () => {
  it('a start before the sample becomes a zero at the start time, once per start', async () => {
    const { target, pipeline } = setup();
    const st = NOW - 5 * MIN;
    const r1 = await pipeline.ingest('default', 'otlp', request([series({ __name__: 'c_total' }, [[NOW - MIN, 7]], [st])]));
    expect(r1.samplesWritten).toBe(1); // the zero is stored but not counted as sent
    const r2 = await pipeline.ingest('default', 'otlp', request([series({ __name__: 'c_total' }, [[NOW, 9]], [st])]));
    expect(r2.samplesWritten).toBe(1);
    expect(target.samplesOf('default', { __name__: 'c_total' })).toEqual([[st, 0], [NOW - MIN, 7], [NOW, 9]]);
    // A reset: a new start, a new zero.
    const st2 = NOW - 30_000;
    await pipeline.ingest('default', 'otlp', request([series({ __name__: 'c_total' }, [[NOW + 1000, 1]], [st2])]));
    expect(target.samplesOf('default', { __name__: 'c_total' }).slice(3)).toEqual([[st2, 0], [NOW + 1000, 1]]);
  });

  it('a request refused under back-pressure injects its zero again when retried', async () => {
    const { target, pipeline } = setup();
    const st = NOW - 5 * MIN;
    const req = () => request([series({ __name__: 'c_total' }, [[NOW, 4]], [st])]);
    target.refuse = new MochaError('TOO_MANY_REQUESTS', 'full');
    await expect(pipeline.ingest('default', 'otlp', req())).rejects.toThrow('full');
    target.refuse = undefined;
    await pipeline.ingest('default', 'otlp', req());
    expect(target.samplesOf('default', { __name__: 'c_total' })).toEqual([[st, 0], [NOW, 4]]);
  });

  it('ignores starts that are 0, equal to or after the sample', async () => {
    const { target, pipeline } = setup();
    await pipeline.ingest('default', 'otlp', request([series({ __name__: 'c_total' }, [[NOW - 2, 1], [NOW - 1, 2], [NOW, 3]], [0, NOW - 1, NOW + 5])]));
    expect(target.samplesOf('default', { __name__: 'c_total' })).toEqual([[NOW - 2, 1], [NOW - 1, 2], [NOW, 3]]);
  });

  it('zeros of a series dropped by a limit are not counted as written', async () => {
    const { target, pipeline } = setup({ labelsPerSeriesMax: 1 });
    const r = await pipeline.ingest('default', 'otlp', request([series({ __name__: 'c_total', job: 'x' }, [[NOW, 3]], [NOW - MIN])]));
    expect(r.samplesWritten).toBe(0);
    expect(r.rejected.byReason.get('too_many_labels')).toMatchObject({ samples: 2, series: 1 });
    expect(target.seriesCount('default')).toBe(0);
  });

  it('a zero outside the age limit is dropped, the sample kept', async () => {
    const { target, pipeline } = setup({ sampleAgeMaxMs: 10 * MIN });
    const r = await pipeline.ingest('default', 'otlp', request([series({ __name__: 'c_total' }, [[NOW, 3]], [NOW - 20 * MIN])]));
    expect(target.samplesOf('default', { __name__: 'c_total' })).toEqual([[NOW, 3]]);
    expect(r.rejected.byReason.get('sample_too_old')?.samples).toBe(1);
  });
});

describe('exemplars through the pipeline', () => {
  it('are logged with the samples and stored in the same tick; duplicates are skipped silently', async () => {
    const { target, pipeline, store, metric } = setup();
    const ex = exemplar({ __name__: 'h_bucket', le: '1' }, { trace_id: 'abc' }, NOW, 0.5);
    const r = await pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'h_bucket', le: '1' }, [[NOW, 3]])], [ex]));
    expect(r.exemplarsWritten).toBe(1);
    expect(target.loggedExemplars).toEqual([ex]);
    expect(store.size()).toBe(1);
    // A retry of the same request: the sample is rewritten (same value), the exemplar is not doubled.
    const again = await pipeline.ingest('default', 'remote_write_v1', request([series({ __name__: 'h_bucket', le: '1' }, [[NOW, 3]])], [ex]));
    expect(again.exemplarsWritten).toBe(0);
    expect(again.rejected.empty).toBe(true);
    expect(target.loggedExemplars).toHaveLength(1);
    expect(store.size()).toBe(1);
    expect(metric('mocha_ingest_exemplars_written_total', { protocol: 'remote_write_v1' })).toBe(1);
  });

  it('labels over 128 runes are rejected with a message; a series dropped by a limit drops its exemplars', async () => {
    const { pipeline, store, metric } = setup({ labelsPerSeriesMax: 2 });
    const long = exemplar({ __name__: 'm' }, { trace_id: 'é'.repeat(121) }, NOW, 1); // 8 + 121 = 129 runes
    const fits = exemplar({ __name__: 'm' }, { trace_id: '😀'.repeat(120) }, NOW, 2); // 8 + 120 runes (240 UTF-16 units)
    const ofDropped = exemplar({ __name__: 'm', a: '1', b: '2' }, { trace_id: 'x' }, NOW, 3);
    const r = await pipeline.ingest(
      'default',
      'remote_write_v1',
      request([series({ __name__: 'm' }, [[NOW, 1]]), series({ __name__: 'm', a: '1', b: '2' }, [[NOW, 1]])], [long, fits, ofDropped]),
    );
    expect(r.exemplarsWritten).toBe(1);
    expect(r.rejected.exemplars).toBe(2);
    expect(r.rejected.samples).toBe(1);
    expect(r.rejected.message()).toMatch(/^rejected 1 samples and 2 exemplars: /);
    expect(r.rejected.message()).toContain('invalid_exemplar: 2 exemplars (e.g. exemplar of m{a="1", b="2"} not stored: the series was rejected)');
    const r2 = await pipeline.ingest('default', 'remote_write_v1', request([], [long]));
    expect(r2.rejected.message()).toBe('rejected 0 samples and 1 exemplars: invalid_exemplar: 1 exemplars (e.g. exemplar labels of m{} have 129 runes, above the limit of 128)');
    expect(store.select('default', [[]], -Infinity, Infinity).flatMap((s) => s.exemplars.map((e) => e.value))).toEqual([2]);
    expect(metric('mocha_ingest_rejected_exemplars_total', { protocol: 'remote_write_v1', reason: 'invalid_exemplar' })).toBe(3);
    expect(metric('mocha_ingest_rejected_samples_total', { protocol: 'remote_write_v1', reason: 'invalid_exemplar' })).toBe(0);
  });

  it('a tenant with exemplarsMax 0 stores none and reports no rejection', async () => {
    const { pipeline, store } = setup({}, { exemplarsMax: 0 });
    const r = await pipeline.ingest('default', 'otlp', request([series({ __name__: 'm' }, [[NOW, 1]])], [exemplar({ __name__: 'm' }, {}, NOW, 1)]));
    expect(r.exemplarsWritten).toBe(0);
    expect(r.rejected.empty).toBe(true);
    expect(store.ignored()).toBe(1);
  });
});

describe('label checks remembered on cached label sets (SeriesRefMemo.labelLimitsPassed)', () => {
  it('a label set that passed under one tenant\'s limits is still checked under another\'s', async () => {
    const target = new FakeTarget();
    const loose: TenantLimits = { ...DEFAULT_TENANT_LIMITS };
    const tight: TenantLimits = { ...DEFAULT_TENANT_LIMITS, labelsPerSeriesMax: 2 };
    const pipeline = new IngestPipeline({ target, metrics: new MetricsRegistry(), limitsFor: (t) => (t === 'tight' ? tight : loose), nowMs: () => NOW });
    const memo = newSeriesRefMemo();
    const cached = (t: number): AppendSeries => ({ ...series({ __name__: 'up', job: 'a', instance: 'i' }, [[t, 1]]), refMemo: memo });
    expect((await pipeline.ingest('loose', 'remote_write_v1', request([cached(NOW - 2)]))).samplesWritten).toBe(1);
    expect(memo.labelLimitsPassed).toBe(loose);
    const r = await pipeline.ingest('tight', 'remote_write_v1', request([cached(NOW - 1)]));
    expect(r.samplesWritten + 0).toBe(0); // + 0: the pipeline may report -0
    expect([...r.rejected.byReason.keys()]).toEqual(['too_many_labels']);
    expect(memo.labelLimitsPassed).toBe(loose);
    expect((await pipeline.ingest('loose', 'remote_write_v1', request([cached(NOW)]))).samplesWritten).toBe(1);
    expect(target.samplesOf('loose', { __name__: 'up', job: 'a', instance: 'i' })).toHaveLength(2);
    expect(target.samplesOf('tight', { __name__: 'up', job: 'a', instance: 'i' })).toEqual([]);
  });
});
