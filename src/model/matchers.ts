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
      checkRegexLength(value);
      // Plain literal alternations, .* and .+ are valid RE2 and need no compiled regex.
      const literal = literalAlternatives(value);
      let test: (v: string) => boolean;
      if (literal !== undefined) test = (v) => literal.has(v);
      else if (value === '.*') test = () => true;
      else if (value === '.+') test = (v) => v !== '';
      else {
        const re = compileAnchored(value);
        test = (v) => re.matches(v);
      }
      return type === '=~' ? { type, name, value, matches: test } : { type, name, value, matches: (v) => !test(v) };
    }
    default:
      throw new MochaError('BAD_QUERY', `unknown matcher type ${String(type)}`);
  }
}

/**
 * Compiled regexes by source, least recently used first. Dashboards send the same selectors at
 * every refresh, and compiling with re2js was ~0.3 ms of a 2 ms query with a 20-id regex
 * (bench/README.md, bench:query). A compiled RE2JS is immutable to matching. Bounded in entries
 * and in the source length kept.
 */
const COMPILED = new Map<string, RE2JS>();
const COMPILED_ENTRIES_MAX = 256;
const COMPILED_SOURCE_CHARS_MAX = 4096;

function checkRegexLength(source: string): void {
  if (source.length > REGEX_SOURCE_CHARS_MAX) {
    throw new MochaError('BAD_QUERY', `regex too long: ${source.length} chars; cannot exceed ${REGEX_SOURCE_CHARS_MAX}`);
  }
}

function compileAnchored(source: string): RE2JS {
  checkRegexLength(source);
  const hit = COMPILED.get(source);
  if (hit !== undefined) {
    COMPILED.delete(source);
    COMPILED.set(source, hit);
    return hit;
  }
  let re: RE2JS;
  try {
    // Prometheus anchors as ^(?s:<re>)$ : '.' matches newlines too.
    re = RE2JS.compile(`^(?s:${source})$`);
  } catch (e) {
    throw new MochaError('BAD_QUERY', `invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message}`);
  }
  if (source.length <= COMPILED_SOURCE_CHARS_MAX) {
    if (COMPILED.size >= COMPILED_ENTRIES_MAX) COMPILED.delete(COMPILED.keys().next().value!);
    COMPILED.set(source, re);
  }
  return re;
}

/** `a|b|c` of plain literals (Grafana's multi-value variables) is matched by set lookup. */
function literalAlternatives(source: string): Set<string> | undefined {
  if (!/^[A-Za-z0-9_:\-|/ ]*$/.test(source)) return undefined;
  return new Set(source.split('|'));
}

export function matcherToString(m: Matcher): string {
  return `${m.name}${m.type}${JSON.stringify(m.value)}`;
}
