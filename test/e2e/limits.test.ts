// Per-tenant limits through the real server: flags set the defaults, --limits-file overrides
// some tenants; rejections are answered (remote write 1.0: 400 with the reason, the rest stored)
// and counted in /metrics; a bad configuration stops the start with a clear message.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { postRemoteWrite, promGet, startServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const NOW = Date.now();

async function metricLine(url: string, prefix: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  const l = text.split('\n').find((x) => x.startsWith(prefix + ' '));
  return l === undefined ? 0 : Number(l.slice(prefix.length + 1));
}

describe('per-tenant limits (real server)', () => {
  const dir = tempDataDir('mocha-limits-');
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('flags are the defaults, the limits file overrides a tenant, rejections are explained and counted', async () => {
    const limitsFile = path.join(dir, 'limits.json');
    fs.writeFileSync(limitsFile, JSON.stringify({ tenants: { small: { seriesActiveMax: 2, sampleFutureMax: '0' } } }));
    server = await startServer({ dataDir: path.join(dir, 'data'), args: ['--limits-file', limitsFile, '--sample-age-max', '1h', '--labels-per-series-max', '3'] });
    const url = server.url;
    const write = (tenant: string, series: Parameters<typeof encodeRemoteWriteV1>[0]) => postRemoteWrite(url, encodeRemoteWriteV1(series), { 'X-Scope-OrgID': tenant });

    // Default tenant: the age flag (1h) and the label-count flag (3) apply.
    const r1 = await write('default', [
      { labels: { __name__: 'lim', a: '1' }, timestampsMs: [NOW - 2 * 3600_000, NOW - 1000], values: [1, 2] },
      { labels: { __name__: 'lim', a: '1', b: '2', c: '3' }, timestampsMs: [NOW], values: [3] },
    ]);
    expect(r1.status).toBe(400);
    expect(r1.text).toContain('rejected 2 samples: ');
    expect(r1.text).toContain('sample_too_old: 1 samples (e.g. sample of lim{a="1"} at');
    expect(r1.text).toContain('too_many_labels: 1 samples of 1 series (e.g. series lim{a="1", b="2", c="3"} has 4 labels, above the limit of 3)');
    const stored = await promGet<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(url, `/api/v1/query?query=${encodeURIComponent('lim[3h]')}&time=${NOW / 1000}`);
    expect(stored.body.data.result.map((r) => r.values.map((v) => v[1]))).toEqual([['2']]); // the valid sample was kept

    // Tenant "small": two series at most, nothing in the future.
    const r2 = await write('small', [0, 1, 2].map((i) => ({ labels: { __name__: 'few', i: String(i) }, timestampsMs: [NOW - 1000], values: [i] })));
    expect(r2.status).toBe(400);
    expect(r2.text).toContain('series_limit: 1 samples of 1 series (e.g. tenant "small" has reached its limit of 2 active series; new series few{i="2"} rejected)');
    const r3 = await write('small', [{ labels: { __name__: 'few', i: '0' }, timestampsMs: [NOW + 60_000], values: [1] }]);
    expect(r3.status).toBe(400);
    expect(r3.text).toContain('sample_too_new');
    // Another tenant is not held to "small"'s limits.
    const r4 = await write('big', [0, 1, 2].map((i) => ({ labels: { __name__: 'few', i: String(i) }, timestampsMs: [NOW + 60_000], values: [i] })));
    expect(r4.status).toBe(204);

    expect(await metricLine(url, 'mocha_ingest_rejected_samples_total{protocol="remote_write_v1",reason="sample_too_old"}')).toBe(1);
    expect(await metricLine(url, 'mocha_ingest_rejected_samples_total{protocol="remote_write_v1",reason="too_many_labels"}')).toBe(1);
    expect(await metricLine(url, 'mocha_ingest_rejected_samples_total{protocol="remote_write_v1",reason="series_limit"}')).toBe(1);
    expect(await metricLine(url, 'mocha_ingest_rejected_samples_total{protocol="remote_write_v1",reason="sample_too_new"}')).toBe(1);
  });

  it('a bad limits file or flag stops the start with a message naming it', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ tenants: { t1: { seriesMax: 5 } } }));
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, '--data-dir', path.join(dir, 'never'), '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 30_000 });
    const r1 = run(['--limits-file', bad]);
    expect(r1.status).toBe(1);
    expect(r1.stderr).toContain(`${bad}: tenant "t1": unknown limit "seriesMax"`);
    const r2 = run(['--sample-future-max', 'tomorrow']);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain('--sample-future-max: "tomorrow" is not a duration');
    const r3 = run(['--limits-file', path.join(dir, 'missing.json')]);
    expect(r3.status).toBe(1);
    expect(r3.stderr).toContain('cannot read');
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false); // nothing was created
  });
});
