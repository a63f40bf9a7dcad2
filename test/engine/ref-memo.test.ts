// SeriesRefMemo: a cached label set remembers its series ref so Engine.append skips the registry
// lookup. The memo must never outlive what it remembers: another tenant's registry, or a series
// the registry dropped (flush -> retainOnly) and must create again, both take the lookup path.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Engine } from '../../src/engine.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { newSeriesRefMemo, type AppendSeries, type SeriesRefMemo } from '../../src/model/write.js';

const dirs: string[] = [];
const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function open(): Promise<{ e: Engine; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-memo-'));
  dirs.push(dataDir);
  const e = await Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', flushCheckIntervalMs: 3_600_000 });
  engines.push(e);
  return { e, dataDir };
}

const labelsA: Labels = [
  { name: '__name__', value: 'up' },
  { name: 'job', value: 'a' },
];
const labelsB: Labels = [
  { name: '__name__', value: 'up' },
  { name: 'job', value: 'b' },
];

function series(labels: Labels, memo: SeriesRefMemo, t: number, v: number): AppendSeries {
  return { labels, key: labelsKey(labels), timestampsMs: Float64Array.of(t), values: Float64Array.of(v), refMemo: memo };
}

describe('series ref memo', () => {
  it('is filled on first use and keeps series apart', async () => {
    const { e } = await open();
    const ma = newSeriesRefMemo();
    const mb = newSeriesRefMemo();
    await e.append('t', [series(labelsA, ma, 1000, 1), series(labelsB, mb, 1000, 2)]);
    expect(ma.registry).toBeDefined();
    expect(ma.ref).not.toBe(mb.ref);
    await e.append('t', [series(labelsA, ma, 2000, 3), series(labelsB, mb, 2000, 4)]);
    expect(e.seriesCount('t')).toBe(2);
    expect(e.stats().seriesCreated).toBe(2);
  });

  it('is not used for another tenant (its registry differs)', async () => {
    const { e } = await open();
    const m = newSeriesRefMemo();
    await e.append('t1', [series(labelsA, m, 1000, 1)]);
    const firstRegistry = m.registry;
    await e.append('t2', [series(labelsA, m, 1000, 1)]);
    expect(m.registry).not.toBe(firstRegistry);
    expect(e.hasSeries('t2', labelsKey(labelsA))).toBe(true);
    expect(e.stats().seriesCreated).toBe(2);
    await e.append('t1', [series(labelsA, m, 2000, 1)]);
    expect(e.stats().seriesCreated).toBe(2); // found by key again, not created twice
  });

  it('is not used once the registry dropped the series: it is created again, and survives a restart', async () => {
    const { e, dataDir } = await open();
    const m = newSeriesRefMemo();
    await e.append('t', [series(labelsA, m, 1000, 1)]);
    const oldRef = m.ref;
    await e.flush(); // the head with the sample goes to a segment
    await e.flush(); // nothing to write: series no head references are forgotten
    expect(e.hasSeries('t', labelsKey(labelsA))).toBe(false);
    await e.append('t', [series(labelsA, m, 2000, 2)]);
    expect(e.hasSeries('t', labelsKey(labelsA))).toBe(true);
    expect(m.ref).not.toBe(oldRef);
    expect(e.stats().seriesCreated).toBe(2);
    await e.close();
    engines.splice(engines.indexOf(e), 1);
    const reopened = await Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', flushCheckIntervalMs: 3_600_000 });
    engines.push(reopened);
    expect(reopened.hasSeries('t', labelsKey(labelsA))).toBe(true);
  });
});
