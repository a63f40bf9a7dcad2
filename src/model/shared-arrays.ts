// Typed arrays over SharedArrayBuffers, for data the main thread hands to a worker thread (flush
// input, parts of query answers): posted to a worker they are shared, neither copied nor
// transferred. Transferring would detach the main thread's buffer, and the first ArrayBuffer
// detached in a V8 isolate invalidates a protector ("array buffer detaching") that optimized code
// relies on: from then on every typed-array loop of that thread checks for detached buffers, for
// the rest of the process. Measured (bench/micro/detach-protector.ts): a plain Float64Array loop
// 1.85x slower after one detach of an unrelated 8-byte buffer (median of 9 processes); warm
// 30-day queries after a server's first flush, which transferred its input before 3 Dec 2026:
// rate 85 -> 62 ms, avg_over_time 166 -> 115 ms once it no longer did (bench/README.md).

export function sharedFloat64Array(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(length * Float64Array.BYTES_PER_ELEMENT));
}

export function sharedUint32Array(length: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(length * Uint32Array.BYTES_PER_ELEMENT));
}
