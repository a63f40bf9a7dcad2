// OTLP metrics request bodies (protobuf or JSON, already decompressed) -> IngestRequest, and
// the response bodies OTLP/HTTP prescribes (ExportMetricsServiceResponse, google.rpc.Status).
import { isUtf8 } from 'node:buffer';
import { MochaError } from '../../errors.js';
import type { IngestRequest } from '../pipeline.js';
import { decodeOtlpMetricsJson } from './decode-json.js';
import { decodeOtlpMetricsProto } from './decode-proto.js';
import { OtlpTranslator } from './translate.js';

export type OtlpFormat = 'protobuf' | 'json';

export interface DecodedOtlpMetrics {
  request: IngestRequest;
  /** OTLP data points in the body (accepted or not). */
  dataPoints: number;
}

/** Decodes and translates a whole body. Throws BAD_OTLP (nothing of it is to be stored) when it is malformed. */
export function decodeOtlpMetrics(body: Buffer, format: OtlpFormat): DecodedOtlpMetrics {
  const t = new OtlpTranslator();
  if (format === 'protobuf') decodeOtlpMetricsProto(body, t);
  else {
    // Buffer#toString would replace invalid sequences with U+FFFD and store a different value.
    if (!isUtf8(body)) throw new MochaError('BAD_OTLP', 'OTLP/JSON body is not valid UTF-8');
    let root: unknown;
    try {
      root = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new MochaError('BAD_OTLP', `OTLP/JSON body is not valid JSON: ${(e as Error).message}`);
    }
    decodeOtlpMetricsJson(root, t);
  }
  return { request: t.result(), dataPoints: t.dataPoints };
}

// --- Responses ---------------------------------------------------------------------------------

function varint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function lengthDelimited(out: number[], field: number, bytes: Uint8Array): void {
  varint(out, (field << 3) | 2);
  varint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/**
 * ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
 * ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
 * Empty (no partial_success) when nothing was rejected.
 */
export function encodeExportMetricsResponse(format: OtlpFormat, rejectedDataPoints: number, errorMessage: string): Buffer {
  if (format === 'json') {
    if (rejectedDataPoints === 0 && errorMessage === '') return Buffer.from('{}');
    // int64 as a decimal string, per the proto3 JSON mapping.
    return Buffer.from(JSON.stringify({ partialSuccess: { rejectedDataPoints: String(rejectedDataPoints), errorMessage } }));
  }
  if (rejectedDataPoints === 0 && errorMessage === '') return Buffer.alloc(0);
  const inner: number[] = [];
  if (rejectedDataPoints > 0) {
    varint(inner, 1 << 3);
    varint(inner, rejectedDataPoints);
  }
  if (errorMessage !== '') lengthDelimited(inner, 2, Buffer.from(errorMessage, 'utf8'));
  const out: number[] = [];
  lengthDelimited(out, 1, Uint8Array.from(inner));
  return Buffer.from(out);
}

/** gRPC status codes used in google.rpc.Status bodies. */
export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;

/** The gRPC code that goes with an HTTP error status in a google.rpc.Status body. */
export function grpcCodeOf(httpStatus: number): number {
  if (httpStatus === 429) return GRPC_RESOURCE_EXHAUSTED;
  if (httpStatus === 503) return GRPC_UNAVAILABLE;
  if (httpStatus >= 500) return GRPC_INTERNAL;
  return GRPC_INVALID_ARGUMENT;
}

/** google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; } */
export function encodeRpcStatus(format: OtlpFormat, code: number, message: string): Buffer {
  if (format === 'json') return Buffer.from(JSON.stringify({ code, message }));
  const out: number[] = [];
  varint(out, 1 << 3);
  varint(out, code);
  lengthDelimited(out, 2, Buffer.from(message, 'utf8'));
  return Buffer.from(out);
}
