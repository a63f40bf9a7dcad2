// Exemplar storage end to end: a writer (test/helpers/exemplar-writer.mjs, the storage in a child
// process) ingests samples with exemplars and flushes now and then, so exemplars live through WAL
// cuts and truncations only by being logged again; it is killed with SIGKILL, and the real server
// started on the same data directory must serve every acknowledged exemplar from
// /api/v1/query_exemplars, in Prometheus' shape.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promGet, promPostForm, startServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const WRITER = fileURLToPath(new URL('../helpers/exemplar-writer.mjs', import.meta.url));
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 30 * 60 * 1000 + 125; // a fraction of a second: timestamps print with decimals
const SERIES = 4;

interface ExemplarsAnswer {
  status: string;
  data: Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }> }>;
}

/** Runs the writer until it has acknowledged `rounds` requests, then kills it with SIGKILL. */
async function writeThenKill(dataDir: string, rounds: number): Promise<{ acked: number; flushes: number }> {
  const child = spawn(process.execPath, [WRITER, dataDir, String(BASE_MS), '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let acked = -1;
  let flushes = 0;
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { acked?: number; flushed?: number };
        buf = buf.slice(nl + 1);
        if (msg.acked !== undefined) acked = msg.acked;
        if (msg.flushed !== undefined) flushes++;
        if (acked + 1 >= rounds) {
          child.kill('SIGKILL');
          resolve();
        }
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
  await exited;
  return { acked: acked + 1, flushes };
}

describe('exemplars survive SIGKILL and WAL truncation, and are served in Prometheus shape', () => {
  const dataDir = tempDataDir('mocha-exemplars-');
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves every acknowledged exemplar after a crash', async () => {
    const { acked, flushes } = await writeThenKill(dataDir, 23);
    expect(flushes).toBeGreaterThanOrEqual(4);
    // The first WAL segments were truncated by the flushes: the first exemplars are only in re-logged records.
    const walSegments = fs.readdirSync(path.join(dataDir, 'wal')).filter((n) => /^\d{8}$/.test(n)).map(Number);
    expect(Math.min(...walSegments)).toBeGreaterThan(1);

    server = await startServer({ dataDir });
    const query = 'rate(ex_request_seconds_bucket[5m])';
    const res = await promGet<ExemplarsAnswer>(server.url, `/api/v1/query_exemplars?query=${encodeURIComponent(query)}&start=${(BASE_MS - 1000) / 1000}&end=${(BASE_MS + 3600_000) / 1000}`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('success');
    expect(res.body.data.map((s) => s.seriesLabels.le)).toEqual(['0', '1', '2', '3']); // sorted by series labels
    for (const s of res.body.data) {
      const le = Number(s.seriesLabels.le);
      expect(s.seriesLabels).toEqual({ __name__: 'ex_request_seconds_bucket', le: String(le) });
      // Every acknowledged one, maybe the unacknowledged last, none twice, in time order.
      expect(s.exemplars.length === acked || s.exemplars.length === acked + 1).toBe(true);
      s.exemplars.forEach((e, i) => {
        expect(e).toEqual({ labels: { trace_id: `t${i}-${le}` }, value: String(i + le / 8), timestamp: (BASE_MS + i * 1000) / 1000 });
      });
    }
    // The raw text: the value is a string, the timestamp float seconds with three decimals.
    const raw = await (await fetch(`${server.url}/api/v1/query_exemplars?query=ex_request_seconds_bucket{le="1"}&start=${BASE_MS / 1000}&end=${BASE_MS / 1000}`)).text();
    expect(raw).toBe(
      `{"status":"success","data":[{"seriesLabels":{"__name__":"ex_request_seconds_bucket","le":"1"},"exemplars":[{"labels":{"trace_id":"t0-1"},"value":"0.125","timestamp":${(BASE_MS / 1000).toFixed(3)}}]}]}`,
    );
  }, 60_000);

  it('selects by the query selectors and time range; POST form works as GET; tenants are apart', async () => {
    const url = server!.url;
    const form = await promPostForm<ExemplarsAnswer>(url, '/api/v1/query_exemplars', {
      query: 'sum(ex_request_seconds_bucket{le=~"0|3"}) / ex_request_seconds_bucket{le="2"}',
      start: String(BASE_MS / 1000),
      end: String((BASE_MS + 2000) / 1000),
    });
    expect(form.status).toBe(200);
    expect(form.body.data.map((s) => [s.seriesLabels.le, s.exemplars.length])).toEqual([
      ['0', 3],
      ['2', 3],
      ['3', 3],
    ]);
    const none = await promGet<ExemplarsAnswer>(url, '/api/v1/query_exemplars?query=no_such_metric');
    expect(none.body).toEqual({ status: 'success', data: [] });
    const otherTenant = await promGet<ExemplarsAnswer>(url, '/api/v1/query_exemplars?query=ex_request_seconds_bucket', { 'X-Scope-OrgID': 'other' });
    expect(otherTenant.body.data).toEqual([]);
    const bad = await promGet<{ status: string; errorType: string }>(url, '/api/v1/query_exemplars?query=rate(');
    expect(bad.status).toBe(400);
    expect(bad.body.errorType).toBe('bad_data');
    const backwards = await promGet<{ status: string }>(url, '/api/v1/query_exemplars?query=up&start=10&end=5');
    expect(backwards.status).toBe(400);
  });
});
