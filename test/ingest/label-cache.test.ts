// The byte-keyed label cache (src/ingest/label-cache.ts) alone, against a model: whatever the
// sequence of lookups and inserts, a hit returns exactly the value last stored for those bytes
// (never another label set's, even when hashes collide), an insert is found right after, and the
// open-addressing generations keep their invariants through growth, rotation and collisions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashRawBytes, LabelSetCache, SYMBOL_ID_BYTES_MAX, SymbolIdTable, validatedLabels, type ValidatedLabels } from '../../src/ingest/label-cache.js';

function dvOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Byte strings of 0..40 bytes over a small alphabet, so equal and near-equal keys are common. */
const keyArb = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => a.map((b) => b % 4));

describe('LabelSetCache against a model', () => {
  const hashes: Array<[string, ((dv: DataView, s: number, e: number) => number) | undefined]> = [
    ['the real hash', undefined],
    ['a hash with 8 values (collisions everywhere)', (dv, s, e) => hashRawBytes(dv, s, e) & 7],
  ];
  for (const [name, hash] of hashes) {
    it(`never returns another key's value, and finds what it just stored (${name})`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.boolean(), keyArb), { minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (ops, generationMax) => {
          const cache = new LabelSetCache(generationMax, hash);
          const stored = new Map<string, ValidatedLabels>();
          // Keys sit at an odd offset of a larger buffer, as label bytes do inside a request.
          const place = (key: Uint8Array) => {
            const buf = new Uint8Array(key.length + 3);
            buf.set(key, 1);
            return { dv: dvOf(buf), start: 1, end: 1 + key.length };
          };
          for (const [insert, key] of ops) {
            const k = Buffer.from(key).toString('hex');
            const { dv, start, end } = place(key);
            if (insert) {
              const v = validatedLabels([{ name: '__name__', value: k || 'empty' }], k, 0, 0);
              cache.set(dv, start, end, v);
              stored.set(k, v);
              // Unless the cache stands aside (thrashing), what was just set is found.
              const again = cache.get(dv, start, end);
              if (again !== undefined) expect(again).toBe(v);
            } else {
              const got = cache.get(dv, start, end);
              if (got !== undefined) expect(got).toBe(stored.get(k));
            }
          }
          cache.assertInvariants();
          expect(cache.size).toBeLessThanOrEqual(2 * generationMax);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('answers the same under salts and in-order passes (the next-entry guess) as the model', () => {
    // Lookups replay passes over a key list, in order (the guess hits), shuffled, or partly
    // (the guess misses and resynchronises), under salts 0..2 and one above 2^31 (uint32 salts like OTLP's): a hit is always the value stored
    // for those bytes under that salt, whichever way it was found.
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { minLength: 1, maxLength: 30, selector: (k) => Buffer.from(k).toString('hex') }),
        fc.array(fc.tuple(fc.constantFrom('in-order', 'reversed', 'every-other'), fc.constantFrom(0, 1, 2, 0x9e3779b1)), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 40 }),
        (keys, passes, generationMax) => {
          const cache = new LabelSetCache(generationMax);
          // Every value ever set per salt and bytes: a set the cache ignores (it stands aside
          // while thrashing) may leave an older value for the same bytes, which is as good.
          const stored = new Map<string, Set<ValidatedLabels>>();
          for (const [order, salt] of passes) {
            const list = order === 'in-order' ? keys : order === 'reversed' ? [...keys].reverse() : keys.filter((_, i) => i % 2 === 0);
            for (const key of list) {
              const buf = new Uint8Array(key.length + 2);
              buf.set(key, 2);
              const dv = dvOf(buf);
              const k = `${salt}:${Buffer.from(key).toString('hex')}`;
              const got = cache.get(dv, 2, 2 + key.length, salt);
              if (got !== undefined) expect(stored.get(k)?.has(got)).toBe(true);
              else {
                const v = validatedLabels([{ name: '__name__', value: 'x' }], k, 0, 0);
                cache.set(dv, 2, 2 + key.length, v, salt);
                stored.set(k, (stored.get(k) ?? new Set()).add(v));
              }
            }
          }
          cache.assertInvariants();
          expect(cache.guessHits).toBeLessThanOrEqual(cache.hits);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('finds a sender-ordered pass by the next-entry guess, without hashing', () => {
    let hashed = 0;
    const cache = new LabelSetCache(1000, (dv, s, e) => {
      hashed++;
      return hashRawBytes(dv, s, e);
    });
    const n = 500;
    const buf = Buffer.alloc(n * 32);
    for (let i = 0; i < n; i++) buf.write(`{job="node",instance="h${i}"}`, i * 32, 'latin1');
    const dv = dvOf(buf);
    const values = Array.from({ length: n }, (_, i) => validatedLabels([], String(i), 0, 0));
    for (let i = 0; i < n; i++) cache.set(dv, i * 32, i * 32 + 30, values[i]!);
    hashed = 0;
    for (let pass = 0; pass < 3; pass++) for (let i = 0; i < n; i++) expect(cache.get(dv, i * 32, i * 32 + 30)).toBe(values[i]);
    // The first lookup of each pass follows the previous pass' last entry: it is hashed.
    expect(hashed).toBe(3);
    expect(cache.guessHits).toBe(3 * n - 3);
    // The same under a uint32 salt above 2^31 (as OTLP's scope hashes are): guesses still hit.
    const salt = 0xdeadbeef;
    for (let i = 0; i < n; i++) cache.set(dv, i * 32, i * 32 + 30, values[i]!, salt);
    const guessed = cache.guessHits;
    for (let i = 0; i < n; i++) expect(cache.get(dv, i * 32, i * 32 + 30, salt)).toBe(values[i]);
    expect(cache.guessHits - guessed).toBe(n - 1);
    // Out of order: every guess fails and the hash finds the entry.
    hashed = 0;
    for (let i = n - 1; i >= 0; i--) expect(cache.get(dv, i * 32, i * 32 + 30)).toBe(values[i]);
    expect(hashed).toBe(n);
  });

  it('holds many entries (table growth) and keeps them all while they fit a generation', () => {
    const cache = new LabelSetCache(50_000);
    const n = 20_000;
    const buf = Buffer.alloc(n * 24);
    for (let i = 0; i < n; i++) buf.write(`series-${String(i).padStart(12, '0')}-x`, i * 24, 'latin1');
    const dv = dvOf(buf);
    const values: ValidatedLabels[] = [];
    for (let i = 0; i < n; i++) {
      values.push(validatedLabels([], String(i), 0, 0));
      cache.set(dv, i * 24, i * 24 + 21 + (i % 3), values[i]!);
    }
    for (let i = 0; i < n; i++) expect(cache.get(dv, i * 24, i * 24 + 21 + (i % 3))).toBe(values[i]);
    expect(cache.hits).toBe(n);
    expect(cache.size).toBe(n);
    cache.assertInvariants();
  });

  it('gives each validated label set its own ref memo (itself)', () => {
    const v = validatedLabels([{ name: '__name__', value: 'up' }], '__name__\u0001up', 8, 2);
    expect(v.refMemo).toBe(v);
    expect(v.refMemo).toMatchObject({ registry: undefined, epoch: -1, ref: 0, labelLimitsPassed: undefined });
  });
});

describe('SymbolIdTable against a model', () => {
  const hashes: Array<[string, ((dv: DataView, s: number, e: number) => number) | undefined]> = [
    ['the real hash', undefined],
    ['a hash with 4 values (collisions everywhere)', (dv, s, e) => hashRawBytes(dv, s, e) & 3],
  ];
  for (const [name, hash] of hashes) {
    it(`never gives one id to two byte strings, and keeps an id while its bytes stay (${name})`, () => {
      fc.assert(
        fc.property(fc.array(keyArb, { minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 32 }), (keys, generationMax) => {
          const table = new SymbolIdTable(generationMax, hash);
          const bytesOfId = new Map<number, string>();
          let lastId = 0;
          let lastKey: string | undefined;
          for (const key of keys) {
            const buf = new Uint8Array(key.length + 2);
            buf.set(key, 1);
            const k = Buffer.from(key).toString('hex');
            const id = table.idOf(dvOf(buf), 1, 1 + key.length);
            expect(id).toBeGreaterThan(0);
            const owner = bytesOfId.get(id);
            if (owner === undefined) bytesOfId.set(id, k);
            else expect(owner).toBe(k);
            // Asked again at once (nothing in between can evict it), the same bytes keep their id.
            if (k === lastKey) expect(id).toBe(lastId);
            expect(table.idOf(dvOf(buf), 1, 1 + key.length)).toBe(id);
            lastId = id;
            lastKey = k;
          }
          table.assertInvariants();
          expect(table.size).toBeLessThanOrEqual(2 * generationMax);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('runs out of ids at idMax (0 from then on) and starts over after clear()', () => {
    const table = new SymbolIdTable(16, undefined, 3);
    const dv = dvOf(Buffer.from('abcd'));
    expect([table.idOf(dv, 0, 1), table.idOf(dv, 1, 2), table.idOf(dv, 2, 3), table.idOf(dv, 0, 1)]).toEqual([1, 2, 3, 1]);
    expect(table.idsLeft).toBe(0);
    expect(table.idOf(dv, 3, 4)).toBe(0);
    table.clear();
    expect(table.idOf(dv, 3, 4)).toBe(1);
    table.assertInvariants();
  });

  it('gives no id to symbols above SYMBOL_ID_BYTES_MAX', () => {
    const table = new SymbolIdTable(16);
    const dv = dvOf(new Uint8Array(SYMBOL_ID_BYTES_MAX + 1));
    expect(table.idOf(dv, 0, SYMBOL_ID_BYTES_MAX + 1)).toBe(0);
    expect(table.idOf(dv, 0, SYMBOL_ID_BYTES_MAX)).toBe(1);
  });

  it('gives the same ids when a request lists its symbols in the order of the last one (the next-entry guess), across a rotation', () => {
    let hashed = 0;
    const table = new SymbolIdTable(300, (dv, s, e) => {
      hashed++;
      return hashRawBytes(dv, s, e);
    });
    const symbols = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? `name_${i}` : `value-${i * 7919}`));
    const request = (list: string[]) => {
      const buf = Buffer.from(list.join(''), 'latin1');
      const ids: number[] = [];
      let at = 0;
      for (const sym of list) {
        ids.push(table.idOf(dvOf(buf), at, at + sym.length));
        at += sym.length;
      }
      return ids;
    };
    const first = request(symbols);
    expect(new Set(first).size).toBe(symbols.length);
    hashed = 0;
    expect(request(symbols)).toEqual(first);
    expect(hashed).toBe(1); // only the first symbol: the guess after the last one is past the end
    // 150 new symbols rotate young (300 entries) into old; the old ids keep working, in order.
    request(Array.from({ length: 150 }, (_, i) => `other_${i}`));
    expect(request(symbols)).toEqual(first);
    expect(request(symbols)).toEqual(first);
    table.assertInvariants();
  });
});
