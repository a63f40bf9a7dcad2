// Arrow schemas of the segment files (raw: series, samples, postings; level: series, buckets, postings), shared by the writer (to build) and the reader (to
// check that what it opened is what it expects: same names, same types).
import { LEVEL_FIELDS, LEVEL_FIELD_COLUMNS } from './level-encoding.js';
import { Binary, Dictionary, Field, Int32, Int64, Map_, Schema, Struct, Uint32, Utf8, type DataType } from 'apache-arrow';

export const labelEntryType = new Struct([new Field('key', new Utf8(), false), new Field('value', new Utf8(), false)]);
export const labelsType = new Map_(new Field('entries', labelEntryType, false), false);
/** Dictionary id 0: the only dictionary in series.arrow. */
export const metricNameType = new Dictionary(new Utf8(), new Int32(), 0);

export const seriesSchema = new Schema([
  new Field('series_ref', new Uint32(), false),
  new Field('labels', labelsType, false),
  new Field('metric_name', metricNameType, true),
  new Field('min_time_ms', new Int64(), false),
  new Field('max_time_ms', new Int64(), false),
  new Field('sample_count', new Uint32(), false),
  new Field('first_chunk_row', new Uint32(), false),
  new Field('chunk_count', new Uint32(), false),
]);

export const samplesSchema = new Schema([
  new Field('series_ref', new Uint32(), false),
  new Field('min_time_ms', new Int64(), false),
  new Field('max_time_ms', new Int64(), false),
  new Field('sample_count', new Uint32(), false),
  new Field('timestamps', new Binary(), false),
  new Field('values', new Binary(), false),
]);

/**
 * buckets.arrow of a level segment: one row per block (a run of one series' buckets), one
 * Binary cell per RollupBuckets field encoded as level-encoding.ts describes.
 */
export const bucketsSchema = new Schema([
  new Field('series_ref', new Uint32(), false),
  new Field('min_end_ms', new Int64(), false),
  new Field('max_end_ms', new Int64(), false),
  new Field('bucket_count', new Uint32(), false),
  ...LEVEL_FIELDS.map((f) => new Field(LEVEL_FIELD_COLUMNS[f], new Binary(), false)),
]);

export const postingsSchema = new Schema([
  new Field('name', new Utf8(), false),
  new Field('value', new Utf8(), false),
  new Field('series_count', new Uint32(), false),
  new Field('bitmap', new Binary(), false),
]);

/** A one-line type signature (names and type ids, recursively) for schema comparison. */
export function schemaSignature(schema: Schema): string {
  return schema.fields.map((f) => `${f.name}:${typeSignature(f.type)}`).join(',');
}

function typeSignature(t: DataType): string {
  const children = (t.children ?? []) as Field[];
  const inner = children.length > 0 ? `<${children.map((c) => `${c.name}:${typeSignature(c.type)}`).join(',')}>` : '';
  if (t instanceof Dictionary) return `dict(${typeSignature(t.dictionary)},${typeSignature(t.indices)})`;
  return `${t.typeId}${inner}`;
}
