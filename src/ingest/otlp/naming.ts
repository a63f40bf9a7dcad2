// OTLP names -> Prometheus names, as Prometheus 3 does by default (translation strategy
// UnderscoreEscapingWithSuffixes; prometheus/otlptranslator metric_namer.go, unit_namer.go,
// label_namer.go, strconv.go) and as the OpenTelemetry spec describes
// (specification/compatibility/prometheus_and_openmetrics.md, "OTLP Metric points to Prometheus").
//
// Metric names: split the name at every character outside [a-zA-Z0-9:] (so runs of `_` and of
// invalid characters collapse into one `_`), append the unit suffix (main unit, then `per_<unit>`),
// then `total` for monotonic counters or `ratio` for gauges of unit "1", join with `_`, and prefix
// `_` when the result starts with a digit. Label names: every character outside [a-zA-Z0-9_]
// becomes `_` (no collapsing), a leading digit gets `key_`, a single leading `_` gets `key`, and
// names starting with `__` are kept as they are.

/** The Prometheus type a metric name is built for (otlptranslator.MetricType). */
export type NamingType = 'gauge' | 'monotonic_counter' | 'non_monotonic_counter' | 'histogram' | 'exponential_histogram' | 'summary';

/** OTLP (UCSUM) units to Prometheus unit words (otlptranslator unitMap). */
const UNIT_MAP: Readonly<Record<string, string>> = {
  // Time
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  // Bytes. TiBy: Prometheus' latest otlptranslator uses the UCUM-correct "tebibytes" by default
  // (older releases said "tibibytes").
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tebibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  // SI
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  // Misc
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

/** The denominator of "a/b" units, in the singular (otlptranslator perUnitMap). */
const PER_UNIT_MAP: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

function isCompliantMetricCode(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x3a;
}

function isLabelCode(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

function isDigitCode(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Splits at every code point outside [a-zA-Z0-9:] and drops empty tokens (Go strings.FieldsFunc). */
function metricTokens(s: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    if (isCompliantMetricCode(s.charCodeAt(i))) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push(s.slice(start, i));
      start = -1;
    }
  }
  if (start >= 0) out.push(s.slice(start));
  return out;
}

/** Main and `per_` unit suffixes before clean-up (otlptranslator buildUnitSuffixes). */
function unitSuffixes(unit: string): [string, string] {
  const slash = unit.indexOf('/');
  const mainRaw = (slash < 0 ? unit : unit.slice(0, slash)).trim();
  let main = '';
  if (mainRaw !== '' && !/[{}]/.test(mainRaw)) main = UNIT_MAP[mainRaw] ?? mainRaw;
  let per = '';
  if (slash >= 0 && slash + 1 < unit.length) {
    const perRaw = unit.slice(slash + 1).trim();
    if (perRaw !== '' && !/[{}]/.test(perRaw)) per = PER_UNIT_MAP[perRaw] ?? perRaw;
    if (per !== '') per = `per_${per}`;
  }
  return [main, per];
}

/** Characters outside [a-zA-Z0-9:] -> `_`, runs of `_` collapsed, one leading `_` dropped (cleanUpUnit). */
function cleanUpUnit(unit: string): string {
  let out = '';
  for (const ch of unit) {
    const c = ch.length === 1 ? ch.charCodeAt(0) : -1;
    const mapped = c >= 0 && isCompliantMetricCode(c) ? ch : '_';
    if (mapped === '_' && out.endsWith('_')) continue;
    out += mapped;
  }
  return out.startsWith('_') ? out.slice(1) : out;
}

function trimSuffix(s: string, suffix: string): string {
  return s.endsWith(suffix) ? s.slice(0, s.length - suffix.length) : s;
}

/**
 * The Prometheus metric family name of an OTLP metric, or an Error when the result would be empty
 * or only underscores (upstream refuses those too).
 */
export function buildMetricName(name: string, unit: string, type: NamingType): string | Error {
  let tokens = metricTokens(name);
  const [mainRaw, perRaw] = unitSuffixes(unit);
  let main = cleanUpUnit(mainRaw);
  let per = cleanUpUnit(perRaw);
  // addUnitTokens
  if (tokens.includes(main)) main = '';
  if (per === 'per_') per = '';
  else {
    per = trimSuffix(per, '_');
    if (tokens.includes(per)) per = '';
  }
  if (per !== '') main = trimSuffix(main, '_');
  if (main !== '') tokens.push(main);
  if (per !== '') tokens.push(per);
  if (type === 'monotonic_counter') {
    tokens = tokens.filter((t) => t !== 'total');
    tokens.push('total');
  }
  // Only gauges: some receivers wrongly use "1" for counts of things (upstream comment).
  if (unit === '1' && type === 'gauge') {
    tokens = tokens.filter((t) => t !== 'ratio');
    tokens.push('ratio');
  }
  let out = tokens.join('_');
  if (out !== '' && isDigitCode(out.charCodeAt(0))) out = `_${out}`;
  if (out === '') return new Error(`metric name ${JSON.stringify(name)} translates to an empty Prometheus name`);
  if (out !== name && /^_+$/.test(out)) return new Error(`metric name ${JSON.stringify(name)} translates to the invalid Prometheus name ${JSON.stringify(out)}`);
  return out;
}

/** The unit as Prometheus metadata keeps it ("seconds", "bytes_per_second"; UnitNamer.Build). */
export function buildUnitName(unit: string): string {
  const [mainRaw, perRaw] = unitSuffixes(unit);
  const main = cleanUpUnit(mainRaw);
  const per = cleanUpUnit(perRaw);
  let u = main !== '' && per !== '' ? `${main}_${per}` : main !== '' ? main : per;
  if (u.startsWith('_')) u = u.slice(1);
  if (u.endsWith('_')) u = u.slice(0, -1);
  return u;
}

/**
 * The Prometheus label name of an OTLP attribute key, or an Error for an empty key or one that
 * becomes only underscores.
 */
export function buildLabelName(key: string): string | Error {
  if (key === '') return new Error('attribute with an empty key');
  let out = '';
  let changed = false;
  for (const ch of key) {
    // One `_` per character (code point), as Go's regexp replaces runes.
    if (ch.length === 1 && isLabelCode(ch.charCodeAt(0))) out += ch;
    else {
      out += '_';
      changed = true;
    }
  }
  if (isDigitCode(out.charCodeAt(0))) out = `key_${out}`;
  else if (out.startsWith('_') && !out.startsWith('__')) out = `key${out}`;
  if ((changed || out !== key) && /^_+$/.test(out)) return new Error(`attribute key ${JSON.stringify(key)} translates to the invalid label name ${JSON.stringify(out)}`);
  return out;
}

/**
 * A float as Go's strconv.FormatFloat(x, 'f', -1, 64) writes it: the shortest digits that read
 * back exactly, never an exponent ("0.00001", "1000000000000000000000"), "+Inf", "-Inf", "NaN".
 * Prometheus' OTLP translator formats `le` and `quantile` this way.
 */
export function formatFloatF(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const s = String(x);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const neg = s.startsWith('-');
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const pointAt = (dot < 0 ? mantissa.length : dot) + exp; // digits before the decimal point
  let out: string;
  if (pointAt <= 0) out = `0.${'0'.repeat(-pointAt)}${digits}`;
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length);
  else out = `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return neg ? `-${out}` : out;
}

/** A double attribute value as pdata's Value.AsString writes it (ES6 number formatting). */
export function doubleAsString(x: number): string {
  if (Number.isFinite(x)) return String(x);
  return `json: unsupported value: ${x === Infinity ? '+Inf' : x === -Infinity ? '-Inf' : 'NaN'}`;
}
