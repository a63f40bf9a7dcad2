// One registry of error codes: each maps to an HTTP status and, for the Prometheus API, an
// errorType. Every layer throws MochaError with one of these codes; the api/ layer turns it
// into the envelope of the protocol that was spoken. docs/API.md lists the table; a test keeps
// the two in agreement.

export const ERROR_CODES = {
  // Ingest
  BAD_REMOTE_WRITE: { status: 400, errorType: 'bad_data', summary: 'remote write body is not valid (snappy, protobuf or labels)' },
  BAD_OTLP: { status: 400, errorType: 'bad_data', summary: 'OTLP body is not valid (protobuf, JSON or gzip)' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, errorType: 'bad_data', summary: 'content type or encoding not supported' },
  BODY_TOO_LARGE: { status: 413, errorType: 'bad_data', summary: 'request body exceeds the configured limit' },
  BAD_TENANT: { status: 400, errorType: 'bad_data', summary: 'X-Scope-OrgID is not a valid tenant id' },
  TOO_MANY_REQUESTS: { status: 429, errorType: 'unavailable', summary: 'the engine cannot absorb more writes right now; retry' },
  // Query
  BAD_QUERY: { status: 400, errorType: 'bad_data', summary: 'query or its parameters are invalid' },
  QUERY_TOO_MANY_SAMPLES: { status: 422, errorType: 'execution', summary: 'query would load more samples than allowed' },
  QUERY_TOO_MANY_SERIES: { status: 422, errorType: 'execution', summary: 'query would select more series than allowed' },
  QUERY_EXECUTION: { status: 422, errorType: 'execution', summary: 'query failed during evaluation' },
  QUERY_TIMEOUT: { status: 503, errorType: 'timeout', summary: 'query exceeded its timeout' },
  QUERY_CANCELED: { status: 503, errorType: 'canceled', summary: 'query was canceled' },
  NOT_FOUND: { status: 404, errorType: 'not_found', summary: 'no such resource' },
  // Storage
  WAL_CORRUPT: { status: 500, errorType: 'internal', summary: 'write-ahead log record failed its checksum or framing' },
  SEGMENT_CORRUPT: { status: 500, errorType: 'internal', summary: 'segment file failed validation' },
  SHUTTING_DOWN: { status: 503, errorType: 'unavailable', summary: 'server is shutting down' },
  INTERNAL: { status: 500, errorType: 'internal', summary: 'unexpected internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class MochaError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errorType: string;
  /** Optional structured location (file, offset, ...) for corruption errors. */
  readonly where?: Record<string, string | number>;

  constructor(code: ErrorCode, message: string, where?: Record<string, string | number>) {
    super(message);
    this.name = 'MochaError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.errorType = ERROR_CODES[code].errorType;
    if (where !== undefined) this.where = where;
  }
}

export function isMochaError(e: unknown): e is MochaError {
  return e instanceof MochaError;
}
