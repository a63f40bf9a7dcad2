// Micro-benchmark of remote write 1.0 decoding (src/ingest/remote-write.ts) on Prometheus-shaped
// requests: 2000 series x 1 sample each, ~10 labels with node-exporter-like names, the same
// series set sent round after round with new timestamps and values, as a Prometheus shard does.
// Reports samples/s for: snappy alone, protobuf decode + validation with and without the label
// cache, the whole async path, and the encoder (Prometheus shape and a dense shape).
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/remote-write-decode.js
// Options: --series N (distinct series, default 20000), --rounds N (default 10), --per-request N
// (series per request, default 2000), --only SCENARIO. Data comes from fixed seeds, so runs are
// comparable. Each scenario runs in a child process of its own (see SCENARIOS).
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import snappy from 'snappy';
import { decodeRemoteWriteV1, RemoteWriteDecoder } from '../../src/ingest/remote-write.js';
import { encodeRemoteWriteV1, encodeWriteRequestV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import { labelsFromRecord } from '../../src/model/labels.js';
import { mulberry32 } from '../lib/prng.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const SERIES = arg('series', 20_000);
const ROUNDS = arg('rounds', 10);
const PER_REQUEST = arg('per-request', 2000);
const T0_MS = 1_700_000_000_000;
const STEP_MS = 15_000;

// Node-exporter-like metric families and their own labels.
const FAMILIES: Array<{ name: string; labels: Array<[string, string[]]> }> = [
  { name: 'node_cpu_seconds_total', labels: [['cpu', ['0', '1', '2', '3', '4', '5', '6', '7']], ['mode', ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user']]] },
  { name: 'node_filesystem_avail_bytes', labels: [['device', ['/dev/sda1', '/dev/sdb1', 'tmpfs']], ['fstype', ['ext4', 'xfs', 'tmpfs']], ['mountpoint', ['/', '/data', '/run']]] },
  { name: 'node_network_receive_bytes_total', labels: [['device', ['eth0', 'eth1', 'lo', 'docker0']]] },
  { name: 'node_network_transmit_packets_total', labels: [['device', ['eth0', 'eth1', 'lo', 'docker0']]] },
  { name: 'node_disk_io_time_seconds_total', labels: [['device', ['sda', 'sdb', 'nvme0n1']]] },
  { name: 'node_memory_MemAvailable_bytes', labels: [] },
  { name: 'node_load1', labels: [] },
  { name: 'node_vmstat_pgfault', labels: [] },
];

function seriesLabels(rng: () => number, i: number): Record<string, string> {
  const fam = FAMILIES[i % FAMILIES.length]!;
  const host = Math.floor(i / 64);
  const labels: Record<string, string> = {
    __name__: fam.name,
    instance: `ip-10-${(host >> 8) & 255}-${host & 255}-${i % 7}.eu-west-1.compute.internal:9100`,
    job: 'node-exporter',
    cluster: `prod-${host % 4}`,
    region: 'eu-west-1',
    availability_zone: `eu-west-1${'abc'[host % 3]}`,
    namespace: 'monitoring',
    pod: `node-exporter-${(host * 2654435761) % 100000}`,
    series_id: String(i), // keeps every series distinct whatever the family
  };
  for (const [n, vals] of fam.labels) labels[n] = vals[Math.floor(rng() * vals.length)]!;
  return labels;
}

function generate(): { bodies: Buffer[]; raws: Buffer[]; sampleCounts: number[] } {
  const rng = mulberry32(1234);
  const labels = Array.from({ length: SERIES }, (_, i) => seriesLabels(rng, i));
  const bodies: Buffer[] = [];
  const raws: Buffer[] = [];
  const sampleCounts: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let start = 0; start < SERIES; start += PER_REQUEST) {
      const series: EncodeSeries[] = [];
      for (let i = start; i < Math.min(SERIES, start + PER_REQUEST); i++) {
        series.push({ labels: labels[i]!, timestampsMs: [T0_MS + r * STEP_MS + (i % 1000)], values: Float64Array.of(Math.round(rng() * 1e9) / 100) });
      }
      const raw = encodeWriteRequestV1(series);
      raws.push(Buffer.from(raw));
      bodies.push(snappy.compressSync(raw));
      sampleCounts.push(series.length);
    }
  }
  return { bodies, raws, sampleCounts };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Runs fn `reps` times after a warm-up; reports the median rate by CPU time of this process
 * (user + system, all threads: snappy's pool included), which other processes on a shared
 * machine disturb far less than wall time, and the median wall-clock rate beside it.
 */
async function measure(name: string, samples: number, reps: number, fn: () => void | Promise<void>): Promise<number> {
  await fn(); // warm-up (also fills the label cache for the cached scenarios)
  const cpuRates: number[] = [];
  const wallRates: number[] = [];
  for (let k = 0; k < reps; k++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpuRates.push(samples / ((c.user + c.system) / 1e6));
    wallRates.push(samples / (wallMs / 1000));
  }
  const rate = median(cpuRates);
  console.log(
    `${name.padEnd(60)} ${(rate / 1e6).toFixed(2).padStart(6)} M samples/s per CPU-second (${(1e9 / rate).toFixed(0).padStart(5)} ns/sample)   wall ${(median(wallRates) / 1e6).toFixed(2)} M/s`,
  );
  return rate;
}

type Scenario = (d: ReturnType<typeof generate>, samples: number) => Promise<unknown>;

const REPS = 5;
const DENSE_POINTS = 120;

/**
 * Each scenario runs in its own process: V8 decides per allocation site whether to allocate
 * straight into the old generation ("pretenuring") from how long earlier objects lived, so a
 * scenario where decoded labels live long (cached) makes the next one, where they die at once,
 * look 3-5x slower than it is.
 */
const SCENARIOS: Record<string, Scenario> = {
  'snappy-async': (d, n) =>
    measure('snappy uncompress, async (libuv pool), sequential', n, REPS, async () => {
      for (const b of d.bodies) await snappy.uncompress(b, { asBuffer: true });
    }),
  'snappy-sync': (d, n) =>
    measure('snappy uncompressSync', n, REPS, () => {
      for (const b of d.bodies) snappy.uncompressSync(b, { asBuffer: true });
    }),
  'decode-cached': async (d, n) => {
    const dec = new RemoteWriteDecoder();
    await measure('protobuf decode + validate, label cache warm', n, REPS, () => {
      for (const r of d.raws) dec.decodeWriteRequest(r);
    });
    console.log(`  label cache: ${JSON.stringify(dec.cacheStats())}`);
  },
  'decode-uncached': (d, n) => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 });
    return measure('protobuf decode + validate, no label cache', n, REPS, () => {
      for (const r of d.raws) dec.decodeWriteRequest(r);
    });
  },
  'full-cached': (d, n) =>
    measure('full decodeRemoteWriteV1 (snappy async + decode, cache warm)', n, REPS, async () => {
      for (const b of d.bodies) await decodeRemoteWriteV1(b);
    }),
  'full-uncached': (d, n) => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 });
    return measure('full decode without label cache', n, REPS, async () => {
      for (const b of d.bodies) await dec.decode(b);
    });
  },
  'full-concurrent': (d, n) =>
    // Several requests in flight, as a server with concurrent senders sees them.
    measure('full decodeRemoteWriteV1, 4 requests in flight', n, REPS, async () => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < d.bodies.length) await decodeRemoteWriteV1(d.bodies[next++]!);
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    }),
  encode: async () => {
    // Encoder: the benchmark drivers' side.
    const rng = mulberry32(99);
    const promShape: EncodeSeries[] = Array.from({ length: PER_REQUEST }, (_, i) => ({ labels: seriesLabels(rng, i), timestampsMs: [T0_MS], values: Float64Array.of(i) }));
    await measure('encodeWriteRequestV1, 2000 series x 1 sample', PER_REQUEST * 20, REPS, () => {
      for (let k = 0; k < 20; k++) encodeWriteRequestV1(promShape);
    });
    const promShapeSorted: EncodeSeries[] = promShape.map((s) => ({ ...s, labels: labelsFromRecord(s.labels as Record<string, string>) }));
    await measure('encodeWriteRequestV1, 2000 series x 1 sample, Labels arrays', PER_REQUEST * 20, REPS, () => {
      for (let k = 0; k < 20; k++) encodeWriteRequestV1(promShapeSorted);
    });
    const dense: EncodeSeries[] = Array.from({ length: 1000 }, (_, i) => ({
      labels: seriesLabels(rng, i),
      timestampsMs: Float64Array.from({ length: DENSE_POINTS }, (_, k) => T0_MS + k * STEP_MS),
      values: Float64Array.from({ length: DENSE_POINTS }, () => rng() * 100),
    }));
    await measure('encodeWriteRequestV1, 1000 series x 120 samples', 1000 * DENSE_POINTS * 2, REPS, () => {
      for (let k = 0; k < 2; k++) encodeWriteRequestV1(dense);
    });
    await measure('encodeRemoteWriteV1 (+ snappy), 1000 series x 120 samples', 1000 * DENSE_POINTS * 2, REPS, () => {
      for (let k = 0; k < 2; k++) encodeRemoteWriteV1(dense);
    });
    const denseRaw = encodeWriteRequestV1(dense);
    const dec = new RemoteWriteDecoder();
    await measure('protobuf decode, 1000 series x 120 samples (cache warm)', 1000 * DENSE_POINTS * 4, REPS, () => {
      for (let k = 0; k < 4; k++) dec.decodeWriteRequest(denseRaw);
    });
  },
};

async function main(): Promise<void> {
  const only = process.argv.indexOf('--only');
  if (only < 0) {
    // Parent: one child process per scenario, same arguments.
    for (const name of Object.keys(SCENARIOS)) {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--only', name, ...(name === 'snappy-async' ? ['--header'] : [])], { stdio: 'inherit' });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
    return;
  }
  const name = process.argv[only + 1]!;
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const data = name === 'encode' ? { bodies: [], raws: [], sampleCounts: [] } : generate();
  const samples = data.sampleCounts.reduce((a, b) => a + b, 0);
  if (process.argv.includes('--header')) {
    const rawBytes = data.raws.reduce((a, b) => a + b.length, 0);
    const bodyBytes = data.bodies.reduce((a, b) => a + b.length, 0);
    console.log(
      `remote-write decode: ${data.bodies.length} requests of ${PER_REQUEST} series x 1 sample, ${SERIES} distinct series; ` +
        `${(rawBytes / data.raws.length / 1024).toFixed(0)} KiB decoded / ${(bodyBytes / data.bodies.length / 1024).toFixed(0)} KiB snappy per request ` +
        `(${(rawBytes / samples).toFixed(0)} bytes/sample decoded); rates per CPU-second of the process, wall-clock beside`,
    );
  }
  await scenario(data, samples);
}

await main();
