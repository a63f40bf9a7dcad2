// Limits from flags and the limits file: values, defaults, and the errors a bad configuration
// stops the start with.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TENANT_POLICY, parseLimitsFile, policyFromFlags, TenantPolicies } from '../../src/ingest/limits-config.js';

describe('limits configuration', () => {
  it('flags set the defaults of every tenant; durations as --flush-interval takes them', () => {
    const p = policyFromFlags({ 'tenant-series-max': '1000', 'sample-age-max': '2h', 'sample-future-max': '30s', 'label-value-bytes-max': '256', 'exemplars-per-tenant-max': '0' });
    expect(p).toEqual({ ...DEFAULT_TENANT_POLICY, seriesActiveMax: 1000, sampleAgeMaxMs: 7_200_000, sampleFutureMaxMs: 30_000, labelValueBytesMax: 256, exemplarsMax: 0 });
    expect(policyFromFlags({})).toEqual(DEFAULT_TENANT_POLICY);
    expect(DEFAULT_TENANT_POLICY.sampleAgeMaxMs).toBe(0); // backfill allowed by default
    expect(DEFAULT_TENANT_POLICY.sampleFutureMaxMs).toBe(600_000);
  });

  it('bad flag values name the flag', () => {
    expect(() => policyFromFlags({ 'tenant-series-max': '-1' })).toThrow('--tenant-series-max: expected a whole number');
    expect(() => policyFromFlags({ 'tenant-series-max': '1.5' })).toThrow('--tenant-series-max');
    expect(() => policyFromFlags({ 'sample-age-max': 'soon' })).toThrow('--sample-age-max: "soon" is not a duration');
    expect(() => policyFromFlags({ 'sample-age-max': '-5m' })).toThrow('--sample-age-max');
    expect(() => policyFromFlags({ 'labels-per-series-max': '0' })).toThrow('labelsPerSeriesMax must be at least 1');
    expect(() => policyFromFlags({ 'label-value-bytes-max': '100000' })).toThrow('labelValueBytesMax 100000 exceeds the built-in bound 16384 (LABEL_VALUE_BYTES_MAX');
    expect(() => parseLimitsFile('{"tenants": {"a": {"labelsPerSeriesMax": 129}}}', DEFAULT_TENANT_POLICY, 'l.json')).toThrow('l.json: tenant "a": labelsPerSeriesMax 129 exceeds');
  });

  it('the file overrides some fields of some tenants; the rest come from the flags', () => {
    const defaults = policyFromFlags({ 'tenant-series-max': '1000' });
    const m = parseLimitsFile(JSON.stringify({ tenants: { 'team-a': { seriesActiveMax: 5, sampleAgeMax: '1h' }, 'team-b': { exemplarsMax: 10 } } }), defaults, 'limits.json');
    expect(m.get('team-a')).toEqual({ ...defaults, seriesActiveMax: 5, sampleAgeMaxMs: 3_600_000 });
    expect(m.get('team-b')).toEqual({ ...defaults, exemplarsMax: 10 });
    const policies = new TenantPolicies(defaults, m);
    expect(policies.get('team-a').seriesActiveMax).toBe(5);
    expect(policies.get('someone-else')).toBe(defaults);
  });

  it('a bad file stops the start with the file, tenant and key named', () => {
    const d = DEFAULT_TENANT_POLICY;
    expect(() => parseLimitsFile('{', d, 'l.json')).toThrow('l.json: not valid JSON');
    expect(() => parseLimitsFile('[]', d, 'l.json')).toThrow('l.json: expected an object');
    expect(() => parseLimitsFile('{"tenant": {}}', d, 'l.json')).toThrow('unknown top-level key "tenant"');
    expect(() => parseLimitsFile('{"tenants": {"bad id!": {}}}', d, 'l.json')).toThrow('tenant "bad id!": not a valid tenant id');
    expect(() => parseLimitsFile('{"tenants": {"a": {"seriesMax": 5}}}', d, 'l.json')).toThrow('l.json: tenant "a": unknown limit "seriesMax"; known: seriesActiveMax');
    expect(() => parseLimitsFile('{"tenants": {"a": {"sampleAgeMax": 3600}}}', d, 'l.json')).toThrow('tenant "a", sampleAgeMax: expected a duration string');
    expect(() => parseLimitsFile('{"tenants": {"a": {"labelValueBytesMax": "lots"}}}', d, 'l.json')).toThrow('tenant "a", labelValueBytesMax: expected a whole number of bytes');
    expect(() => parseLimitsFile('{"tenants": {"a": 5}}', d, 'l.json')).toThrow('tenant "a": limits must be an object');
    expect(parseLimitsFile('{}', d).size).toBe(0);
  });

  it('a missing file is a clear error', () => {
    expect(() => TenantPolicies.fromFlags({}, '/nonexistent/limits.json')).toThrow('--limits-file /nonexistent/limits.json: cannot read');
  });
});
