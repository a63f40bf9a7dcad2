// Label matchers (=, !=, =~, !~) with Prometheus semantics.
//
// Regexes are RE2 syntax, fully anchored, and matched with re2js, which runs in linear time:
// JavaScript's backtracking RegExp never sees user input (a pattern like (a+)+$ would hang the
// process). A matcher that matches the empty string also selects series that lack the label.
import { RE2JS } from 're2js';
import { MochaError } from '../errors.js';

export type MatchType = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  readonly type: MatchType;
  readonly name: string;
  readonly value: string;
  /** True when the label value v (empty when the label is absent) is selected. */
  matches(v: string): boolean;
}

/** Upper bound on a regex source, so a pathological pattern cannot exhaust compile memory. */
export const REGEX_SOURCE_CHARS_MAX = 64 * 1024;

export function newMatcher(type: MatchType, name: string, value: string): Matcher {
  switch (type) {
    case '=':
      return { type, name, value, matches: (v) => v === value };
    case '!=':
      return { type, name, value, matches: (v) => v !== value };
    case '=~':
    case '!~': {
      const re = compileAnchored(value);
      const literal = literalAlternatives(value);
      const test = literal
        ? (v: string) => literal.has(v)
        : value === '.*'
          ? () => true
          : value === '.+'
            ? (v: string) => v !== ''
            : (v: string) => re.matches(v);
      return type === '=~' ? { type, name, value, matches: test } : { type, name, value, matches: (v) => !test(v) };
    }
    default:
      throw new MochaError('BAD_QUERY', `unknown matcher type ${String(type)}`);
  }
}

function compileAnchored(source: string): RE2JS {
  if (source.length > REGEX_SOURCE_CHARS_MAX) {
    throw new MochaError('BAD_QUERY', `regex too long: ${source.length} chars; cannot exceed ${REGEX_SOURCE_CHARS_MAX}`);
  }
  try {
    // Prometheus anchors as ^(?s:<re>)$ : '.' matches newlines too.
    return RE2JS.compile(`^(?s:${source})$`);
  } catch (e) {
    throw new MochaError('BAD_QUERY', `invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message}`);
  }
}

/** `a|b|c` of plain literals (Grafana's multi-value variables) is matched by set lookup. */
function literalAlternatives(source: string): Set<string> | undefined {
  if (!/^[A-Za-z0-9_:\-|/ ]*$/.test(source)) return undefined;
  return new Set(source.split('|'));
}

export function matcherToString(m: Matcher): string {
  return `${m.name}${m.type}${JSON.stringify(m.value)}`;
}
