// Backfills the rollup dataset into mocha through remote write 1.0: `senders` concurrent
// keep-alive connections, each owning a contiguous group of series and sending it in time order
// (so every series arrives in order, as from one Prometheus shard), each request a time slice of
// its group (samplesPerRequest / group size consecutive samples of every series in the group).
// Bodies are encoded on the fly: 170M samples pre-encoded would not fit in memory.
//
// The data is cut into chunks of `flushEveryScrapes` scrapes; after each chunk every sender waits
// for the others and the harness POSTs /api/v1/admin/flush (running while the next chunk is
// sent), so the memtable never holds the whole backfill (a 404 there is reported and the
// server's own --memtable-bytes-max flushes instead).
import http from 'node:http';
import { encodeRemoteWriteV1 } from '../encode.js';
import { adminPost, remoteWrite, type WriteStats } from './client.js';
import type { RollupDataset, SeriesCursor } from './dataset.js';

export interface BackfillOptions {
  senders: number;
  samplesPerRequest: number;
  flushEveryScrapes: number;
  onProgress?: (samples: number) => void;
}

export interface BackfillResult {
  ms: number;
  /** Time the flushes between chunks took (they overlap the sending of the next chunk). */
  flushMs: number;
  flushes: number;
  /** false: /api/v1/admin/flush answered 404. */
  flushAvailable: boolean;
  requests: number;
  samples: number;
  bodyBytes: number;
  retries: number;
  status429: number;
  /** Client time spent generating and encoding bodies (shares the machine with the server). */
  encodeMs: number;
  latencyMs: number[];
}

interface Group {
  cursor: SeriesCursor;
  seriesPerRequest: number;
  samplesPerSeries: number;
  scratch: Float64Array;
}

export async function backfillMocha(baseUrl: string, ds: RollupDataset, o: BackfillOptions): Promise<BackfillResult> {
  const url = new URL('/api/v1/write', baseUrl);
  const groupsN = Math.max(1, Math.min(o.senders, ds.seriesCount));
  const agent = new http.Agent({ keepAlive: true, maxSockets: groupsN });
  const groups: Group[] = [];
  for (let g = 0; g < groupsN; g++) {
    const from = Math.floor((g * ds.seriesCount) / groupsN);
    const to = Math.floor(((g + 1) * ds.seriesCount) / groupsN);
    const size = to - from;
    groups.push({ cursor: ds.cursor(from, to), seriesPerRequest: size, samplesPerSeries: Math.max(1, Math.floor(o.samplesPerRequest / size)), scratch: new Float64Array(size) });
  }
  const stats: WriteStats = { retries: 0, status429: 0 };
  const r: BackfillResult = { ms: 0, flushMs: 0, flushes: 0, flushAvailable: true, requests: 0, samples: 0, bodyBytes: 0, retries: 0, status429: 0, encodeMs: 0, latencyMs: [] };
  const t0 = performance.now();

  const sendChunk = async (g: Group, chunkEnd: number) => {
    const c = g.cursor;
    const n = c.to - c.from;
    while (c.scrape < chunkEnd) {
      const te = performance.now();
      const k0 = c.scrape;
      const m = Math.min(g.samplesPerSeries, chunkEnd - k0);
      const ts: Float64Array[] = [];
      const vs: Float64Array[] = [];
      for (let j = 0; j < n; j++) {
        ts.push(new Float64Array(m));
        vs.push(new Float64Array(m));
      }
      for (let k = 0; k < m; k++) {
        c.next(g.scratch);
        for (let j = 0; j < n; j++) {
          ts[j]![k] = ds.timestampMs(c.from + j, k0 + k);
          vs[j]![k] = g.scratch[j]!;
        }
      }
      const body = encodeRemoteWriteV1(Array.from({ length: n }, (_, j) => ({ labels: ds.labels(c.from + j), timestampsMs: ts[j]!, values: vs[j]! })));
      r.encodeMs += performance.now() - te;
      r.latencyMs.push(await remoteWrite(agent, url, body, stats));
      r.requests++;
      r.bodyBytes += body.length;
      r.samples += n * m;
      o.onProgress?.(r.samples);
    }
  };

  // A flush runs while the next chunk is sent (the server freezes the memtable and takes writes
  // into a new one); at most one is in flight, so the memtable holds at most two chunks.
  let flushing: Promise<void> | undefined;
  const flush = async () => {
    const f = await adminPost(baseUrl, '/api/v1/admin/flush');
    if (!f.available) r.flushAvailable = false;
    else {
      r.flushMs += f.ms;
      r.flushes++;
    }
  };
  try {
    for (let chunkStart = 0; chunkStart < ds.scrapeCount; chunkStart += o.flushEveryScrapes) {
      const chunkEnd = Math.min(ds.scrapeCount, chunkStart + o.flushEveryScrapes);
      await Promise.all(groups.map((g) => sendChunk(g, chunkEnd)));
      await flushing;
      if (r.flushAvailable) flushing = flush();
    }
    await flushing;
  } finally {
    agent.destroy();
  }
  r.ms = performance.now() - t0;
  r.retries = stats.retries;
  r.status429 = stats.status429;
  return r;
}
