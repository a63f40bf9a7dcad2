import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { emptyManifest, readManifest, removeOrphanSegments, writeManifest, type Manifest } from '../../src/segment/manifest.js';
import { isMochaError } from '../../src/errors.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-manifest-'));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

const seg = (tenant: string, name: string) => ({
  tenant,
  name,
  level: 'raw' as const,
  partitionStartMs: 0,
  partitionEndMs: 7_200_000,
  minTMs: 10,
  maxTMs: 20,
  seriesCount: 1,
  sampleCount: 2,
  bytes: 100,
});

describe('manifest', () => {
  test('missing file reads as empty; write then read round-trips', async () => {
    expect(await readManifest(dataDir)).toEqual(emptyManifest());
    const m: Manifest = { formatVersion: 1, walCoveredThroughSegment: 4, nextSegmentSeq: 3, segments: [seg('a', 'raw-0-00000001'), seg('b', 'raw-0-00000002')] };
    await writeManifest(dataDir, m);
    expect(await readManifest(dataDir)).toEqual(m);
    expect((await fs.readdir(dataDir)).sort()).toEqual(['manifest.json']);
  });

  test('a leftover manifest.json.tmp (crash before rename) is ignored, then removed', async () => {
    const m: Manifest = { ...emptyManifest(), nextSegmentSeq: 2, segments: [seg('a', 'raw-0-00000001')] };
    await writeManifest(dataDir, m);
    await fs.writeFile(path.join(dataDir, 'manifest.json.tmp'), '{"formatVersion":1,"walCov'); // torn
    expect(await readManifest(dataDir)).toEqual(m);
    const removed = await removeOrphanSegments(dataDir, m);
    expect(removed).toContain(path.join(dataDir, 'manifest.json.tmp'));
  });

  test('corrupt manifests throw SEGMENT_CORRUPT', async () => {
    const bad = ['{', '[]', '{"formatVersion":2}', JSON.stringify({ ...emptyManifest(), nextSegmentSeq: 0 }), JSON.stringify({ ...emptyManifest(), segments: [seg('a', 'x'), seg('a', 'x')] }), JSON.stringify({ ...emptyManifest(), segments: [{ ...seg('../etc', 'x') }] })];
    for (const text of bad) {
      await fs.writeFile(path.join(dataDir, 'manifest.json'), text);
      await expect(readManifest(dataDir)).rejects.toSatisfy((e: unknown) => isMochaError(e) && e.code === 'SEGMENT_CORRUPT' && e.where?.file === 'manifest.json');
    }
  });

  test('removeOrphanSegments deletes tmp dirs and unlisted segments, keeps live ones', async () => {
    const mk = async (tenant: string, name: string) => {
      const d = path.join(dataDir, 'tenants', tenant, 'segments', name);
      await fs.mkdir(d, { recursive: true });
      await fs.writeFile(path.join(d, 'meta.json'), '{}');
      return d;
    };
    const live = await mk('a', 'raw-0-00000001');
    const tmp = await mk('a', 'raw-0-00000002.tmp');
    const orphan = await mk('b', 'raw-0-00000003');
    const liveB = await mk('b', 'raw-0-00000004');
    await fs.writeFile(path.join(dataDir, 'tenants', 'a', 'segments', 'README'), 'not a segment');
    const m: Manifest = { ...emptyManifest(), nextSegmentSeq: 5, segments: [seg('a', 'raw-0-00000001'), seg('b', 'raw-0-00000004')] };
    const removed = await removeOrphanSegments(dataDir, m);
    expect(removed.sort()).toEqual([orphan, tmp].sort());
    await expect(fs.stat(live)).resolves.toBeTruthy();
    await expect(fs.stat(liveB)).resolves.toBeTruthy();
    await expect(fs.stat(tmp)).rejects.toThrow();
    await expect(fs.stat(path.join(dataDir, 'tenants', 'a', 'segments', 'README'))).resolves.toBeTruthy();
    expect(await removeOrphanSegments(dataDir, m)).toEqual([]);
  });
});
