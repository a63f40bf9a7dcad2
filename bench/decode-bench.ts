// `npm run bench:decode`: remote write decoding and ingest, side by side, in one run.
//
// 1. Decode: the same Prometheus-shaped requests (bench/lib/payloads.ts: node-exporter-like
//    series, one sample per series per request, the same series every round) encoded as remote
//    write 1.0 and 2.0, decoded from their uncompressed protobuf by our decoders (label cache warm
//    and off) and by protobufjs built from the same schema text (protobuf.parse). Samples per
//    CPU-second of this process (single-threaded, so per core), median of --runs runs, the
//    decoders interleaved run by run so machine noise hits them alike.
// 2. Ingest: the same bodies POSTed to a fresh mocha server (dist/cli.js, WAL fsync on) and to a
//    fresh VictoriaMetrics (/usr/bin/victoria-metrics, remote write at /api/v1/write) with
//    --senders keep-alive connections: samples/s (wall) and samples per server CPU-second
//    (utime+stime of the server process from /proc/<pid>/stat), measured apart for the first
//    round (every series new: series creation dominates) and for rounds 2..N over the same series
//    (the steady state of a running sender). Median of --ingest-runs runs, targets and formats
//    interleaved run by run. VictoriaMetrics is skipped with a printed reason when absent, and for
//    a format it does not take (OTLP: 1.79 has no OTLP endpoint; compare with its prw1 row, the
//    same data points).
//
// Options: --series N (20000) --rounds N (101) --per-request N (2000) --runs N (7)
//          --ingest-runs N (3) --senders N (4) --formats prw1,prw2,otlp --skip-ingest --skip-decode
//          --baseline-cli PATH (also a copy of an older build's cli.js, as target mocha-baseline)
//          --profile DIR (mocha servers under --cpu-prof, .cpuprofile files in DIR) --out FILE
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PAYLOAD_FORMATS, batches, labelSink, makeWorkload, type PayloadFormat } from './lib/payloads.js';
import { readCpuSeconds, readThreadCpuSeconds } from './lib/proc.js';
import { sendAll } from './lib/sender.js';
import { startServer } from './lib/server.js';
import type { EncodedRequests } from './lib/requests.js';
import { findVictoriaMetrics, scrapeCounter, startVictoria } from './lib/victoria.js';
import { resultsDir } from './lib/paths.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const SERIES = Number(arg('series', '20000'));
// 101 rounds: a steady phase of 2M samples (3-5 s) holds VictoriaMetrics' once-a-second flush of
// its in-memory rows; at 21 rounds that work fell after the phase (0.3 CPU-s in the 3 s after).
const ROUNDS = Number(arg('rounds', '101'));
const PER_REQUEST = Number(arg('per-request', '2000'));
const RUNS = Number(arg('runs', '7'));
const INGEST_RUNS = Number(arg('ingest-runs', '3'));
const SENDERS = Number(arg('senders', '4'));
const PROFILE_DIR = process.argv.includes('--profile') ? path.resolve(arg('profile', 'profiles')) : undefined;
// --baseline-cli PATH: also run this server build (e.g. a copy of dist/ before a change), interleaved.
const BASELINE_CLI = process.argv.includes('--baseline-cli') ? path.resolve(arg('baseline-cli', '')) : undefined;
const FORMATS = arg('formats', PAYLOAD_FORMATS.map((f) => f.id).join(',')).split(',');

const log = (s: string) => process.stderr.write(`${s}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0));

interface Encoded {
  format: PayloadFormat;
  raws: Buffer[];
  bodies: Buffer[];
  samples: number[];
  totalSamples: number;
}

function encodeAll(format: PayloadFormat, workload: ReturnType<typeof makeWorkload>): Encoded {
  const raws: Buffer[] = [];
  const bodies: Buffer[] = [];
  const samples: number[] = [];
  for (const b of batches(workload)) {
    const raw = Buffer.from(format.encodeRaw(b));
    raws.push(raw);
    bodies.push(format.compress(raw));
    samples.push(b.values.length);
  }
  return { format, raws, bodies, samples, totalSamples: samples.reduce((a, b) => a + b, 0) };
}

interface DecodeRow {
  format: string;
  decoder: string;
  samplesPerCpuSecond: number;
  runs: number[];
  rawBytesPerSample: number;
  bodyBytesPerSample: number;
}

function cpuNowS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Child process mode (--decode-child FORMAT INDEX): times one decoder (INDEX -1: the decompression alone)
 * on freshly encoded data and prints its runs as JSON. One process per decoder, as in
 * bench/micro/remote-write-decode.ts: decoders sharing a process share JIT feedback and GC state,
 * which skewed the comparison by up to 10x in one measurement.
 */
function decodeChild(e: Encoded, index: number): number[] {
  const runs: number[] = [];
  if (index < 0) {
    for (const body of e.bodies) e.format.decompress(body);
    for (let r = 0; r < RUNS; r++) {
      globalThis.gc?.();
      const c0 = cpuNowS();
      for (const body of e.bodies) e.format.decompress(body);
      runs.push(e.totalSamples / (cpuNowS() - c0));
    }
    return runs;
  }
  const d = e.format.decoders()[index]!;
  // Warm-up: the JIT, and the label caches fill as they would with a steady sender.
  for (let k = 0; k < 2; k++) for (const raw of e.raws) d.decode(raw);
  for (let r = 0; r < RUNS; r++) {
    globalThis.gc?.();
    const c0 = cpuNowS();
    let n = 0;
    for (const raw of e.raws) n += d.decode(raw);
    const cpu = cpuNowS() - c0;
    if (n !== e.totalSamples) throw new Error(`${e.format.id} ${d.name}: decoded ${n} samples, expected ${e.totalSamples}`);
    runs.push(n / cpu);
  }
  return runs;
}

function decodeBench(encoded: Encoded[]): DecodeRow[] {
  const rows: DecodeRow[] = [];
  const passArgs = ['--series', String(SERIES), '--rounds', String(ROUNDS), '--per-request', String(PER_REQUEST), '--runs', String(RUNS)];
  for (const e of encoded) {
    const names = e.format.decoders().map((d) => d.name);
    const rawBytes = e.raws.reduce((a, b) => a + b.length, 0);
    const bodyBytes = e.bodies.reduce((a, b) => a + b.length, 0);
    const indexes = [...names.keys(), -1];
    for (const k of indexes) {
      const name = k < 0 ? `${e.format.compression} decompression alone (for scale)` : names[k]!;
      log(`decode: ${e.format.id} ${name}...`);
      const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...passArgs, '--formats', e.format.id, '--decode-child', String(k)], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (child.status !== 0) throw new Error(`decode child ${e.format.id}/${name} failed: ${child.stderr}`);
      const runs = JSON.parse(child.stdout.trim().split('\n').pop()!) as number[];
      rows.push({ format: e.format.id, decoder: name, samplesPerCpuSecond: median(runs), runs, rawBytesPerSample: rawBytes / e.totalSamples, bodyBytesPerSample: bodyBytes / e.totalSamples });
    }
  }
  return rows;
}

interface PhaseRate {
  samples: number;
  wallS: number;
  serverCpuS: number;
  samplesPerS: number;
  samplesPerCpuS: number;
  /** Of serverCpuS, the server's main thread (the rest: GC helpers, libuv pool, worker threads, Go's scheduler threads). */
  mainThreadCpuS: number;
  /** The other threads' CPU-s in the phase, largest first (in the JSON report only: where the rest went). */
  otherThreadsCpuS: number[];
}

interface IngestRun {
  target: string;
  format: string;
  /** Round 1: every series is new (series creation dominates). */
  first: PhaseRate;
  /** Rounds 2..N over the same series: the steady state of a running sender. */
  steady: PhaseRate;
  /** Server CPU-s in the SETTLE_MS after the steady phase's last answer. */
  settleCpuS: number;
  /** Samples the server says it stored (its own counter), to show nothing was dropped. */
  samples: number;
  serverCounted: number;
}

function asRequests(e: Encoded, from: number, to: number): EncodedRequests {
  const bodies = e.bodies.slice(from, to);
  const samples = Uint32Array.from(e.samples.slice(from, to));
  return { bodies, samples, totalSamples: samples.reduce((a, b) => a + b, 0), totalBytes: bodies.reduce((a, b) => a + b.length, 0), encodeMs: 0 };
}

const REQUESTS_PER_ROUND = Math.ceil(SERIES / PER_REQUEST);
/** How long after the steady phase the server's leftover CPU is measured. */
const SETTLE_MS = 3000;

type Target = 'mocha' | 'mocha-baseline' | 'victoria-metrics';

async function ingestOnce(target: Target, e: Encoded, vmBinary: string | undefined, profileDir: string | undefined): Promise<IngestRun | string> {
  const f = e.format;
  const reqPath = target === 'victoria-metrics' ? f.victoriaPath : f.mochaPath;
  if (reqPath === undefined) return `${target} does not take ${f.id}${f.id === 'otlp' ? ' (VictoriaMetrics 1.79 has no OTLP endpoint): compare mocha otlp with its prw1 row, the same data points' : ''}`;
  const server =
    target === 'victoria-metrics'
      ? await startVictoria(vmBinary!)
      : await startServer({ ...(profileDir !== undefined ? { cpuProfDir: profileDir } : {}), ...(target === 'mocha-baseline' ? { cliPath: BASELINE_CLI } : {}) });
  try {
    if (target === 'victoria-metrics' && f.writtenHeader !== undefined) {
      // Probe with an empty 2.0 request: a refusal, or an answer without the written-samples
      // header, means VictoriaMetrics does not speak this version (nothing stored either way).
      const res = await fetch(server.url + reqPath, { method: 'POST', headers: f.headers, body: f.compress(Buffer.alloc(0)) });
      const text = await res.text();
      if (res.status < 200 || res.status >= 300) return `${target} refused ${f.id} with ${res.status}: ${text.slice(0, 200)}`;
      if (!res.headers.has(f.writtenHeader)) return `${target} answered ${res.status} to ${f.id} without a ${f.writtenHeader} header (it does not speak this version)`;
    }
    const counter = () =>
      target === 'victoria-metrics' ? scrapeCounter(server.url, 'vm_rows_inserted_total', 'promremotewrite') : scrapeCounter(server.url, 'mocha_ingest_samples_written_total');
    const counted0 = await counter();
    const phase = async (from: number, to: number): Promise<PhaseRate> => {
      const cpu0 = readCpuSeconds(server.pid) ?? NaN;
      const threads0 = readThreadCpuSeconds(server.pid);
      const sent = await sendAll(server.url, asRequests(e, from, to), { senders: SENDERS, headers: { ...f.headers }, path: reqPath });
      const cpu1 = readCpuSeconds(server.pid) ?? NaN;
      const threads1 = readThreadCpuSeconds(server.pid);
      const wallS = (sent.endMs - sent.startMs) / 1000;
      return {
        samples: sent.ackedSamples,
        wallS,
        serverCpuS: cpu1 - cpu0,
        samplesPerS: sent.ackedSamples / wallS,
        samplesPerCpuS: sent.ackedSamples / (cpu1 - cpu0),
        mainThreadCpuS: (threads1.get(server.pid) ?? NaN) - (threads0.get(server.pid) ?? NaN),
        otherThreadsCpuS: [...threads1]
          .filter(([tid]) => tid !== server.pid)
          .map(([tid, s]) => Math.round((s - (threads0.get(tid) ?? 0)) * 100) / 100)
          .filter((s) => s > 0)
          .sort((a, b) => b - a),
      };
    };
    const first = await phase(0, REQUESTS_PER_ROUND);
    const steady = await phase(REQUESTS_PER_ROUND, e.bodies.length);
    // Work the steady phase left behind (VictoriaMetrics flushes its buffers and merges parts in
    // the background; mocha's WAL is already durable): the CPU of the next SETTLE_MS, reported apart.
    const settle0 = readCpuSeconds(server.pid) ?? NaN;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const settleCpuS = (readCpuSeconds(server.pid) ?? NaN) - settle0;
    const samples = first.samples + steady.samples;
    // VictoriaMetrics counts rows as its ingestion buffers flush (about every second): wait a little.
    let serverCounted = (await counter()) - counted0;
    for (let waited = 0; serverCounted < samples && waited < 5000; waited += 250) {
      await new Promise((r) => setTimeout(r, 250));
      serverCounted = (await counter()) - counted0;
    }
    return { target, format: f.id, first, steady, settleCpuS, samples, serverCounted };
  } finally {
    if (target === 'victoria-metrics') await (server as Awaited<ReturnType<typeof startVictoria>>).stop();
    else {
      await (server as Awaited<ReturnType<typeof startServer>>).stop();
      fs.rmSync(server.dataDir, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const workload = makeWorkload({ series: SERIES, rounds: ROUNDS, seriesPerRequest: PER_REQUEST, endMs: Math.floor(Date.now() / 1000) * 1000 - 60_000 });
  const formats = PAYLOAD_FORMATS.filter((f) => FORMATS.includes(f.id));
  if (!process.argv.includes('--decode-child')) log(`encoding ${SERIES} series x ${ROUNDS} rounds (${PER_REQUEST} per request) as ${formats.map((f) => f.id).join(', ')}...`);
  const encoded = formats.map((f) => encodeAll(f, workload));
  const childAt = process.argv.indexOf('--decode-child');
  if (childAt >= 0) {
    process.stdout.write(JSON.stringify(decodeChild(encoded[0]!, Number(process.argv[childAt + 1]))) + '\n');
    return;
  }
  const out: string[] = [];
  out.push(`# remote write decode and ingest: ${SERIES} series x ${ROUNDS} rounds, ${PER_REQUEST} samples per request, node ${process.version}`);

  let decodeRows: DecodeRow[] = [];
  if (!flag('skip-decode')) {
    log(`decode: ${RUNS} runs per decoder...`);
    decodeRows = decodeBench(encoded);
    out.push('', `## Decode (uncompressed protobuf -> samples), samples per CPU-second of one core, median of ${RUNS} runs`, '');
    out.push('| format | decoder | samples/s per core | vs ours (cache warm) | bytes/sample raw / compressed |', '|---|---|---:|---:|---:|');
    for (const f of formats) {
      const rows = decodeRows.filter((r) => r.format === f.id);
      const ref = rows[0]!.samplesPerCpuSecond;
      for (const r of rows) out.push(`| ${r.format} | ${r.decoder} | ${fmt(r.samplesPerCpuSecond)} | ${(r.samplesPerCpuSecond / ref).toFixed(2)}x | ${r.rawBytesPerSample.toFixed(1)} / ${r.bodyBytesPerSample.toFixed(1)} |`);
    }
    out.push('', `Each row runs in a process of its own (2 warm-up passes, then ${RUNS} timed passes over all requests). Ours validate labels and build label objects, series keys and typed sample arrays; "protobufjs decode" only builds its message objects (no validation); "+ label strings" also turns 2.0 refs into label objects.${labelSink < 0 ? '' : ''}`);
  }

  const ingestRuns: IngestRun[] = [];
  const skipped: string[] = [];
  if (!flag('skip-ingest')) {
    const vm = findVictoriaMetrics();
    if (vm === undefined) skipped.push('VictoriaMetrics not found (/usr/bin/victoria-metrics or victoria-metrics on PATH): mocha only');
    const targets: Target[] = ['mocha', ...(BASELINE_CLI !== undefined ? (['mocha-baseline'] as const) : []), ...(vm !== undefined ? (['victoria-metrics'] as const) : [])];
    for (let r = 0; r < INGEST_RUNS; r++) {
      for (const e of encoded) {
        for (const t of targets) {
          log(`ingest run ${r + 1}/${INGEST_RUNS}: ${t} ${e.format.id}...`);
          const res = await ingestOnce(t, e, vm, PROFILE_DIR);
          if (typeof res === 'string') {
            if (!skipped.includes(res)) skipped.push(res);
          } else ingestRuns.push(res);
        }
      }
    }
    out.push('', `## Ingest over HTTP, ${SENDERS} senders, median of ${INGEST_RUNS} runs (fresh server each run)`, '');
    out.push(`First round: ${SERIES} new series, one sample each. Steady: rounds 2..${ROUNDS} over the same series (${(SERIES * (ROUNDS - 1)).toLocaleString('en')} samples).`, '');
    out.push(`| target | format | first round samples/s (wall) | first round per server CPU-s | steady samples/s (wall) | steady per server CPU-s | steady server CPU-s | of which main thread | server CPU-s in the ${SETTLE_MS / 1000} s after | steady per server CPU-s, with the ${SETTLE_MS / 1000} s after | samples acked / counted by server |`, '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const f of formats) {
      for (const t of ['mocha', 'mocha-baseline', 'victoria-metrics']) {
        const runs = ingestRuns.filter((x) => x.format === f.id && x.target === t);
        if (runs.length === 0) continue;
        const m = (g: (x: IngestRun) => number) => median(runs.map(g));
        out.push(
          `| ${t} | ${f.id} | ${fmt(m((x) => x.first.samplesPerS))} | ${fmt(m((x) => x.first.samplesPerCpuS))} | ${fmt(m((x) => x.steady.samplesPerS))} | ${fmt(m((x) => x.steady.samplesPerCpuS))} | ${m((x) => x.steady.serverCpuS).toFixed(2)} | ${t === 'victoria-metrics' ? '-' : m((x) => x.steady.mainThreadCpuS).toFixed(2)} | ${m((x) => x.settleCpuS).toFixed(2)} | ${fmt(m((x) => x.steady.samples / (x.steady.serverCpuS + x.settleCpuS)))} | ${runs[0]!.samples} / ${runs[0]!.serverCounted} |`,
        );
      }
    }
    for (const s of skipped) out.push(`- skipped: ${s}`);
    out.push('', 'mocha acknowledges after the WAL group commit is fdatasync\'ed; VictoriaMetrics acknowledges once rows are in its in-memory buffers (flushed about every second). The client shares the machine.');
  }
  const text = out.join('\n') + '\n';
  process.stdout.write(text);
  const file = arg('out', path.join(resultsDir(), `decode-${started.toISOString().replace(/[:.]/g, '-')}.json`));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ startedAt: started.toISOString(), series: SERIES, rounds: ROUNDS, perRequest: PER_REQUEST, decode: decodeRows, ingest: ingestRuns, skipped }, null, 2) + '\n');
  log(`report saved to ${file}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
