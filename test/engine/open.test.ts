// Engine.open over many segments: they are opened several at a time (SEGMENT_OPEN_CONCURRENCY),
// every one comes back with its data, and when one of them is damaged the open fails with that
// segment's error and closes the files of the segments it had already opened.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Engine } from '../../src/engine.js';
import { newMatcher } from '../../src/model/matchers.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { PARTITION_MS } from '../../src/constants.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

const PARTITIONS = 7;
const SERIES = 5;
const STEP_MS = 60_000;

function openEngine(dataDir: string): Promise<Engine> {
  return Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'off', compactionWorkers: 1 });
}

/** Open file descriptors of this process (Linux), or undefined where /proc is not there. */
function openFds(): number | undefined {
  try {
    return fsSync.readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

describe('Engine.open over many segments', () => {
  it('opens every segment with its data, and a damaged one fails the open and leaves no file open', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-engine-open-'));
    dirs.push(dataDir);
    const first = Math.floor(Date.now() / PARTITION_MS) * PARTITION_MS - (PARTITIONS + 1) * PARTITION_MS;
    const perSeries = (PARTITIONS * PARTITION_MS) / STEP_MS;
    const series = Array.from({ length: SERIES }, (_, i) => {
      const labels: Labels = [
        { name: '__name__', value: 'm' },
        { name: 'i', value: String(i) },
      ];
      const timestampsMs = Float64Array.from({ length: perSeries }, (_, k) => first + k * STEP_MS + i);
      const values = Float64Array.from({ length: perSeries }, (_, k) => i * 1e6 + k);
      return { labels, key: labelsKey(labels), timestampsMs, values };
    });
    const writer = await openEngine(dataDir);
    await writer.append('default', series);
    await writer.flush();
    expect(writer.stats().segments).toBe(PARTITIONS);
    await writer.close();

    const reopened = await openEngine(dataDir);
    try {
      expect(reopened.stats().segments).toBe(PARTITIONS);
      const q = reopened.querier('default');
      try {
        const got = await q.selectSeries([newMatcher('=', '__name__', 'm')], first, first + PARTITIONS * PARTITION_MS);
        expect(got.length).toBe(SERIES);
        for (const s of got) {
          const i = Number(s.labels.find((l) => l.name === 'i')!.value);
          expect(Array.from(s.timestampsMs)).toEqual(Array.from(series[i]!.timestampsMs));
          expect(Array.from(s.values)).toEqual(Array.from(series[i]!.values));
        }
      } finally {
        q.close();
      }
    } finally {
      await reopened.close();
    }

    // Damage the samples of the fifth segment (by name: partitions sort by time): its CRC fails.
    const segmentsDir = path.join(dataDir, 'tenants', 'default', 'segments');
    const names = (await fs.readdir(segmentsDir)).sort();
    expect(names.length).toBe(PARTITIONS);
    const samplesFile = path.join(segmentsDir, names[4]!, 'samples.arrow');
    const bytes = await fs.readFile(samplesFile);
    const at = bytes.length >> 1;
    bytes[at] = bytes[at]! ^ 0xff;
    await fs.writeFile(samplesFile, bytes);

    const fdsBefore = openFds();
    const err = await openEngine(dataDir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error & { code?: string }).code).toBe('SEGMENT_CORRUPT');
    expect((err as Error).message).toMatch(/samples\.arrow checksum mismatch/);
    if (fdsBefore === undefined) {
      console.log('no /proc/self/fd here: the open files after a failed open are not counted');
    } else {
      expect(openFds()).toBe(fdsBefore);
    }

    // Mended, the same directory opens again with every segment.
    bytes[at] = bytes[at]! ^ 0xff;
    await fs.writeFile(samplesFile, bytes);
    const again = await openEngine(dataDir);
    expect(again.stats().segments).toBe(PARTITIONS);
    await again.close();
  });
});
