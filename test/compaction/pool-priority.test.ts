// The compaction worker thread runs at a lower OS priority than the rest of the process (issue #5:
// ingest latency while compacting), in a pool of its own so flushes keep normal priority and never
// wait for a free worker behind a compaction task. Thread priorities are per thread on Linux only:
// elsewhere these tests skip and say why.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CompactionPool, workerFile } from '../../src/compaction/pool.js';
import { COMPACTION_THREAD_NICE, currentThreadId, lowerThreadPriority } from '../../src/compaction/thread-priority.js';
import { PARTITION_MS } from '../../src/constants.js';
import { segmentName, tenantSegmentsDir } from '../../src/segment/format.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { writeSegment } from '../../src/segment/writer.js';
import { packSeries } from '../../src/compaction/flush-task.js';

registerArrowCodecs();
const LINUX = process.platform === 'linux' && fs.existsSync('/proc/thread-self');
if (!LINUX) console.log(`skipping thread priority checks: per-thread nice values are read from /proc/thread-self on Linux only (platform ${process.platform})`);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-pool-'));
  dirs.push(d);
  return d;
}

/** Nice values of this process' threads by thread id, from /proc (field 19 of stat). */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      // Fields after the command name "(...)", which may hold spaces: state is field 3, nice 19.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), Number(rest[16]));
    } catch {
      // the thread exited meanwhile
    }
  }
  return out;
}

/** Runs lowerThreadPriority(nice) in a fresh worker thread (the built module) and returns its answer. */
async function inWorker(nices: number[]): Promise<Array<{ tid?: number; nice?: number; skipped?: string }>> {
  const file = workerFile('thread-priority');
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.file).then((m) => parentPort.postMessage(workerData.nices.map((n) => m.lowerThreadPriority(n))));`,
    { eval: true, workerData: { file, nices } },
  );
  try {
    return await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  } finally {
    await w.terminate();
  }
}

describe.skipIf(!LINUX)('lowerThreadPriority', () => {
  it('renices only the calling thread, and never raises a priority', async () => {
    const mainTid = currentThreadId()!;
    expect(mainTid).toBe(process.pid); // the main thread's id is the process id
    const mainBefore = os.getPriority(mainTid);
    const [first, again] = await inWorker([COMPACTION_THREAD_NICE, COMPACTION_THREAD_NICE - 5]);
    expect(first!.skipped).toBeUndefined();
    expect(first!.tid).not.toBe(mainTid);
    expect(first!.nice).toBe(Math.max(mainBefore, COMPACTION_THREAD_NICE));
    // A smaller value would raise the priority again: left as it is.
    expect(again!.nice).toBe(first!.nice);
    expect(os.getPriority(mainTid)).toBe(mainBefore);
    expect(os.getPriority(process.pid)).toBe(mainBefore);
  });

  it('reports a thread already at a lower priority without changing it', () => {
    const now = os.getPriority(currentThreadId()!);
    // Asking for the current value (or less) changes nothing, also in the main thread.
    expect(lowerThreadPriority(now)).toEqual({ tid: currentThreadId(), nice: now });
    expect(os.getPriority(currentThreadId()!)).toBe(now);
  });
});

describe('CompactionPool', () => {
  it('runs compaction tasks on a thread of lower priority, flushes and the main thread at normal priority', async () => {
    const dataDir = tmp();
    const dir = tenantSegmentsDir(dataDir, 'default');
    const p0 = 1_700_006_400_000 - (1_700_006_400_000 % PARTITION_MS);
    const names: string[] = [];
    for (let i = 0; i < 2; i++) {
      const name = segmentName('raw', p0, i + 1);
      await writeSegment(dir, name, {
        tenant: 'default',
        level: 'raw',
        partitionStartMs: p0,
        partitionEndMs: p0 + PARTITION_MS,
        series: [{ labels: [{ name: '__name__', value: 'm' }], timestampsMs: Float64Array.from([p0 + i * 1000]), values: Float64Array.from([i]) }],
      });
      names.push(name);
    }
    const mainBefore = LINUX ? os.getPriority(process.pid) : 0;
    const pool = new CompactionPool(1);
    try {
      const out = await pool.runCompaction({ dataDir, tenant: 'default', partitionStartMs: p0, partitionEndMs: p0 + PARTITION_MS, inputs: names, rawOutputName: segmentName('raw', p0, 3), levels: [] });
      expect(out.samplesOut).toBe(2);
      if (!LINUX) {
        expect(out.threadPriority?.skipped).toBeTruthy();
        return;
      }
      const tid = out.threadPriority?.tid;
      expect(out.threadPriority?.nice).toBe(Math.max(mainBefore, COMPACTION_THREAD_NICE));
      expect(threadNices().get(tid!)).toBe(out.threadPriority?.nice);
      // A flush meanwhile runs in another thread, at the main thread's priority.
      const packed = packSeries([{ labels: [{ name: '__name__', value: 'f' }], timestampsMs: Float64Array.from([p0 + 5000]), values: Float64Array.from([1]) }]);
      const flushed = await pool.runFlush({ dataDir, tenant: 'default', firstSegmentSeq: 10, ...packed });
      expect(flushed.segments.length).toBe(1);
      const nices = threadNices();
      expect(nices.get(process.pid)).toBe(mainBefore);
      // The compaction thread (and threads it started, e.g. its zstd helper) are lowered, not the process.
      const lowered = [...nices].filter(([, n]) => n !== mainBefore).map(([t]) => t);
      expect(lowered).toContain(tid);
      expect(lowered.length).toBeLessThan(nices.size);
    } finally {
      await pool.close();
    }
  });
});
