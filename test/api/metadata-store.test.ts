// The remote-write metadata store behind /api/v1/metadata: per tenant, de-duplicated, bounded
// (least recently written families go first), and answering Prometheus' limit semantics.
import { describe, expect, it } from 'vitest';
import { MetadataStore, METADATA_VARIANTS_PER_METRIC_MAX } from '../../src/api/metadata-store.js';
import type { MetricMetadata } from '../../src/ingest/remote-write.js';
import { mulberry32 } from '../helpers/prng.js';

const md = (name: string, help = `help of ${name}`, type: MetricMetadata['type'] = 'counter', unit = ''): MetricMetadata => ({ metricFamilyName: name, type, help, unit });

describe('MetadataStore', () => {
  it('keeps one entry per distinct metadata and separates tenants', () => {
    const s = new MetadataStore(100);
    s.add('a', [md('x'), md('x'), md('y', 'Y', 'gauge', 'bytes'), md('')]);
    s.add('b', [md('z')]);
    s.assertInvariants();
    expect(s.size()).toBe(3);
    expect(s.query('a')).toEqual({ x: [{ type: 'counter', help: 'help of x', unit: '' }], y: [{ type: 'gauge', help: 'Y', unit: 'bytes' }] });
    expect(s.query('b')).toEqual({ z: [{ type: 'counter', help: 'help of z', unit: '' }] });
    expect(s.query('c')).toEqual({});
  });

  it('answers metric, limit and limit_per_metric as Prometheus does', () => {
    const s = new MetadataStore(100);
    s.add('t', [md('a'), md('b'), md('b', 'other help'), md('c')]);
    expect(Object.keys(s.query('t', { limit: 2 }))).toEqual(['a', 'b']);
    expect(s.query('t', { limit: 0 })).toEqual({});
    expect(Object.keys(s.query('t', { limit: -1 }))).toEqual(['a', 'b', 'c']);
    expect(s.query('t', { metric: 'b' }).b).toHaveLength(2);
    expect(s.query('t', { metric: 'b', limitPerMetric: 1 }).b).toHaveLength(1);
    expect(s.query('t', { metric: 'b', limitPerMetric: 0 }).b).toHaveLength(2);
    expect(s.query('t', { metric: 'nope' })).toEqual({});
  });

  it('caps variants per metric, dropping the oldest', () => {
    const s = new MetadataStore(1000);
    for (let i = 0; i < METADATA_VARIANTS_PER_METRIC_MAX + 3; i++) s.add('t', [md('m', `help ${i}`)]);
    s.assertInvariants();
    const list = s.query('t').m!;
    expect(list).toHaveLength(METADATA_VARIANTS_PER_METRIC_MAX);
    expect(list[0]!.help).toBe('help 3');
  });

  it('stays within its bound under random writes, evicting the least recently written families', () => {
    const rand = mulberry32(42);
    const bound = 50;
    const s = new MetadataStore(bound);
    for (let i = 0; i < 5000; i++) {
      const tenant = `t${Math.floor(rand() * 3)}`;
      s.add(tenant, [md(`m${Math.floor(rand() * 200)}`, `h${Math.floor(rand() * 3)}`)]);
      if (i % 100 === 0) s.assertInvariants();
      expect(s.size()).toBeLessThanOrEqual(bound);
    }
    s.assertInvariants();
    // A family written last survives eviction.
    s.add('t0', [md('fresh')]);
    for (let i = 0; i < 40; i++) s.add('t1', [md(`other${i}`)]);
    expect(s.query('t0', { metric: 'fresh' })).toHaveProperty('fresh');
    for (let i = 40; i < 100; i++) s.add('t1', [md(`other${i}`)]);
    expect(s.query('t0', { metric: 'fresh' })).toEqual({});
    s.assertInvariants();
  });
});
