// The one place the harness gets its remote-write encoder from: the shared one in src/ingest.
export { encodeRemoteWriteV1 } from '../../src/ingest/remote-write-encode.js';
