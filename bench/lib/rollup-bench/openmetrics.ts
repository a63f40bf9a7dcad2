// Writes the rollup dataset as OpenMetrics text for `promtool tsdb create-blocks-from
// openmetrics`: Prometheus' remote-write receiver refuses samples older than its head allows
// (about an hour behind its newest), so promtool's backfill is the route for 30 days of past data.
//
// Series-major (each series' samples contiguous and in time order, each metric family contiguous
// under one # TYPE line), as the OpenMetrics text format requires. Timestamps are seconds with a
// fourth decimal of 5 (`1700000000.1235` for ms ...123): promtool turns them into milliseconds
// with int64(seconds * 1000), which truncates, and a value that parses to ...122.99999 would land
// a millisecond early; the half-millisecond keeps the product safely inside the right millisecond.
import fs from 'node:fs';
import { COUNTER_FAMILY, GAUGE_METRIC, type RollupDataset, type SeriesCursor } from './dataset.js';

/** Text is written in chunks of about this many bytes. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Room for one line past a chunk's end. */
const LINE_BYTES_MAX = 4096;

/** Decimal digits of a non-negative integer below 2^53. */
function writeUint(buf: Buffer, pos: number, n: number): number {
  if (n < 10) {
    buf[pos] = 0x30 + n;
    return pos + 1;
  }
  let digits = 0;
  for (let x = n; x >= 1; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let d = pos + digits - 1; d >= pos; d--) {
    const q = Math.floor(x / 10);
    buf[d] = 0x30 + (x - q * 10);
    x = q;
  }
  return pos + digits;
}

/**
 * A sample value as text that parses back to the same double: integers and tenths (what the
 * dataset makes; t / 10 and the decimal "t/10" both round to the same double) by hand, anything
 * else through Number's own formatting.
 */
function writeValue(buf: Buffer, pos: number, v: number): number {
  const neg = v < 0;
  const a = neg ? -v : v;
  if (a < 2 ** 50) {
    if (Number.isInteger(a)) {
      if (neg) buf[pos++] = 0x2d;
      return writeUint(buf, pos, a);
    }
    const t = Math.round(a * 10);
    if (t / 10 === a) {
      if (neg) buf[pos++] = 0x2d;
      pos = writeUint(buf, pos, Math.floor(t / 10));
      buf[pos++] = 0x2e;
      buf[pos++] = 0x30 + (t % 10);
      return pos;
    }
  }
  return pos + buf.write(String(v), pos, 'latin1');
}

export function openMetricsTimestamp(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${s}.${String(ms - s * 1000).padStart(3, '0')}5`;
}

/** What promtool's parser makes of a timestamp written by openMetricsTimestamp. */
export function promtoolTimestampMs(text: string): number {
  return Math.trunc(Number(text) * 1000);
}

function labelText(labels: Record<string, string>): string {
  const parts: string[] = [];
  for (const k of Object.keys(labels).sort()) if (k !== '__name__') parts.push(`${k}="${labels[k]}"`);
  return `${labels['__name__']}{${parts.join(',')}} `;
}

export interface OpenMetricsWritten {
  bytes: number;
  samples: number;
  ms: number;
}

/** Writes the whole span into one file. */
export function writeOpenMetrics(ds: RollupDataset, file: string, onProgress?: (samples: number) => void): OpenMetricsWritten {
  return new OpenMetricsWriter(ds).write(0, ds.scrapeCount, file, onProgress);
}

/**
 * Writes the data in consecutive scrape ranges, one file each. promtool parses its whole input
 * once per block it builds, so one file per block window is one parse of the data in total.
 */
export class OpenMetricsWriter {
  private readonly cursors: SeriesCursor[] = [];
  /** Scrapes written so far (ranges must be consecutive). */
  written = 0;

  constructor(readonly ds: RollupDataset) {
    if (ds.intervalMs % 1000 !== 0) throw new Error('the OpenMetrics writer needs an interval of whole seconds');
    for (let i = 0; i < ds.seriesCount; i++) this.cursors.push(ds.cursor(i, i + 1));
  }

  /**
   * Scrape ranges [kFrom, kTo) of aligned windows [startMs, endMs): windowMs a multiple of an hour,
   * so every series' samples in a window are the same scrapes (phases are below one interval).
   */
  windows(windowMs: number): { startMs: number; endMs: number; kFrom: number; kTo: number }[] {
    const ds = this.ds;
    const out: { startMs: number; endMs: number; kFrom: number; kTo: number }[] = [];
    for (let w = Math.floor(ds.startMs / windowMs) * windowMs; w < ds.endMs; w += windowMs) {
      const kFrom = Math.max(0, Math.ceil((w - ds.startMs) / ds.intervalMs));
      const kTo = Math.min(ds.scrapeCount, Math.ceil((w + windowMs - ds.startMs) / ds.intervalMs));
      if (kTo > kFrom) out.push({ startMs: w, endMs: w + windowMs, kFrom, kTo });
    }
    return out;
  }

  write(kFrom: number, kTo: number, file: string, onProgress?: (samples: number) => void): OpenMetricsWritten {
    if (kFrom !== this.written) throw new Error(`OpenMetricsWriter: scrapes ${kFrom}.. after ${this.written} (ranges must be consecutive)`);
    const ds = this.ds;
    const t0 = performance.now();
    const fd = fs.openSync(file, 'w');
    // Lines are assembled as bytes in one buffer (JS strings cost ~5x more per line: number
    // formatting, concatenation, UTF-8 conversion at write).
    const buf = Buffer.allocUnsafe(CHUNK_BYTES + LINE_BYTES_MAX);
    let pos = 0;
    let bytes = 0;
    let samples = 0;
    const flush = () => {
      let off = 0;
      while (off < pos) off += fs.writeSync(fd, buf, off, pos - off);
      bytes += pos;
      pos = 0;
    };
    const text = (s: string) => {
      pos += buf.write(s, pos, 'latin1');
    };
    try {
      const values = new Float64Array(1);
      const stepS = ds.intervalMs / 1000;
      for (let i = 0; i < ds.seriesCount; i++) {
        if (i === 0) text(`# TYPE ${COUNTER_FAMILY} counter\n`);
        if (i === ds.counterCount) text(`# TYPE ${GAUGE_METRIC} gauge\n`);
        const prefix = Buffer.from(labelText(ds.labels(i)), 'latin1');
        if (prefix.length > LINE_BYTES_MAX / 2) throw new Error('label set too long for the OpenMetrics writer');
        const cur = this.cursors[i]!;
        // The interval is whole seconds, so a series keeps its millisecond fraction: only the
        // whole seconds change from line to line.
        const first = openMetricsTimestamp(ds.timestampMs(i, kFrom));
        const dot = first.indexOf('.');
        const fraction = Buffer.from(first.slice(dot) + '\n', 'latin1');
        const firstS = Number(first.slice(0, dot));
        for (let k = kFrom; k < kTo; k++) {
          cur.next(values);
          pos += prefix.copy(buf, pos);
          pos = writeValue(buf, pos, values[0]!);
          buf[pos++] = 0x20;
          pos = writeUint(buf, pos, firstS + (k - kFrom) * stepS);
          pos += fraction.copy(buf, pos);
          if (pos >= CHUNK_BYTES) flush();
        }
        samples += kTo - kFrom;
        onProgress?.(samples);
      }
      text('# EOF\n');
      flush();
    } finally {
      fs.closeSync(fd);
    }
    this.written = kTo;
    return { bytes, samples, ms: performance.now() - t0 };
  }
}
