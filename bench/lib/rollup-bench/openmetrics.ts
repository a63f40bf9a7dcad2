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

/** Text is written in chunks of about this many characters. */
const CHUNK_CHARS = 4 * 1024 * 1024;

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
    let bytes = 0;
    let samples = 0;
    let buf = '';
    const flush = () => {
      bytes += fs.writeSync(fd, buf);
      buf = '';
    };
    try {
      const values = new Float64Array(1);
      const stepS = ds.intervalMs / 1000;
      for (let i = 0; i < ds.seriesCount; i++) {
        if (i === 0) buf += `# TYPE ${COUNTER_FAMILY} counter\n`;
        if (i === ds.counterCount) buf += `# TYPE ${GAUGE_METRIC} gauge\n`;
        const prefix = labelText(ds.labels(i));
        const cur = this.cursors[i]!;
        // The interval is whole seconds, so a series keeps its millisecond fraction: only the
        // whole seconds change from line to line.
        const first = openMetricsTimestamp(ds.timestampMs(i, kFrom));
        const dot = first.indexOf('.');
        const fraction = first.slice(dot);
        const firstS = Number(first.slice(0, dot));
        for (let k = kFrom; k < kTo; k++) {
          cur.next(values);
          buf += prefix + values[0] + ' ' + (firstS + (k - kFrom) * stepS) + fraction + '\n';
          if (buf.length >= CHUNK_CHARS) flush();
        }
        samples += kTo - kFrom;
        onProgress?.(samples);
      }
      buf += '# EOF\n';
      flush();
    } finally {
      fs.closeSync(fd);
    }
    this.written = kTo;
    return { bytes, samples, ms: performance.now() - t0 };
  }
}
