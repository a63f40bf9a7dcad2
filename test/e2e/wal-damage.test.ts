// A damaged WAL never stops the server: it starts, logs what it cut, and keeps everything
// before the damage. Each case writes batches, crashes the server, damages the WAL on disk,
// restarts, and checks which batches are readable.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
import { postRemoteWrite, promPostForm, startServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';

const T0 = Math.floor(Date.now() / 1000) * 1000 - 10 * 60_000;
const BATCHES = 12;
const SERIES_PER_BATCH = 50;

async function writeBatches(url: string): Promise<void> {
  for (let b = 0; b < BATCHES; b++) {
    const series = [];
    for (let s = 0; s < SERIES_PER_BATCH; s++) {
      series.push({ labels: { __name__: 'damage_metric', batch: String(b), s: String(s) }, timestampsMs: new Float64Array([T0 + b * 1000]), values: new Float64Array([b * 1000 + s]) });
    }
    const res = await postRemoteWrite(url, encodeRemoteWriteV1(series));
    expect(res.status).toBe(204);
  }
}

/** Batches fully readable after restart (each batch must be all-or-nothing per WAL record). */
async function readableBatches(url: string): Promise<number[]> {
  const res = await promPostForm<{ data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }>(url, '/api/v1/query', {
    query: 'damage_metric[1h]',
    time: String(T0 / 1000 + 600),
  });
  const count = new Map<number, number>();
  for (const r of res.body.data.result) {
    const b = Number(r.metric.batch);
    expect(Number(r.values[0]![1])).toBe(b * 1000 + Number(r.metric.s));
    count.set(b, (count.get(b) ?? 0) + 1);
  }
  for (const [b, n] of count) expect(n, `batch ${b} partially kept`).toBe(SERIES_PER_BATCH);
  return [...count.keys()].sort((a, b) => a - b);
}

function walFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'wal');
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d+$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

const cases: Array<{ name: string; damage: (files: string[]) => void; expectKept: (kept: number[]) => void; warns: boolean }> = [
  {
    name: 'truncated tail',
    damage: (files) => {
      const f = files[files.length - 1]!;
      fs.truncateSync(f, fs.statSync(f).size - 7);
    },
    expectKept: (kept) => expect(kept).toEqual(Array.from({ length: BATCHES - 1 }, (_, i) => i)),
    warns: true,
  },
  {
    name: 'zero-filled tail',
    damage: (files) => fs.appendFileSync(files[files.length - 1]!, Buffer.alloc(4096)),
    expectKept: (kept) => expect(kept).toEqual(Array.from({ length: BATCHES }, (_, i) => i)),
    warns: true,
  },
  {
    name: 'flipped byte in the middle',
    damage: (files) => {
      const f = files[files.length - 1]!;
      const buf = fs.readFileSync(f);
      const at = Math.floor(buf.length / 2);
      buf[at] = buf[at]! ^ 0xff;
      fs.writeFileSync(f, buf);
    },
    expectKept: (kept) => {
      // Everything before the damaged record survives, nothing after it; at least a few batches.
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(BATCHES);
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => i));
    },
    warns: true,
  },
  {
    name: 'missing segment file',
    damage: (files) => {
      expect(files.length).toBeGreaterThanOrEqual(3);
      fs.rmSync(files[1]!);
    },
    expectKept: (kept) => {
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(BATCHES);
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => i));
    },
    warns: true,
  },
];

describe('WAL damage at start-up', () => {
  let server: ServerProcess | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await server?.kill9();
    server = undefined;
  });
  for (const c of cases) {
    it(c.name, async () => {
      const dataDir = tempDataDir('mocha-waldmg-');
      dirs.push(dataDir);
      // Small WAL segments so the batches span several files.
      const args = ['--wal-segment-bytes-max', '8192'];
      server = await startServer({ dataDir, args });
      await writeBatches(server.url);
      await server.kill9();
      c.damage(walFiles(dataDir));
      server = await startServer({ dataDir, args });
      c.expectKept(await readableBatches(server.url));
      const warnings = server.logs().filter((l) => l.includes('"level":40'));
      if (c.warns) expect(warnings.join('\n')).toMatch(/wal|WAL/);
      // And the server keeps accepting writes after the repair, which survive another restart.
      const res = await postRemoteWrite(server.url, encodeRemoteWriteV1([{ labels: { __name__: 'after_repair' }, timestampsMs: [T0], values: [1] }]));
      expect(res.status).toBe(204);
      await server.kill9();
      server = await startServer({ dataDir, args });
      const after = await promPostForm<{ data: { result: unknown[] } }>(server.url, '/api/v1/query', { query: 'after_repair[1h]', time: String(T0 / 1000 + 60) });
      expect(after.body.data.result.length).toBe(1);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);
  }
});
