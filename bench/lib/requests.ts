// Pre-encodes the whole run into remote-write bodies before the server starts, so the client's
// encoding cost is not counted as server cost. Requests are shaped like Prometheus' own queue
// manager sends them: series spread over requests in a fixed shuffled order (Prometheus shards by
// series), each series once per request with one sample (or a few, with samplesPerSeries > 1),
// about samplesPerRequest samples per request (Prometheus' max_samples_per_send is 2000).
import { encodeRemoteWriteV1 } from './encode.js';
import type { Dataset } from './dataset.js';
import { mulberry32, permutation, subSeed } from './prng.js';

export interface RequestShape {
  samplesPerRequest: number;
  samplesPerSeries: number;
  seed: number;
}

export interface EncodedRequests {
  bodies: Buffer[];
  /** Samples in each request. */
  samples: Uint32Array;
  totalSamples: number;
  totalBytes: number;
  encodeMs: number;
}

/** Bounds the pre-encoded run: bodies live in memory for the whole run. */
export const ENCODED_BYTES_MAX = 8 * 1024 * 1024 * 1024;

export function buildRequests(ds: Dataset, shape: RequestShape, onProgress?: (done: number, total: number) => void): EncodedRequests {
  const t0 = performance.now();
  const sps = Math.max(1, Math.min(shape.samplesPerSeries, ds.scrapeCount));
  const seriesPerRequest = Math.max(1, Math.floor(shape.samplesPerRequest / sps));
  const order = permutation(mulberry32(subSeed(shape.seed, 0x51a4d)), ds.seriesCount);
  const scratch: Float64Array[] = [];
  for (let s = 0; s < sps; s++) scratch.push(new Float64Array(ds.seriesCount));
  const bodies: Buffer[] = [];
  const samples: number[] = [];
  let totalSamples = 0;
  let totalBytes = 0;
  const totalPlanned = ds.seriesCount * ds.scrapeCount;
  for (let k0 = 0; k0 < ds.scrapeCount; k0 += sps) {
    const k1 = Math.min(ds.scrapeCount, k0 + sps);
    for (let k = k0; k < k1; k++) ds.fillValues(k, scratch[k - k0]!);
    for (let a = 0; a < ds.seriesCount; a += seriesPerRequest) {
      const b = Math.min(ds.seriesCount, a + seriesPerRequest);
      const batch: { labels: Record<string, string>; timestampsMs: Float64Array; values: Float64Array }[] = [];
      for (let p = a; p < b; p++) {
        const i = order[p]!;
        const h = ds.hostOf[i]!;
        const ts = new Float64Array(k1 - k0);
        const vs = new Float64Array(k1 - k0);
        for (let k = k0; k < k1; k++) {
          ts[k - k0] = ds.timestampMs(h, k);
          vs[k - k0] = scratch[k - k0]![i]!;
        }
        batch.push({ labels: ds.labels(i), timestampsMs: ts, values: vs });
      }
      const body = encodeRemoteWriteV1(batch);
      bodies.push(body);
      samples.push((b - a) * (k1 - k0));
      totalSamples += (b - a) * (k1 - k0);
      totalBytes += body.length;
      if (totalBytes > ENCODED_BYTES_MAX) throw new Error(`the encoded run passes ${ENCODED_BYTES_MAX} bytes: use fewer series or a shorter duration`);
    }
    onProgress?.(totalSamples, totalPlanned);
  }
  return { bodies, samples: Uint32Array.from(samples), totalSamples, totalBytes, encodeMs: performance.now() - t0 };
}
