// Hand-built remote write 2.0 pieces for tests (io.prometheus.write.v2.Request), on top of
// pb-builder.ts: any field, any order, any wire type, including what no encoder would write.
import { fieldBytes, fieldDouble, fieldVarint, varint } from './pb-builder.js';

/** Request.symbols entry. */
export function sym(s: string | Buffer): Buffer {
  return fieldBytes(4, s);
}

/** Request.symbols for a whole table (the first should be ""). */
export function symbols(...list: Array<string | Buffer>): Buffer {
  return Buffer.concat(list.map(sym));
}

/** Request.timeseries from already-built inner fields. */
export function ts2(...inner: Buffer[]): Buffer {
  return fieldBytes(5, ...inner);
}

/** Packed labels_refs (field 1) of a TimeSeries or an Exemplar. */
export function refs(...r: number[]): Buffer {
  return fieldBytes(1, ...r.map((x) => varint(x)));
}

/** TimeSeries.samples with optional start_timestamp. */
export function sample2(value: number, timestampMs: number | bigint, startMs?: number | bigint): Buffer {
  return fieldBytes(2, fieldDouble(1, value), fieldVarint(2, timestampMs), ...(startMs !== undefined ? [fieldVarint(3, startMs)] : []));
}

/** TimeSeries.exemplars. */
export function exemplar2(labelRefs: number[], value: number, timestampMs: number | bigint): Buffer {
  return fieldBytes(4, ...(labelRefs.length > 0 ? [refs(...labelRefs)] : []), fieldDouble(2, value), fieldVarint(3, timestampMs));
}

/** TimeSeries.metadata. */
export function metadata2(type: number, helpRef = 0, unitRef = 0): Buffer {
  return fieldBytes(5, fieldVarint(1, type), fieldVarint(3, helpRef), fieldVarint(4, unitRef));
}

/** TimeSeries.histograms: a minimal native histogram (count_int, sum, timestamp). */
export function histogram2(): Buffer {
  return fieldBytes(3, fieldVarint(1, 5), fieldDouble(3, 2.5), fieldVarint(15, 1000));
}
