// Seeded PRNG for tests: the same generator the benchmarks use, so data is reproducible.
export { mulberry32 } from '../../bench/lib/prng.js';
