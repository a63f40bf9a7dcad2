// The remote-write metadata store behind /api/v1/metadata: per tenant, de-duplicated, bounded
// (least recently written families go first), and answering Prometheus' limit semantics.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MetadataStore, METADATA_FILE_VERSION, METADATA_VARIANTS_PER_METRIC_MAX } from '../../src/api/metadata-store.js';
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

describe('MetadataStore persistence (<data-dir>/metadata.json)', () => {
  const dirs: string[] = [];
  const tmpFile = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-md-'));
    dirs.push(dir);
    return path.join(dir, 'metadata.json');
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('saves on close and loads everything back, tenants, variants and eviction order included', async () => {
    const file = tmpFile();
    const a = MetadataStore.open({ file, saveIntervalMs: 3_600_000 }, 4);
    a.add('t1', [md('old'), md('x', 'X ünïcödé', 'gauge', 'bytes'), md('x', 'X2', 'gauge', 'bytes')]);
    a.add('t2', [md('y', 'Y', 'summary')]);
    expect(fs.existsSync(file)).toBe(false); // nothing written before the interval or close
    await a.close();
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { version: number; families: Array<{ tenant: string; metric: string }> };
    expect(doc.version).toBe(METADATA_FILE_VERSION);
    expect(doc.families.map((f) => `${f.tenant}/${f.metric}`)).toEqual(['t1/old', 't1/x', 't2/y']);
    const b = MetadataStore.open({ file, saveIntervalMs: 3_600_000 }, 4);
    b.assertInvariants();
    expect(b.query('t1')).toEqual(a.query('t1'));
    expect(b.query('t2')).toEqual(a.query('t2'));
    // The eviction order survived: the least recently written family ("old") goes first.
    b.add('t1', [md('z')]);
    expect(Object.keys(b.query('t1'))).toEqual(['x', 'z']);
    await b.close();
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
  });

  it('saves periodically only when something changed', async () => {
    const file = tmpFile();
    const s = MetadataStore.open({ file, saveIntervalMs: 20 });
    s.add('t', [md('a')]);
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
    expect(fs.existsSync(file)).toBe(true);
    fs.writeFileSync(file, fs.readFileSync(file)); // a marker: rewritten only if the store saves again
    const marked = fs.statSync(file).mtimeMs;
    s.add('t', [md('a')]); // no change
    await new Promise((r) => setTimeout(r, 80));
    expect(fs.statSync(file).mtimeMs).toBe(marked);
    s.add('t', [md('b')]);
    for (let i = 0; i < 100 && fs.statSync(file).mtimeMs === marked; i++) await new Promise((r) => setTimeout(r, 10));
    expect((JSON.parse(fs.readFileSync(file, 'utf8')) as { families: unknown[] }).families).toHaveLength(2);
    await s.close();
  });

  it('starts empty, with a warning, on a damaged or unknown file, and replaces it at the next save', async () => {
    const bad = ['{"version":1,"families":[{"tenant":"t"', '{"version":2,"families":[]}', '{"version":1,"families":[{"tenant":"t","metric":"m","variants":[{"type":"bogus","help":"","unit":""}]}]}', '\u0000\u0001garbage'];
    for (const text of bad) {
      const file = tmpFile();
      fs.writeFileSync(file, text);
      const warnings: string[] = [];
      const s = MetadataStore.open({ file, saveIntervalMs: 3_600_000, warn: (m) => warnings.push(m) });
      expect(s.size()).toBe(0);
      expect(warnings.join('\n')).toMatch(/not a valid metadata file/);
      s.add('t', [md('fresh')]);
      await s.close();
      const again = MetadataStore.open({ file, saveIntervalMs: 3_600_000 });
      expect(Object.keys(again.query('t'))).toEqual(['fresh']);
      await again.close();
    }
  });

  it('a missing file is a normal first start (no warning)', async () => {
    const warnings: string[] = [];
    const s = MetadataStore.open({ file: tmpFile(), warn: (m) => warnings.push(m) });
    expect(s.size()).toBe(0);
    expect(warnings).toEqual([]);
    await s.close();
  });
});
