// HTTP API parameters as Prometheus' web/api/v1 parses them: times are float Unix seconds or
// RFC3339 (with fractional seconds and an offset), durations are float seconds or a Prometheus
// duration ("15s", "1h30m", "500ms"). Everything is converted to milliseconds here, at the edge.
import { MochaError } from '../errors.js';
import { parseDurationMs, parseGoFloat } from './literals.js';

// Prometheus' MinTime/MaxTime (time.Unix(math.MinInt64/1000+62135596801, 0) and
// time.Unix(math.MaxInt64/1000-62135596801, 999999999)) in ms, and their RFC3339 spellings,
// which clients echo back as start/end. These exceed 2^53: as float64 they are approximate,
// which is fine for bounds that only ever mean "everything".
export const MIN_TIME_MS = -9223309901257974 * 1000;
export const MAX_TIME_MS = 9223309901257974 * 1000 + 999;
const MIN_TIME_TEXT = '-292273086-05-16T16:47:06Z';
const MAX_TIME_TEXT = '292277025-08-18T07:12:54.999999999Z';

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

function badTime(s: string, param: string | undefined): MochaError {
  const msg = `cannot parse ${JSON.stringify(s)} to a valid timestamp`;
  return new MochaError('BAD_QUERY', param === undefined ? msg : `invalid parameter ${JSON.stringify(param)}: ${msg}`);
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}

/** A time parameter in ms. `param` names it in the error message (`invalid parameter "start": ...`). */
export function parseTimeParam(s: string, param?: string): number {
  const f = parseGoFloat(s);
  if (f !== undefined) {
    if (!Number.isFinite(f) || Math.abs(f) > 9.2e15) throw badTime(s, param);
    // Prometheus: whole seconds plus the fraction rounded to ms (math.Modf, then Round).
    const whole = Math.trunc(f);
    return whole * 1000 + Math.round((f - whole) * 1000);
  }
  const m = RFC3339_RE.exec(s);
  if (m !== null) {
    const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) throw badTime(s, param);
    let offsetMin = 0;
    if (m[8] !== 'Z') {
      const oh = Number(m[10]);
      const om = Number(m[11]);
      if (oh > 23 || om > 59) throw badTime(s, param);
      offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
    }
    // Go's timestamp.FromTime truncates nanoseconds to ms.
    const fracMs = m[7] === undefined ? 0 : Number((m[7] + '00').slice(0, 3));
    const secs = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetMin * 60;
    return secs * 1000 + fracMs;
  }
  if (s === MIN_TIME_TEXT) return MIN_TIME_MS;
  if (s === MAX_TIME_TEXT) return MAX_TIME_MS;
  throw badTime(s, param);
}

/** A duration parameter in ms: float seconds or a Prometheus duration string. */
export function parseDurationParam(s: string, param?: string): number {
  const wrap = (msg: string) => new MochaError('BAD_QUERY', param === undefined ? msg : `invalid parameter ${JSON.stringify(param)}: ${msg}`);
  const f = parseGoFloat(s);
  if (f !== undefined) {
    const ns = f * 1e9;
    if (!Number.isFinite(ns) || Math.abs(ns) > 9.223372036854775807e18) throw wrap(`cannot parse ${JSON.stringify(s)} to a valid duration. It overflows int64`);
    // As Go: time.Duration(seconds * 1e9) truncates to ns, and ms are whole (durationMilliseconds).
    return Math.trunc(Math.trunc(ns) / 1e6) || 0; // || 0: no -0
  }
  const d = parseDurationMs(s);
  if (d !== undefined) return d;
  throw wrap(`cannot parse ${JSON.stringify(s)} to a valid duration`);
}
