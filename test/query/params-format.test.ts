import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord } from '../../src/model/labels.js';
import { formatFloat, formatLabelsJson, formatQueryData, formatTimestamp } from '../../src/query/format.js';
import { MAX_TIME_MS, MIN_TIME_MS, parseDurationParam, parseTimeParam } from '../../src/query/params.js';

const T0 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

describe('parseTimeParam', () => {
  test.each([
    ['1700000000', T0],
    ['1700000000.123', T0 + 123],
    ['1700000000.1234', T0 + 123],
    ['1700000000.9999', T0 + 1000],
    ['1.7e9', T0],
    ['-1.5', -1500],
    ['0', 0],
    ['2023-11-14T22:13:20Z', T0],
    ['2023-11-14T22:13:20.123456789Z', T0 + 123],
    ['2023-11-14T22:13:20.1Z', T0 + 100],
    ['2023-11-14T23:13:20+01:00', T0],
    ['2023-11-14T21:43:20.5-00:30', T0 + 500],
    ['0001-01-01T00:00:00Z', -62135596800000],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['-292273086-05-16T16:47:06Z', MIN_TIME_MS],
    ['292277025-08-18T07:12:54.999999999Z', MAX_TIME_MS],
  ])('%s', (s, ms) => expect(parseTimeParam(s)).toBe(ms));

  test.each(['', 'x', 'now', '2023-02-29T00:00:00Z', '2023-11-14 22:13:20Z', '2023-11-14T22:13:20', '2023-11-14T24:00:00Z', '2023-11-14T22:13:60Z', ' 1', '0x10', 'Inf', 'NaN'])(
    'bad %j',
    (s) => {
      try {
        parseTimeParam(s, 'start');
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(MochaError);
        expect((e as MochaError).code).toBe('BAD_QUERY');
        expect((e as MochaError).message).toBe(`invalid parameter "start": cannot parse ${JSON.stringify(s)} to a valid timestamp`);
      }
    },
  );
});

describe('parseDurationParam', () => {
  test.each([
    ['15s', 15_000],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1d', 86_400_000],
    ['30', 30_000],
    ['1.5', 1_500],
    ['0.001', 1],
    ['1.005', 1_004], // Go: time.Duration(1.005 * 1e9) ns, truncated to ms
    ['0', 0],
  ])('%s', (s, ms) => expect(parseDurationParam(s)).toBe(ms));

  test('errors', () => {
    expect(() => parseDurationParam('x', 'step')).toThrow('invalid parameter "step": cannot parse "x" to a valid duration');
    expect(() => parseDurationParam('1e100', 'step')).toThrow('It overflows int64');
    expect(() => parseDurationParam('1.5m')).toThrow(MochaError);
  });
});

describe('formatFloat matches Go strconv.FormatFloat as Prometheus uses it', () => {
  test.each([
    [0, '0'],
    [-0, '-0'],
    [1, '1'],
    [-2.5, '-2.5'],
    [0.1, '0.1'],
    [1 / 3, '0.3333333333333333'],
    [2 / 3, '0.6666666666666666'],
    [100, '100'],
    [1e-6, '0.000001'],
    [1.234e-6, '0.000001234'],
    [9.99e-7, '9.99e-07'],
    [1e-7, '1e-07'],
    [-2.5e-10, '-2.5e-10'],
    [5e-324, '5e-324'],
    [1e20, '100000000000000000000'],
    [123456789012345680000, '123456789012345680000'],
    [1e21, '1e+21'],
    [1.2345e25, '1.2345e+25'],
    [1e100, '1e+100'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [9007199254740993, '9007199254740992'],
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
  ])('%s', (v, s) => expect(formatFloat(v)).toBe(s));
});

describe('formatTimestamp matches jsonutil.MarshalTimestamp', () => {
  test.each([
    [T0, '1700000000'],
    [T0 + 123, '1700000000.123'],
    [T0 + 100, '1700000000.100'],
    [T0 + 5, '1700000000.005'],
    [0, '0'],
    [-1500, '-1.500'],
    [-5, '-0.005'],
  ])('%s', (ms, s) => expect(formatTimestamp(ms)).toBe(s));
});

describe('formatQueryData', () => {
  const labels = labelsFromRecord({ __name__: 'up', job: 'a"<b>&\n' });
  test('labels are escaped like Go', () => {
    expect(formatLabelsJson(labels)).toBe('{"__name__":"up","job":"a\\"\\u003cb\\u003e\\u0026\\n"}');
    expect(formatLabelsJson([])).toBe('{}');
    expect(JSON.parse(formatLabelsJson(labelsFromRecord({ a: 'é😀\u0001\u2028' })))).toEqual({ a: 'é😀\u0001\u2028' });
  });
  test('every result type', () => {
    expect(formatQueryData({ resultType: 'scalar', result: { t: T0 + 1, v: 1e-7 } })).toBe('{"resultType":"scalar","result":[1700000000.001,"1e-07"]}');
    expect(formatQueryData({ resultType: 'string', result: { t: T0, v: 'a"b' } })).toBe('{"resultType":"string","result":[1700000000,"a\\"b"]}');
    expect(formatQueryData({ resultType: 'vector', result: [] })).toBe('{"resultType":"vector","result":[]}');
    expect(formatQueryData({ resultType: 'vector', result: [{ labels: labelsFromRecord({ a: 'b' }), t: T0, v: NaN }] })).toBe(
      '{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1700000000,"NaN"]}]}',
    );
    const m = formatQueryData({
      resultType: 'matrix',
      result: [
        { labels: labelsFromRecord({ a: 'b' }), timestampsMs: new Float64Array([T0, T0 + 15_500]), values: new Float64Array([1.5, -Infinity]) },
        { labels: [], timestampsMs: new Float64Array([T0]), values: new Float64Array([0]) },
      ],
    });
    expect(m).toBe('{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1700000000,"1.5"],[1700000015.500,"-Inf"]]},{"metric":{},"values":[[1700000000,"0"]]}]}');
    expect(JSON.parse(m).result[0].values[1]).toEqual([1700000015.5, '-Inf']);
  });
});
