// Formatting a range query's matrix as Prometheus' JSON (src/query/format.ts): the shape of the
// 30-day avg_over_time answer of bench:rollup (500 series x 720 hourly points, gauge values in
// tenths). Prints the median of alternating rounds per variant and the bytes written.
//   npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/format-matrix.js [--series N] [--points N] [--rounds N]
import { parseArgs } from 'node:util';
import { labelsFromRecord } from '../../src/model/labels.js';
import type { QueryResult } from '../../src/query/engine.js';
import { formatQueryData } from '../../src/query/format.js';

const { values: a } = parseArgs({ options: { series: { type: 'string' }, points: { type: 'string' }, rounds: { type: 'string' } } });
const seriesCount = Number(a.series ?? 500);
const points = Number(a.points ?? 720);
const rounds = Number(a.rounds ?? 15);

const startMs = 1_793_638_800_000;
const result: QueryResult = {
  resultType: 'matrix',
  result: Array.from({ length: seriesCount }, (_, i) => {
    const ts = new Float64Array(points);
    const vs = new Float64Array(points);
    let v = 200 + (i % 50);
    for (let k = 0; k < points; k++) {
      ts[k] = startMs + k * 3_600_000;
      v += ((k * 7919 + i * 104729) % 21) / 10 - 1;
      vs[k] = v / 3; // avg of tenths: long decimals, as avg_over_time gives
    }
    return { labels: labelsFromRecord({ instance: `host-${i}:9100`, job: 'node', series_id: String(i) }), timestampsMs: ts, values: vs };
  }),
};

const ms: number[] = [];
let bytes = 0;
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  const s = formatQueryData(result);
  ms.push(performance.now() - t0);
  bytes = s.length;
}
ms.sort((x, y) => x - y);
console.log(`format ${seriesCount} series x ${points} points: median ${ms[ms.length >> 1]!.toFixed(1)} ms (min ${ms[0]!.toFixed(1)}), ${(bytes / 1e6).toFixed(2)} MB, ${((ms[ms.length >> 1]! * 1e6) / (seriesCount * points)).toFixed(0)} ns/point`);
