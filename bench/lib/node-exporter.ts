// The realistic dataset: a real node exporter scraped on a loopback port for a while (the
// "capture", saved as a small gzipped JSON fixture), then replayed as many hosts. Each host
// starts at its own point of the captured sequence; counters continue with the captured
// increments (summed to the replay interval, so a 15 s replay of a 1 s capture has 15 s-sized
// increments) and keep their decimals; gauges play back and forth over the capture.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { ScrapeClock, chooseSelectors, decimalsOf, instanceOf, type Dataset, type QuerySelectors, type SeriesLabels } from './dataset.js';
import { parsePromText } from './prom-text.js';
import { subSeed } from './prng.js';
import { which } from './paths.js';

export const NODE_EXPORTER_BINARIES = ['prometheus-node-exporter', 'node_exporter'];

/** Fixture values: numbers, or these strings for what JSON cannot hold. */
type FixtureValue = number | 'NaN' | '+Inf' | '-Inf';

export interface NodeExporterFixture {
  version: 1;
  source: string;
  capturedAt: string;
  captureIntervalMs: number;
  scrapes: number;
  series: { labels: SeriesLabels; counter: boolean; values: FixtureValue[] }[];
}

/** Bounds on the capture, so a fixture stays small enough to commit. */
export const CAPTURE_SCRAPES_MAX = 1000;
export const CAPTURE_SERIES_MAX = 20_000;

export function findNodeExporter(): string | undefined {
  for (const b of NODE_EXPORTER_BINARIES) {
    const p = which(b);
    if (p !== undefined) return p;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function toFixtureValue(v: number): FixtureValue {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return v;
}

function fromFixtureValue(v: FixtureValue): number {
  return v === 'NaN' ? NaN : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : v;
}

function isCounter(name: string, types: Map<string, string>): boolean {
  const t = types.get(name);
  if (t !== undefined) return t === 'counter';
  for (const suffix of ['_sum', '_count', '_bucket']) {
    if (name.endsWith(suffix)) {
      const base = types.get(name.slice(0, -suffix.length));
      if (base === 'summary' || base === 'histogram') return true;
    }
  }
  return name.endsWith('_total');
}

/**
 * Runs node exporter on a free loopback port, scrapes it `scrapes` times every `intervalMs`, and
 * returns the series present in every scrape. The exporter is stopped by its pid afterwards.
 */
export async function captureNodeExporter(o: { scrapes: number; intervalMs: number; log?: (s: string) => void }): Promise<NodeExporterFixture> {
  const bin = findNodeExporter();
  if (bin === undefined) throw new Error(`node exporter not found (tried ${NODE_EXPORTER_BINARIES.join(', ')}); apt-get install -y prometheus-node-exporter`);
  if (!(o.scrapes >= 3 && o.scrapes <= CAPTURE_SCRAPES_MAX)) throw new Error(`capture scrapes must be in [3, ${CAPTURE_SCRAPES_MAX}]`);
  const port = await freePort();
  const child = spawn(bin, [`--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += c.toString('utf8');
  });
  const url = `http://127.0.0.1:${port}/metrics`;
  try {
    const version = await versionOf(bin);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`node exporter exited with ${child.exitCode}: ${stderr}`);
      try {
        const r = await fetch(url);
        if (r.ok) {
          await r.text();
          break;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`node exporter did not answer on ${url}: ${stderr}`);
      await sleep(100);
    }
    const bySeries = new Map<string, { labels: SeriesLabels; counter: boolean; values: FixtureValue[] }>();
    const t0 = Date.now();
    for (let k = 0; k < o.scrapes; k++) {
      const wait = t0 + k * o.intervalMs - Date.now();
      if (wait > 0) await sleep(wait);
      const text = await (await fetch(url)).text();
      const scrape = parsePromText(text);
      for (const s of scrape.samples) {
        const labels: SeriesLabels = { __name__: s.name };
        // An empty label value is the same as no label (Prometheus drops it at scrape time).
        for (const key of Object.keys(s.labels).sort()) if (s.labels[key] !== '') labels[key] = s.labels[key]!;
        const key = JSON.stringify(labels);
        let e = bySeries.get(key);
        if (e === undefined) {
          if (k > 0) continue; // appeared mid-capture: kept only if present throughout
          if (bySeries.size >= CAPTURE_SERIES_MAX) throw new Error(`node exporter exposes more than ${CAPTURE_SERIES_MAX} series`);
          e = { labels, counter: isCounter(s.name, scrape.types), values: [] };
          bySeries.set(key, e);
        }
        if (e.values.length === k) e.values.push(toFixtureValue(s.value));
      }
      o.log?.(`capture: scrape ${k + 1}/${o.scrapes}, ${scrape.samples.length} samples`);
    }
    const series = [...bySeries.values()].filter((s) => s.values.length === o.scrapes);
    series.sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
    return { version: 1, source: version, capturedAt: new Date(t0).toISOString(), captureIntervalMs: o.intervalMs, scrapes: o.scrapes, series };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

async function versionOf(bin: string): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(bin, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.on('close', () => resolve(out.split('\n')[0]?.trim() || path.basename(bin)));
    c.on('error', () => resolve(path.basename(bin)));
  });
}

function nonEmpty(labels: SeriesLabels): SeriesLabels {
  const out: SeriesLabels = {};
  for (const [k, v] of Object.entries(labels)) if (v !== '') out[k] = v;
  return out;
}

export function saveFixture(file: string, f: NodeExporterFixture): number {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const gz = zlib.gzipSync(Buffer.from(JSON.stringify(f)), { level: 9 });
  fs.writeFileSync(file + '.tmp', gz);
  fs.renameSync(file + '.tmp', file);
  return gz.length;
}

export function loadFixture(file: string): NodeExporterFixture {
  const f = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8')) as NodeExporterFixture;
  if (f.version !== 1 || !Array.isArray(f.series) || !(f.scrapes >= 3)) throw new Error(`${file}: not a version-1 node exporter fixture with >= 3 scrapes`);
  for (const s of f.series) if (s.values.length !== f.scrapes) throw new Error(`${file}: series ${JSON.stringify(s.labels)} has ${s.values.length} values, want ${f.scrapes}`);
  return f;
}

export interface ReplayOptions {
  hosts: number;
  scrapeCount: number;
  intervalMs: number;
  jitterMs: number;
  seed: number;
  nowMs: number;
}

/** Bounds the greatest-common-divisor search on captured steps (units are integers below 2^52). */
const GCD_STEPS_MAX = 10_000;

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  for (let i = 0; b !== 0 && i < GCD_STEPS_MAX; i++) [a, b] = [b, a % b];
  return a;
}

/** A deterministic number in [0, 1) for (seed, a, b): per-host noise without per-host state. */
function hash01(seed: number, a: number, b: number): number {
  return subSeed(subSeed(seed, a), b) / 4294967296;
}

/** How far a replayed host may deviate from the capture: counter increments x [1-s, 1+s], gauge changes. */
const HOST_VARIATION = 0.25;

export class NodeExporterDataset implements Dataset {
  readonly kind = 'node-exporter' as const;
  readonly description: string;
  readonly hosts: number;
  readonly seriesCount: number;
  readonly scrapeCount: number;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly hostOf: Uint32Array;
  readonly selectors: QuerySelectors;
  private readonly series: SeriesLabels[] = [];
  private readonly clock: ScrapeClock;
  private readonly seed: number;
  /** Captured series count (m) and scrape count (n). */
  private readonly m: number;
  private readonly n: number;
  /** Captured values, series-major: captured[j * n + t]. */
  private readonly captured: Float64Array;
  private readonly counter: Uint8Array;
  /** 10^decimals when the series is kept in integer units, else 1 (float arithmetic). */
  private readonly scale: Float64Array;
  /** 1 when scale holds exactly (integer units); 0 for full-precision floats. */
  private readonly exact: Uint8Array;
  /**
   * The granularity of a series' changes in units (the gcd of its captured steps: 4096 for page
   * counts, 1 for plain integers), so host variation keeps the trailing zeros real data has.
   */
  private readonly grain: Float64Array;
  /** Largest noise added to a gauge, in grains (0: a constant gauge stays constant). */
  private readonly gaugeNoise: Float64Array;
  /** 1 when a counter's captured increments vary (constant increments are kept as they are). */
  private readonly counterVaries: Uint8Array;
  /** Per captured counter, increments over the replay interval: window[j * (n - 1) + t], in units. */
  private readonly window: Float64Array;
  /** Per captured gauge value, the index of its run of equal values: run[j * n + t]. */
  private readonly run: Uint32Array;
  private readonly minValue: Float64Array;
  /** Counter state per replayed series, in units. */
  private readonly units: Float64Array;
  private readonly rot: Uint32Array;
  private readonly timeSeries: Uint8Array;
  private nextK = 0;

  constructor(f: NodeExporterFixture, o: ReplayOptions) {
    this.hosts = o.hosts;
    this.scrapeCount = o.scrapeCount;
    this.intervalMs = o.intervalMs;
    this.seed = o.seed;
    this.clock = new ScrapeClock(o);
    this.startMs = this.clock.startMs;
    this.endMs = this.clock.endMs;
    const m = (this.m = f.series.length);
    const n = (this.n = f.scrapes);
    this.captured = new Float64Array(m * n);
    this.counter = new Uint8Array(m);
    this.scale = new Float64Array(m);
    this.exact = new Uint8Array(m);
    this.grain = new Float64Array(m);
    this.gaugeNoise = new Float64Array(m);
    this.counterVaries = new Uint8Array(m);
    this.timeSeries = new Uint8Array(m);
    this.run = new Uint32Array(m * n);
    this.minValue = new Float64Array(m);
    // Increments are summed over as many captured intervals as fit in one replay interval.
    const per = Math.max(1, Math.min(n - 1, Math.round(o.intervalMs / f.captureIntervalMs)));
    this.window = new Float64Array(m * (n - 1));
    for (let j = 0; j < m; j++) {
      const s = f.series[j]!;
      let decimals = 0;
      let maxAbs = 0;
      let minValue = Infinity;
      for (let t = 0; t < n; t++) {
        const v = fromFixtureValue(s.values[t]!);
        this.captured[j * n + t] = v;
        const d = decimalsOf(v);
        decimals = d < 0 || decimals < 0 ? -1 : Math.max(decimals, d);
        if (Number.isFinite(v)) {
          maxAbs = Math.max(maxAbs, Math.abs(v));
          minValue = Math.min(minValue, v);
        }
      }
      this.minValue[j] = minValue;
      this.counter[j] = s.counter ? 1 : 0;
      this.timeSeries[j] = s.labels['__name__'] === 'node_time_seconds' ? 1 : 0;
      const exact = decimals >= 0 && decimals <= 9 && maxAbs * 10 ** decimals * 4 < 2 ** 52;
      this.exact[j] = exact ? 1 : 0;
      const sc = exact ? 10 ** decimals : 1;
      this.scale[j] = sc;
      const unitsAt = (t: number) => (exact ? Math.round(this.captured[j * n + t]! * sc) : this.captured[j * n + t]!);
      let g = 0;
      if (s.counter) {
        const deltas = new Float64Array(n - 1);
        for (let t = 0; t < n - 1; t++) {
          const d = unitsAt(t + 1) - unitsAt(t);
          deltas[t] = Number.isFinite(d) && d >= 0 ? d : 0; // a reset or NaN in the capture: no increment
        }
        let first = -1;
        for (let t = 0; t < n - 1; t++) {
          let w = 0;
          for (let u = 0; u < per; u++) w += deltas[(t + u) % (n - 1)]!;
          this.window[j * (n - 1) + t] = w;
          if (exact) g = gcd(g, w);
          if (first < 0) first = w;
          else if (w !== first) this.counterVaries[j] = 1;
        }
      } else {
        let runId = 0;
        let stepSum = 0;
        let steps = 0;
        for (let t = 0; t < n; t++) {
          if (t > 0 && !Object.is(this.captured[j * n + t], this.captured[j * n + t - 1])) {
            runId++;
            const d = Math.abs(unitsAt(t) - unitsAt(t - 1));
            if (Number.isFinite(d)) {
              if (exact) g = gcd(g, d);
              stepSum += d;
              steps++;
            }
          }
          this.run[j * n + t] = runId;
        }
        // A gauge that moves gets noise of about half its mean step, in whole grains.
        if (steps > 0 && exact && g > 0) this.gaugeNoise[j] = Math.max(1, Math.round((HOST_VARIATION * 2 * stepSum) / steps / g));
        else if (steps > 0) this.gaugeNoise[j] = 1; // a float gauge: multiplicative noise
      }
      this.grain[j] = g > 0 ? g : 1;
    }
    this.seriesCount = m * o.hosts;
    this.hostOf = new Uint32Array(this.seriesCount);
    this.units = new Float64Array(this.seriesCount);
    this.rot = new Uint32Array(o.hosts);
    for (let h = 0; h < o.hosts; h++) {
      this.rot[h] = subSeed(o.seed, h) % (2 * (n - 1));
      const instance = instanceOf(h);
      for (let j = 0; j < m; j++) {
        const i = h * m + j;
        this.hostOf[i] = h;
        this.series.push({ ...nonEmpty(f.series[j]!.labels), instance, job: 'node' });
      }
    }
    this.selectors = chooseSelectors(this.series, this.hostOf, this.hosts);
    this.description =
      `node exporter capture replayed (${f.source}, ${m} series per host, ${n} scrapes every ${f.captureIntervalMs} ms captured ${f.capturedAt}; ` +
      `counter increments summed over ${per} captured intervals; per-host variation +-${HOST_VARIATION * 100}%)`;
  }

  labels(i: number): SeriesLabels {
    return this.series[i]!;
  }

  timestampMs(h: number, k: number): number {
    return this.clock.timestampMs(h, k);
  }

  fillValues(k: number, out: Float64Array): void {
    if (k !== this.nextK) throw new Error(`fillValues must be called in order: expected scrape ${this.nextK}, got ${k}`);
    this.nextK++;
    const { m, n } = this;
    const period = 2 * (n - 1);
    for (let h = 0; h < this.hosts; h++) {
      const pos = this.rot[h]! + k;
      const r = pos % period;
      const gaugeIdx = r < n ? r : period - r; // back and forth over the capture
      for (let j = 0; j < m; j++) {
        const i = h * m + j;
        const sc = this.scale[j]!;
        if (this.counter[j] === 1) {
          let u: number;
          if (k === 0) {
            const start = this.captured[j * n + (this.rot[h]! % n)]!;
            // Hosts differ by a whole-number offset, which keeps the counter's decimals.
            u = this.exact[j] === 1 ? Math.round(start * sc) + h * sc : start + h;
          } else {
            let w = this.window[j * (n - 1) + ((pos - 1) % (n - 1))]!;
            if (this.counterVaries[j] === 1 && w > 0) {
              // Each host's increments differ from the capture's, in whole grains.
              const f = 1 + HOST_VARIATION * (2 * hash01(this.seed ^ j, h, k) - 1);
              const g = this.grain[j]!;
              w = this.exact[j] === 1 ? Math.max(g, Math.round((w * f) / g) * g) : w * f;
            }
            u = this.units[i]! + w;
          }
          this.units[i] = u;
          out[i] = sc === 1 ? u : u / sc;
        } else if (this.timeSeries[j] === 1) {
          // node_time_seconds is the clock at scrape time.
          out[i] = this.timestampMs(h, k) / 1000 + (this.captured[j * n + gaugeIdx]! % 0.001);
        } else {
          const v = this.captured[j * n + gaugeIdx]!;
          const noise = this.gaugeNoise[j]!;
          if (noise === 0 || !Number.isFinite(v)) {
            out[i] = v;
            continue;
          }
          // The noise is fixed for a run of equal captured values, so a gauge changes exactly
          // when the captured one does, to a value of its own.
          const x = 2 * hash01(this.seed ^ j, h, this.run[j * n + gaugeIdx]!) - 1;
          if (this.exact[j] === 1) {
            const g = this.grain[j]!;
            const u = Math.round(v * sc) + Math.round(x * noise) * g;
            out[i] = Math.max(this.minValue[j]!, sc === 1 ? u : u / sc);
          } else {
            out[i] = v * (1 + HOST_VARIATION * 0.1 * x);
          }
        }
      }
    }
  }
}
