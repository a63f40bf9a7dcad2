// The /metrics registry's text format: counters, gauges and histograms (cumulative buckets with
// `le` last among the labels, +Inf, _sum and _count per label set), as Prometheus parses it.
import { describe, expect, it } from 'vitest';
import { Histogram, MetricsRegistry } from '../src/metrics.js';

describe('metrics registry', () => {
  it('renders a histogram per label set: cumulative buckets, +Inf, sum and count', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('q_seconds', 'Query time.', [0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 3, 3, 100]) h.observe({ endpoint: 'query_range' }, v);
    h.observe({ endpoint: 'query' }, 1);
    const lines = r.render().trim().split('\n');
    expect(lines).toEqual([
      '# HELP q_seconds Query time.',
      '# TYPE q_seconds histogram',
      'q_seconds_bucket{endpoint="query_range",le="0.1"} 2',
      'q_seconds_bucket{endpoint="query_range",le="1"} 3',
      'q_seconds_bucket{endpoint="query_range",le="10"} 5',
      'q_seconds_bucket{endpoint="query_range",le="+Inf"} 6',
      'q_seconds_sum{endpoint="query_range"} 106.65',
      'q_seconds_count{endpoint="query_range"} 6',
      'q_seconds_bucket{endpoint="query",le="0.1"} 0',
      'q_seconds_bucket{endpoint="query",le="1"} 1',
      'q_seconds_bucket{endpoint="query",le="10"} 1',
      'q_seconds_bucket{endpoint="query",le="+Inf"} 1',
      'q_seconds_sum{endpoint="query"} 1',
      'q_seconds_count{endpoint="query"} 1',
    ]);
  });

  it('counts NaN only in +Inf, and refuses bounds that are not finite and ascending', () => {
    const h = new Histogram('h', 'x', [1]);
    h.observe({}, NaN);
    expect(h.samples()).toEqual([
      ['_bucket', { le: '1' }, 0],
      ['_bucket', { le: '+Inf' }, 1],
      ['_sum', {}, NaN],
      ['_count', {}, 1],
    ]);
    expect(() => new Histogram('h', 'x', [1, 1])).toThrow(/ascending/);
    expect(() => new Histogram('h', 'x', [1, Infinity])).toThrow(/finite/);
  });

  it('renders counters and gauges as before', () => {
    const r = new MetricsRegistry();
    r.counter('c_total', 'A counter.').inc({ code: '200' }, 2);
    r.gauge('g', 'A gauge.', () => 1.5);
    expect(r.render()).toBe('# HELP c_total A counter.\n# TYPE c_total counter\nc_total{code="200"} 2\n# HELP g A gauge.\n# TYPE g gauge\ng 1.5\n');
  });
});
