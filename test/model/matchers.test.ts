// Label matchers: the shortcuts (literal alternations by set lookup, .* and .+ without a regex)
// and the cache of compiled regexes give what the anchored RE2 regex gives, for =~ and !~.
import { describe, expect, it } from 'vitest';
import { RE2JS } from 're2js';
import { newMatcher, REGEX_SOURCE_CHARS_MAX } from '../../src/model/matchers.js';

const VALUES = ['', 'a', 'b', 'ab', 'a|b', 'abc', 'x-1', 'x/1', 'host 1', 'a\nb', 'A', 'api:v1', '2ecc040f', 'c0354ea2', '.', 'a.b'];

function reference(source: string): (v: string) => boolean {
  const re = RE2JS.compile(`^(?s:${source})$`);
  return (v) => re.matches(v);
}

describe('regex matchers', () => {
  const sources = ['a|b', 'a||b', '|a', '2ecc040f|c0354ea2|x-1', 'x/1|host 1', 'api:v1', '.*', '.+', 'a.*', '.*b', 'a.b', '(a|b)c?', '[a-c]+', 'A|a', '(?i)a', 'a\\|b', '', 'a\\.b'];
  for (const source of sources) {
    it(`=~ and !~ ${JSON.stringify(source)} agree with the anchored RE2 regex`, () => {
      const want = reference(source);
      const eq = newMatcher('=~', 'l', source);
      const ne = newMatcher('!~', 'l', source);
      for (const v of VALUES) {
        expect(eq.matches(v), `${JSON.stringify(source)} on ${JSON.stringify(v)}`).toBe(want(v));
        expect(ne.matches(v)).toBe(!want(v));
      }
    });
  }

  it('the same source compiled again (cached) matches the same, and many sources evict without changing answers', () => {
    const first = newMatcher('=~', 'l', 'ab+c');
    const again = newMatcher('=~', 'l', 'ab+c');
    for (const v of ['abc', 'abbbc', 'ac', '']) expect(again.matches(v)).toBe(first.matches(v));
    // More distinct sources than the cache holds, twice over: each still matches only its own value.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i++) {
        const m = newMatcher('=~', 'l', `v${i}(x)?`);
        expect(m.matches(`v${i}`)).toBe(true);
        expect(m.matches(`v${i}x`)).toBe(true);
        expect(m.matches(`v${i + 1}`)).toBe(false);
      }
    }
    expect(newMatcher('=~', 'l', 'ab+c').matches('abbc')).toBe(true);
  });

  it('long sources (not cached) still match, and too long or invalid ones are refused every time', () => {
    const long = Array.from({ length: 700 }, (_, i) => `id${i}x`).join('|') + '|z.*';
    expect(long.length).toBeGreaterThan(4096);
    const m = newMatcher('=~', 'l', long);
    expect(m.matches('id699x')).toBe(true);
    expect(m.matches('zzz')).toBe(true);
    expect(m.matches('id700x')).toBe(false);
    for (let i = 0; i < 2; i++) {
      expect(() => newMatcher('=~', 'l', '(')).toThrow(/invalid regular expression/);
      expect(() => newMatcher('!~', 'l', 'a'.repeat(REGEX_SOURCE_CHARS_MAX + 1))).toThrow(/regex too long/);
    }
  });
});
