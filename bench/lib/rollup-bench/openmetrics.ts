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
import { COUNTER_FAMILY, GAUGE_METRIC, type RollupDataset } from './dataset.js';

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

export function writeOpenMetrics(ds: RollupDataset, file: string, onProgress?: (samples: number) => void): OpenMetricsWritten {
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
    for (let i = 0; i < ds.seriesCount; i++) {
      if (i === 0) buf += `# TYPE ${COUNTER_FAMILY} counter\n`;
      if (i === ds.counterCount) buf += `# TYPE ${GAUGE_METRIC} gauge\n`;
      const prefix = labelText(ds.labels(i));
      const cur = ds.cursor(i, i + 1);
      for (let k = 0; k < ds.scrapeCount; k++) {
        cur.next(values);
        buf += `${prefix}${values[0]} ${openMetricsTimestamp(ds.timestampMs(i, k))}\n`;
        if (buf.length >= CHUNK_CHARS) flush();
      }
      samples += ds.scrapeCount;
      onProgress?.(samples);
    }
    buf += '# EOF\n';
    flush();
  } finally {
    fs.closeSync(fd);
  }
  return { bytes, samples, ms: performance.now() - t0 };
}
