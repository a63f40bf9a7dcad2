// Shared by the OTLP tests: decode a request object through both encodings (protobuf and JSON)
// and give the translated series as plain rows, checking the two encodings agree.
import { expect } from 'vitest';
import { decodeOtlpMetrics } from '../../src/ingest/otlp/metrics.js';
import { labelsKey, labelsToRecord } from '../../src/model/labels.js';
import { isStaleNaN } from '../../src/model/samples.js';
import { encodeExportMetricsRequest, type OtlpMetricsRequestJson } from '../../bench/lib/otlp-payload.js';
import type { IngestRequest } from '../../src/ingest/pipeline.js';
import { seriesOfBatch, type AppendSeries } from '../../src/model/write.js';

export interface Row {
  series: string;
  t: number;
  v: number | 'stale';
  start?: number;
}

/** `name{a="x", b="y"}` with labels sorted, for readable expectations. */
export function seriesString(labels: Record<string, string>): string {
  const { __name__: name, ...rest } = labels;
  const parts = Object.keys(rest)
    .sort()
    .map((k) => `${k}="${rest[k]}"`);
  return `${name ?? ''}{${parts.join(', ')}}`;
}

/** The request's series as per-series objects (the translator hands the pipeline one columnar batch). */
export function requestSeries(req: IngestRequest): AppendSeries[] {
  return req.batch !== undefined ? [...req.series, ...seriesOfBatch(req.batch)] : req.series;
}

export function rowsOf(req: IngestRequest): Row[] {
  const rows: Row[] = [];
  for (const s of requestSeries(req)) {
    expect(s.key).toBe(labelsKey(s.labels));
    for (let i = 1; i < s.labels.length; i++) expect(s.labels[i - 1]!.name < s.labels[i]!.name).toBe(true);
    for (let i = 0; i < s.timestampsMs.length; i++) {
      const row: Row = { series: seriesString(labelsToRecord(s.labels)), t: s.timestampsMs[i]!, v: isStaleNaN(s.values[i]!) ? 'stale' : s.values[i]! };
      if (s.startTimestampsMs !== undefined) row.start = s.startTimestampsMs[i]!;
      rows.push(row);
    }
  }
  return rows;
}

/** Decodes `req` as protobuf and as JSON; both must give the same IngestRequest. */
export function translateBoth(req: OtlpMetricsRequestJson): { rows: Row[]; request: IngestRequest; dataPoints: number } {
  const pb = decodeOtlpMetrics(encodeExportMetricsRequest(req), 'protobuf');
  const js = decodeOtlpMetrics(Buffer.from(JSON.stringify(req)), 'json');
  const rows = rowsOf(pb.request);
  expect(rowsOf(js.request)).toEqual(rows);
  expect(js.request.metadata).toEqual(pb.request.metadata);
  expect(js.request.exemplars).toEqual(pb.request.exemplars);
  expect([...js.request.rejected.byReason]).toEqual([...pb.request.rejected.byReason]);
  expect(js.dataPoints).toBe(pb.dataPoints);
  return { rows, request: pb.request, dataPoints: pb.dataPoints };
}
