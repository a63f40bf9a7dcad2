// Shared generators for segment tests: seeded series of every value shape the encoders handle.
import { mulberry32 } from '../helpers/prng.js';
import { STALE_NAN } from '../../src/model/samples.js';
import type { Labels } from '../../src/model/labels.js';

export interface GenSeries {
  labels: Labels;
  timestampsMs: Float64Array;
  values: Float64Array;
}

export const SHAPES = ['counter', 'constant', 'walk', 'decimal', 'special', 'huge', 'tiny', 'single', 'stale-end', 'irregular'] as const;

/** Bit pattern equality for Float64Arrays (NaN payloads included). */
export function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length * 2);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export function genValues(shape: (typeof SHAPES)[number], n: number, rnd: () => number): Float64Array {
  const v = new Float64Array(n);
  let x = Math.floor(rnd() * 1000);
  for (let i = 0; i < n; i++) {
    switch (shape) {
      case 'counter':
        x += Math.floor(rnd() * 20);
        if (rnd() < 0.01) x = 0; // reset
        v[i] = x;
        break;
      case 'constant':
        v[i] = 42.5;
        break;
      case 'walk':
        x += (rnd() - 0.5) * 3.7;
        v[i] = x;
        break;
      case 'decimal':
        v[i] = Math.round(rnd() * 100) / 10; // 0.1 steps
        break;
      case 'special': {
        const r = rnd();
        v[i] = r < 0.2 ? NaN : r < 0.3 ? Infinity : r < 0.4 ? -Infinity : r < 0.5 ? -0 : r < 0.6 ? STALE_NAN : r < 0.8 ? i : rnd();
        break;
      }
      case 'huge':
        v[i] = (rnd() - 0.5) * 1e300;
        break;
      case 'tiny':
        v[i] = rnd() * 1e-300 + Number.MIN_VALUE * i;
        break;
      case 'single':
        v[i] = rnd();
        break;
      case 'stale-end':
        v[i] = i === n - 1 ? STALE_NAN : 1.5 + (i % 7) * 0.25;
        break;
      case 'irregular':
        v[i] = Math.floor(rnd() * 1e6) / 1000;
        break;
    }
  }
  // STALE_NAN assigned through a Float64Array keeps its payload; rewrite bits to be sure.
  if (shape === 'special' || shape === 'stale-end') {
    const w = new Uint32Array(v.buffer);
    for (let i = 0; i < n; i++) {
      if (shape === 'stale-end' ? i === n - 1 : Number.isNaN(v[i]) && rnd() < 0.5) {
        w[2 * i] = 0x00000002;
        w[2 * i + 1] = 0x7ff00000;
      }
    }
  }
  return v;
}

/** Timestamps: regular 15 s with jitter, or irregular gaps; all inside [start, end). */
export function genTimestamps(n: number, startMs: number, endMs: number, rnd: () => number, irregular: boolean): Float64Array {
  const t = new Float64Array(n);
  let x = startMs + Math.floor(rnd() * 1000);
  for (let i = 0; i < n; i++) {
    t[i] = x;
    x += irregular ? 1 + Math.floor(rnd() * rnd() * 60_000) : 15_000 + Math.floor(rnd() * 7) - 3 + (rnd() < 0.02 ? 15_000 : 0);
  }
  if (t[n - 1]! >= endMs) throw new Error('generated timestamps overflow the partition');
  return t;
}

export function genSeries(count: number, seed: number, startMs: number, endMs: number): GenSeries[] {
  const rnd = mulberry32(seed);
  const out: GenSeries[] = [];
  for (let i = 0; i < count; i++) {
    const shape = SHAPES[i % SHAPES.length]!;
    const n = shape === 'single' ? 1 : 1 + Math.floor(rnd() * 470);
    const labels: Labels = [
      { name: '__name__', value: `metric_${shape}` },
      { name: 'instance', value: `host-${i % 7}` },
      { name: 'job', value: i % 3 === 0 ? 'node' : 'app' },
      ...(i % 5 === 0 ? [{ name: 'zone', value: `z${i % 2}` }] : []),
      { name: 'zz_id', value: String(i) },
    ];
    out.push({ labels, timestampsMs: genTimestamps(n, startMs, endMs, rnd, shape === 'irregular'), values: genValues(shape, n, rnd) });
  }
  return out;
}
