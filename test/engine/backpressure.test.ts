// Engine back-pressure, deterministically: the WAL queue bound, series-registry memory counted
// in the memtable bound, a refused append storing nothing, and recovery once a flush frees memory.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Engine } from '../../src/engine.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import type { AppendSeries } from '../../src/model/write.js';

const dirs: string[] = [];
const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function open(opts: Partial<Parameters<typeof Engine.open>[0]>): Promise<Engine> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-bp-'));
  dirs.push(dataDir);
  const e = await Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', flushCheckIntervalMs: 3_600_000, ...opts });
  engines.push(e);
  return e;
}

function seriesBatch(prefix: string, n: number, t: number): AppendSeries[] {
  return Array.from({ length: n }, (_, i) => {
    const labels: Labels = [
      { name: '__name__', value: prefix },
      { name: 'instance', value: `host-${i}.example.org:9100` },
      { name: 'job', value: 'node' },
    ];
    return { labels, key: labelsKey(labels), timestampsMs: Float64Array.of(t), values: Float64Array.of(i) };
  });
}

describe('engine back-pressure', () => {
  it('refuses appends while the WAL queue is above its bound, and accepts again once it drains', async () => {
    const e = await open({ walPendingBytesMax: 64 });
    const first = e.append('t', seriesBatch('m', 10, 1000)); // encoded into the pending batch now
    expect(e.walStats().pendingBytes).toBeGreaterThan(64);
    await expect(e.append('t', seriesBatch('m', 10, 2000))).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS', message: expect.stringContaining('WAL has') });
    expect(e.backpressureStats()).toEqual({ memtable: 0, wal: 1 });
    await first;
    expect(e.walStats().pendingBytes).toBe(0);
    await e.append('t', seriesBatch('m', 10, 3000));
    expect(e.stats().samplesAppended).toBe(20); // the refused batch stored nothing
  });

  it('counts series-registry memory in the memtable bound, and a refusal triggers the flush that frees it', async () => {
    // One sample per series: the registry, not the heads, is what grows.
    const small = await open({ memtableBytesMax: 256 * 1024, memtableTotalBytesMax: 1024 * 1024 });
    let refused = 0;
    for (let round = 0; round < 10 && refused === 0; round++) {
      try {
        await small.append('t', seriesBatch(`m${round}`, 1000, 1000 + round));
      } catch (err) {
        expect(err).toMatchObject({ code: 'TOO_MANY_REQUESTS', message: expect.stringContaining('series registries') });
        refused++;
      }
    }
    expect(refused).toBe(1);
    const before = small.stats();
    expect(before.registryBytes).toBeGreaterThan(256 * 1024);
    expect(before.memtableBytes).toBeGreaterThan(1024 * 1024);
    expect(before.memtableBytes - before.registryBytes).toBeLessThan(1024 * 1024); // the heads alone were within the bound
    expect(small.backpressureStats().memtable).toBe(1);
    // The refusal asked for a flush; once it (and the one retaining the registry) ran, writes go through.
    await small.flush();
    await small.flush();
    expect(small.stats().memtableBytes).toBeLessThan(1024 * 1024);
    await small.append('t', seriesBatch('after', 10, 5000));
    expect(small.stats().samplesAppended).toBe(before.samplesAppended + 10);
    // What was acknowledged before the refusal is still queryable from segments.
    const q = small.querier('t');
    try {
      const got = await q.series([{ type: '=~', name: '__name__', value: 'm.*', matches: (v: string) => v.startsWith('m') }], 0, 10_000);
      expect(got.length).toBe(before.samplesAppended);
    } finally {
      q.close();
    }
  });
});
