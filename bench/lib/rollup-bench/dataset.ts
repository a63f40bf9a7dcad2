// The rollup benchmark's data (issue #5, "Measure"): `series` series over `days` days at one
// sample per `intervalMs`, half counters (`rb_requests_total`, integer increments, an occasional
// reset to a small value) and half gauges (`rb_temperature`, a random walk in tenths), each with a
// grouping label `x` of `xValues` values and a unique `id`.
//
// Every series draws from a PRNG of its own (mulberry32 seeded by subSeed(seed, i)) a fixed number
// of times per scrape, so its values do not depend on which other series are generated with it or
// in which order: the remote-write load (time-major, a group of series per sender) and the
// OpenMetrics file for promtool (series-major) produce the same samples.
//
// Timestamps: the data ends at `endMs` (callers pass "now" aligned down to the hour, so all of it
// is in the past: a backfill). Series i has a phase of 1..999 ms: its samples are at
// endMs - (scrapeCount - k) * intervalMs + phase(i), never on a whole second. Queries evaluate at
// whole hours, so no sample sits on a range window's edge, where Prometheus 2.42 (left-closed
// windows) and mocha (Prometheus 3, left-open) legitimately differ.
import { mulberry32, randInt, subSeed, type Rng } from '../prng.js';

export const COUNTER_METRIC = 'rb_requests_total';
/** The counter's OpenMetrics family name (samples carry the _total suffix). */
export const COUNTER_FAMILY = 'rb_requests';
export const GAUGE_METRIC = 'rb_temperature';
export const GROUP_LABEL = 'x';

/** Chance per scrape that a counter resets (~once every 2 days at 15 s). */
export const COUNTER_RESET_PROBABILITY = 1 / 12_000;
/** A counter's mean increment per scrape is drawn in [1, this]. */
const COUNTER_RATE_MAX = 50;
/** Gauges walk by at most this many tenths per scrape. */
const GAUGE_STEP_TENTHS_MAX = 5;

export interface RollupDatasetOptions {
  series: number;
  /** Samples per series. */
  scrapeCount: number;
  intervalMs: number;
  seed: number;
  /** The data ends before this instant (exclusive); aligned to the hour by the caller. */
  endMs: number;
  /** Distinct values of the grouping label x (default 10). */
  xValues?: number;
}

interface SeriesState {
  rng: Rng;
  counter: boolean;
  /** Counter value, or gauge value in tenths. */
  value: number;
  /** Counter: mean increment per scrape. */
  rate: number;
}

export class RollupDataset {
  readonly seriesCount: number;
  readonly counterCount: number;
  readonly gaugeCount: number;
  readonly scrapeCount: number;
  readonly intervalMs: number;
  readonly endMs: number;
  /** Grid time of scrape 0 (its samples are at this plus the series' phase). */
  readonly startMs: number;
  readonly xValues: number;
  readonly seed: number;
  readonly phaseMs: Uint16Array;
  private readonly labelSets: Record<string, string>[];

  constructor(o: RollupDatasetOptions) {
    if (!(o.series >= 2)) throw new Error('the rollup dataset needs at least 2 series (a counter and a gauge)');
    this.seriesCount = o.series;
    this.counterCount = Math.ceil(o.series / 2);
    this.gaugeCount = o.series - this.counterCount;
    this.scrapeCount = o.scrapeCount;
    this.intervalMs = o.intervalMs;
    this.endMs = o.endMs;
    this.startMs = o.endMs - o.scrapeCount * o.intervalMs;
    this.xValues = o.xValues ?? 10;
    this.seed = o.seed;
    this.phaseMs = new Uint16Array(o.series);
    const phaseRng = mulberry32(subSeed(o.seed, 0x7a5e));
    const idDigits = String(o.series - 1).length;
    this.labelSets = [];
    for (let i = 0; i < o.series; i++) {
      this.phaseMs[i] = randInt(phaseRng, 1, 999);
      this.labelSets.push({
        __name__: this.isCounter(i) ? COUNTER_METRIC : GAUGE_METRIC,
        [GROUP_LABEL]: `x${i % this.xValues}`,
        id: `s${String(i).padStart(idDigits, '0')}`,
      });
    }
  }

  get sampleCount(): number {
    return this.seriesCount * this.scrapeCount;
  }

  isCounter(i: number): boolean {
    return i < this.counterCount;
  }

  labels(i: number): Record<string, string> {
    return this.labelSets[i]!;
  }

  timestampMs(i: number, k: number): number {
    return this.startMs + k * this.intervalMs + this.phaseMs[i]!;
  }

  /** A cursor over series [from, to) starting at scrape 0. */
  cursor(from: number, to: number): SeriesCursor {
    return new SeriesCursor(this, from, to);
  }

  initialState(i: number): SeriesState {
    const rng = mulberry32(subSeed(this.seed, i));
    const counter = this.isCounter(i);
    return counter
      ? { rng, counter, value: randInt(rng, 0, 1_000_000), rate: randInt(rng, 1, COUNTER_RATE_MAX) }
      : { rng, counter, value: randInt(rng, 0, 1000), rate: 0 };
  }
}

/** Steps a contiguous range of series through the scrapes in time order. */
export class SeriesCursor {
  /** The scrape the next call to next() fills. */
  scrape = 0;
  private readonly states: SeriesState[] = [];

  constructor(
    readonly ds: RollupDataset,
    readonly from: number,
    readonly to: number,
  ) {
    for (let i = from; i < to; i++) this.states.push(ds.initialState(i));
  }

  /** Values of series from..to-1 at the next scrape, into out[0..to-from). */
  next(out: Float64Array): void {
    for (let j = 0; j < this.states.length; j++) out[j] = step(this.states[j]!);
    this.scrape++;
  }
}

function step(s: SeriesState): number {
  if (s.counter) {
    // Two draws per scrape, always, so the stream stays aligned whatever happens.
    const inc = Math.floor(s.rng() * (2 * s.rate + 1));
    const reset = s.rng() < COUNTER_RESET_PROBABILITY;
    s.value = reset ? inc : s.value + inc;
    return s.value;
  }
  s.value += Math.floor(s.rng() * (2 * GAUGE_STEP_TENTHS_MAX + 1)) - GAUGE_STEP_TENTHS_MAX;
  return s.value / 10;
}
