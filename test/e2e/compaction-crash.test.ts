// Crash during compaction: the real server is killed with SIGKILL at random points of a
// compaction started by POST /api/v1/admin/compact (MOCHA_TEST_COMPACTION_DELAY_MS widens the
// windows before each task and between its output and the manifest swap, so kills land before,
// during and after the swap and during the deletion of the inputs). After each restart:
// - the manifest lists exactly the segment directories on disk, and each opens;
// - every acknowledged sample is there once, with the value of its last acknowledged write
//   (read back through a range selector);
// - compaction resumes: a full run leaves one raw segment per partition (plus its day's levels), whose
//   sample counts add up to exactly the distinct samples written (nothing doubled).
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { LEVEL_PARTITION_MS, PARTITION_MS } from '../../src/constants.js';
import { readManifest } from '../../src/segment/manifest.js';
import { tenantSegmentsDir } from '../../src/segment/format.js';
import { mulberry32 } from '../helpers/prng.js';
import { postRemoteWrite, promGet, startServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const SERIES = 20;
const NOW_P = Math.floor(Date.now() / PARTITION_MS) * PARTITION_MS;
/** Backfilled partitions: days back, a few hours back. */
const PARTITIONS = [NOW_P - 30 * PARTITION_MS, NOW_P - 12 * PARTITION_MS, NOW_P - 3 * PARTITION_MS];
const DELAY_MS = 250;
const ROUNDS = 6;

const servers: ServerProcess[] = [];
const dataDir = tempDataDir('mocha-compact-crash-');
afterAll(async () => {
  for (const s of servers) await s.kill9();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const s = await startServer({ dataDir, args: ['--compaction-interval', '0'], env: { MOCHA_TEST_COMPACTION_DELAY_MS: String(DELAY_MS) } });
  servers.push(s);
  return s;
}

/** Acknowledged samples: series -> time -> value of the last acknowledged write. */
const model = new Map<number, Map<number, number>>();

async function writeRound(url: string, round: number, rnd: () => number): Promise<void> {
  const series = [];
  for (let s = 0; s < SERIES; s++) {
    const ts: number[] = [];
    for (const p of PARTITIONS) {
      // Minutes 0..119 of the partition; each round writes a random subset, rewriting some.
      for (let k = 0; k < 120; k++) if (rnd() < 0.3) ts.push(p + k * 60_000 + s);
    }
    const values = ts.map((t) => round * 1e6 + s * 1000 + ((t % PARTITION_MS) / 60_000 | 0) + 0.5);
    series.push({ labels: { __name__: 'compact_crash', s: String(s) }, timestampsMs: Float64Array.from(ts), values: Float64Array.from(values) });
  }
  const res = await postRemoteWrite(url, encodeRemoteWriteV1(series));
  expect(res.status, res.text).toBe(204);
  for (let s = 0; s < SERIES; s++) {
    let m = model.get(s);
    if (!m) model.set(s, (m = new Map()));
    const x = series[s]!;
    for (let i = 0; i < x.timestampsMs.length; i++) m.set(x.timestampsMs[i]!, x.values[i]!);
  }
}

async function post(url: string, p: string): Promise<{ status: number; body: { status: string; data: Record<string, number> } }> {
  const res = await fetch(url + p, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as { status: string; data: Record<string, number> } };
}

/** The manifest and the directories on disk agree, and every acknowledged sample reads back once. */
async function check(url: string): Promise<void> {
  const m = await readManifest(dataDir);
  const onDisk = fs.readdirSync(tenantSegmentsDir(dataDir, 'default')).sort();
  expect(onDisk).toEqual(m.segments.map((s) => s.name).sort());
  const nowS = Date.now() / 1000;
  const res = await promGet<{ status: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }>(
    url,
    `/api/v1/query?query=${encodeURIComponent('compact_crash[40d]')}&time=${nowS}`,
  );
  expect(res.status).toBe(200);
  const got = new Map(res.body.data.result.map((r) => [Number(r.metric.s), r.values]));
  expect(got.size).toBe(SERIES);
  for (const [s, want] of model) {
    const values = got.get(s)!;
    const times = values.map((v) => Math.round(v[0] * 1000));
    expect(new Set(times).size).toBe(times.length);
    expect(times).toEqual([...want.keys()].sort((a, b) => a - b));
    for (const [t, v] of values) expect(Number(v)).toBe(want.get(Math.round(t * 1000)));
  }
}

describe('crash during compaction', () => {
  it('SIGKILL at random points of compactions: old or new segment set, no sample lost or doubled, compaction resumes', async () => {
    const rnd = mulberry32(20261202);
    const t0 = Date.now();
    const outcomes: number[] = [];
    let runMs = 0;
    let server = await start();
    for (let round = 0; round < ROUNDS; round++) {
      // Two flushes per round: every partition gets at least two more raw segments to merge.
      await writeRound(server.url, round * 2, rnd);
      expect((await post(server.url, '/api/v1/admin/flush')).status).toBe(200);
      await writeRound(server.url, round * 2 + 1, rnd);
      expect((await post(server.url, '/api/v1/admin/flush')).status).toBe(200);
      if (round === 0) {
        // Calibration: how long a whole run of this size takes here (with the delays).
        const t = Date.now();
        // Work units: a merge per partition, then a level build per day.
        const days = new Set(PARTITIONS.map((p) => p - (p % LEVEL_PARTITION_MS)));
        expect((await post(server.url, '/api/v1/admin/compact')).body.data.partitions).toBe(PARTITIONS.length + days.size);
        runMs = Date.now() - t;
        continue;
      }
      const compaction = fetch(server.url + '/api/v1/admin/compact', { method: 'POST' }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.floor(rnd() * runMs)));
      await server.kill9();
      await compaction;
      server = await start();
      await check(server.url);
      // Which partitions the killed run had swapped in (one raw segment left) before the kill.
      const m = await readManifest(dataDir);
      const compacted = PARTITIONS.filter((p) => m.segments.filter((x) => x.level === 'raw' && x.partitionStartMs === p).length === 1).length;
      outcomes.push(compacted);
    }
    // The kills fell at different points: before any swap, and after some (timing decides which).
    console.log(`a run takes ${runMs} ms; partitions swapped in before each kill: ${outcomes.join(', ')} (of ${PARTITIONS.length}); ${Date.now() - t0} ms`);
    expect(new Set(outcomes).size).toBeGreaterThan(1);
    // Compaction resumes and finishes: one raw segment per partition, nothing doubled.
    const res = await post(server.url, '/api/v1/admin/compact');
    expect(res.status).toBe(200);
    expect(res.body.data.failures).toBe(0);
    const m = await readManifest(dataDir);
    const raws = m.segments.filter((s) => s.level === 'raw');
    expect(raws.map((s) => s.partitionStartMs).sort()).toEqual([...PARTITIONS].sort());
    const distinct = [...model.values()].reduce((a, m2) => a + m2.size, 0);
    expect(raws.reduce((a, s) => a + s.sampleCount, 0)).toBe(distinct);
    // And the default levels, once each per day (level partition), built from exactly that day's raw segments.
    const days = new Set(raws.map((r) => r.partitionStartMs - (r.partitionStartMs % LEVEL_PARTITION_MS)));
    for (const day of days) {
      const dayRaws = raws.filter((r) => r.partitionStartMs >= day && r.partitionStartMs < day + LEVEL_PARTITION_MS).map((r) => r.name).sort();
      const levels = m.segments.filter((s) => s.level !== 'raw' && s.partitionStartMs === day);
      expect(levels.map((s) => s.level).sort()).toEqual(['1d', '1h', '5m']);
      for (const l of levels) {
        expect(l.partitionEndMs).toBe(day + LEVEL_PARTITION_MS);
        expect([...((l as { sources?: string[] }).sources ?? [])].sort()).toEqual(dayRaws);
      }
    }
    expect(m.segments.filter((s) => s.level !== 'raw').length).toBe(3 * days.size);
    await check(server.url);
    // A clean restart reads the same.
    expect(await server.stop()).toBe(0);
    server = await start();
    await check(server.url);
    // Six compaction runs plus restarts: on a busy machine the compaction thread, at a lower OS
    // priority than everything else (src/compaction/thread-priority.ts), runs several times slower.
  }, 600_000);
});
