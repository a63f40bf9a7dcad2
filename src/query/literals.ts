// PromQL literals with Go's rules: numbers as strconv.ParseInt(s, 0, 64) then ParseFloat,
// durations as Prometheus' model.ParseDuration, strings as strutil.Unquote (Go escapes; single
// quotes allowed for strings of any length; backticks raw). The parser and the HTTP parameter
// parsing share these so a duration or a number means the same thing everywhere.
//
// Each function returns undefined (or throws a plain Error with Go's message) instead of a
// MochaError: the caller knows the position and the envelope of the message.

const DURATION_UNITS_MS: ReadonlyArray<readonly [string, number]> = [
  ['y', 365 * 24 * 3600 * 1000],
  ['w', 7 * 24 * 3600 * 1000],
  ['d', 24 * 3600 * 1000],
  ['h', 3600 * 1000],
  ['m', 60 * 1000],
  ['s', 1000],
  ['ms', 1],
];

// model.ParseDuration: units in this order, each at most once, at least one; "0" alone is zero.
const DURATION_RE = /^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$/;

/** Largest duration Go's time.Duration holds (int64 nanoseconds), in ms. */
export const DURATION_MS_MAX = 9_223_372_036_854;

/** Milliseconds of a Prometheus duration string ("1h30m", "500ms", "0"), or undefined. */
export function parseDurationMs(s: string): number | undefined {
  if (s === '0') return 0;
  if (s === '') return undefined;
  const m = DURATION_RE.exec(s);
  if (m === null) return undefined;
  let total = 0;
  let any = false;
  for (let i = 0; i < DURATION_UNITS_MS.length; i++) {
    const part = m[i + 1];
    if (part === undefined) continue;
    any = true;
    total += Number(part) * DURATION_UNITS_MS[i]![1];
  }
  if (!any || total > DURATION_MS_MAX) return undefined;
  return total;
}

/** True when s looks like a duration literal (as opposed to a plain number). */
export function isDurationText(s: string): boolean {
  return /[smhdwy]$/.test(s) && !/^0[xX]/.test(s);
}

// Go's underscoreOK: "_" only between digits, or between a base prefix and a digit.
function underscoreOk(s: string): boolean {
  if (!s.includes('_')) return true;
  let body = s;
  if (body[0] === '+' || body[0] === '-') body = body.slice(1);
  let hex = false;
  if (/^0[xXbBoO]/.test(body)) {
    hex = /^0[xX]/.test(body);
    body = 'd' + body.slice(2); // base prefix counts as a digit for the rule
  }
  const isDigit = (c: string | undefined) => c !== undefined && (/[0-9]/.test(c) || (hex && /[a-fA-F]/.test(c)) || c === 'd');
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '_') continue;
    if (!isDigit(body[i - 1]) || !isDigit(body[i + 1])) return false;
  }
  return true;
}

const GO_FLOAT_DEC_RE = /^[+-]?(?:[0-9_]+(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?$/;
const GO_FLOAT_SPECIAL_RE = /^([+-]?)(inf|infinity|nan)$/i;

/** Go's strconv.ParseFloat(s, 64) for decimal and special forms; undefined when Go would fail. */
export function parseGoFloat(s: string): number | undefined {
  const sp = GO_FLOAT_SPECIAL_RE.exec(s);
  if (sp !== null) {
    if (sp[2]!.toLowerCase() === 'nan') return sp[1] === '' ? NaN : undefined;
    return sp[1] === '-' ? -Infinity : Infinity;
  }
  if (/^[+-]?0[xX]/.test(s)) return parseGoHexFloat(s);
  if (!GO_FLOAT_DEC_RE.test(s) || !underscoreOk(s)) return undefined;
  const v = Number(s.replace(/_/g, ''));
  // Go reports a range error for overflow; the parser turns that into a parse error.
  if (!Number.isFinite(v)) return undefined;
  return v;
}

// Hex floats need a 'p' exponent in Go ("0x1p-2"); plain "0x10" is not a float.
function parseGoHexFloat(s: string): number | undefined {
  const m = /^([+-]?)0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?[pP]([+-]?[0-9_]+)$/.exec(s);
  if (m === null || !underscoreOk(s)) return undefined;
  const intPart = m[2]!.replace(/_/g, '');
  const fracPart = (m[3] ?? '').replace(/_/g, '');
  if (intPart === '' && fracPart === '') return undefined;
  let mant = 0;
  for (const c of intPart + fracPart) mant = mant * 16 + parseInt(c, 16);
  const v = mant * Math.pow(2, Number(m[4]!.replace(/_/g, '')) - 4 * fracPart.length);
  if (!Number.isFinite(v)) return undefined;
  return m[1] === '-' ? -v : v;
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** Go's strconv.ParseInt(s, 0, 64) as a float64 (0x, 0o, 0b prefixes; a leading 0 means octal). */
function parseGoInt(s: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (m === null || !underscoreOk(s)) return undefined;
  const body = m[2]!.replace(/_/g, '');
  let n: bigint;
  if (/^0[xXbBoO]/.test(body)) n = BigInt(body.toLowerCase());
  else if (body.length > 1 && body[0] === '0') n = BigInt('0o' + body.slice(1));
  else n = BigInt(body);
  if (m[1] === '-') n = -n;
  if (n > INT64_MAX || n < INT64_MIN) return undefined;
  return Number(n);
}

/** A PromQL number literal as Prometheus' parser.number(): int forms first, then float. */
export function parseNumberLiteral(s: string): number | undefined {
  return parseGoInt(s) ?? parseGoFloat(s);
}

/**
 * Go's strconv.Unquote as Prometheus' strutil.Unquote applies it: "..." and '...' with Go
 * escapes (\a \b \f \n \r \t \v \\ \xHH \ooo \uHHHH \UHHHHHHHH, and the own quote), `...` raw.
 * \x and octal escapes are bytes: the result is decoded as UTF-8 like Go's string would be
 * printed (invalid sequences become U+FFFD). Throws Error with a Go-like reason.
 */
export function unquoteString(s: string): string {
  const n = s.length;
  if (n < 2) throw new Error('unterminated quoted string');
  const quote = s[0]!;
  if (s[n - 1] !== quote) throw new Error('unterminated quoted string');
  const body = s.slice(1, n - 1);
  if (quote === '`') {
    if (body.includes('`')) throw new Error('invalid syntax');
    return body.replace(/\r/g, '');
  }
  if (quote !== '"' && quote !== "'") throw new Error('invalid syntax');
  if (!body.includes('\\')) {
    if (body.includes(quote) || body.includes('\n')) throw new Error('invalid syntax');
    return body;
  }
  const bytes: number[] = [];
  const enc = new TextEncoder();
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c === quote || c === '\n') throw new Error('invalid syntax');
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const chunk = String.fromCodePoint(cp);
      for (const b of enc.encode(chunk)) bytes.push(b);
      i += chunk.length;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    switch (e) {
      case 'a': bytes.push(7); break;
      case 'b': bytes.push(8); break;
      case 'f': bytes.push(12); break;
      case 'n': bytes.push(10); break;
      case 'r': bytes.push(13); break;
      case 't': bytes.push(9); break;
      case 'v': bytes.push(11); break;
      case '\\': bytes.push(92); break;
      case "'":
      case '"':
        if (e !== quote) throw new Error('invalid syntax');
        bytes.push(e.charCodeAt(0));
        break;
      case 'x': {
        const h = body.slice(i, i + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error('invalid syntax');
        bytes.push(parseInt(h, 16));
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        const len = e === 'u' ? 4 : 8;
        const h = body.slice(i, i + len);
        if (h.length !== len || !/^[0-9a-fA-F]+$/.test(h)) throw new Error('invalid syntax');
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new Error('invalid syntax');
        for (const b of enc.encode(String.fromCodePoint(cp))) bytes.push(b);
        i += len;
        break;
      }
      default: {
        if (e !== undefined && e >= '0' && e <= '7') {
          const o = body.slice(i - 1, i + 2);
          if (!/^[0-7]{3}$/.test(o)) throw new Error('invalid syntax');
          const v = parseInt(o, 8);
          if (v > 255) throw new Error('invalid syntax');
          bytes.push(v);
          i += 2;
          break;
        }
        throw new Error('invalid syntax');
      }
    }
  }
  return new TextDecoder('utf-8').decode(new Uint8Array(bytes));
}
