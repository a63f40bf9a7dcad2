// Time-series chunk encodings: timestamps (delta / delta-of-delta + PFOR) and values (constant,
// decimal, Gorilla XOR, raw). Storage-agnostic: the segment writer and reader use these, and
// docs/format/segment.md documents every byte.
export { ByteSink, ByteSource, EncodingError, zigzag, unzigzag, bitLength } from './bytes.js';
export { encodePfor, decodePfor, PFOR_WIDTH_MAX } from './pfor.js';
export { encodeTimestamps, decodeTimestamps, TS_DELTA, TS_DOD, TIMESTAMP_ABS_MAX_MS } from './timestamps.js';
export {
  encodeValues,
  decodeValues,
  V_RAW,
  V_CONST,
  V_DEC_DELTA,
  V_DEC_DOD,
  V_XOR,
  VALUE_ENCODING_NAMES,
  DECIMAL_EXPONENT_MAX,
  DECIMAL_MANTISSA_ABS_MAX,
  type ValueEncodeOptions,
} from './values.js';
export { encodeXorBits, decodeXorBits } from './gorilla.js';
