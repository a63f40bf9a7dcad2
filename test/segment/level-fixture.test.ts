// Blocks written by the level cell encoder before the cell modes of issue #5 (format version 1,
// commit 4a5b993; fixtures/level-blocks-v1.json, never regenerated) must keep decoding bit for
// bit: segments on disk outlive the encoder that wrote them.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RollupBuckets } from '../../src/rollup/buckets.js';
import { decodeLevelBlock, LEVEL_FIELDS } from '../../src/segment/level-encoding.js';
import { bucketsDiff } from './level-helpers.js';

interface FixtureBlock {
  shape: string;
  widthMs: number;
  n: number;
  cells: string[];
  buckets: Record<string, string>;
}

const fixture = JSON.parse(fs.readFileSync(new URL('./fixtures/level-blocks-v1.json', import.meta.url), 'utf8')) as { blocks: FixtureBlock[] };

function expected(b: FixtureBlock): RollupBuckets {
  const out = new RollupBuckets(b.widthMs, b.n);
  for (const f of LEVEL_FIELDS) {
    const bytes = Buffer.from(b.buckets[f]!, 'base64');
    new Uint8Array(out[f].buffer, out[f].byteOffset, out[f].byteLength).set(bytes);
  }
  return out;
}

describe('level blocks of the first encoder', () => {
  it('has blocks of every shape', () => {
    expect(fixture.blocks.length).toBeGreaterThanOrEqual(16);
  });
  it.each(fixture.blocks.map((b, i) => [i, b.shape, b] as const))('block %i (%s) decodes bit for bit', (_i, _shape, b) => {
    const cells = b.cells.map((c) => {
      const bytes = new Uint8Array(Buffer.from(c, 'base64'));
      return { bytes, start: 0, end: bytes.length };
    });
    const got = decodeLevelBlock(cells, b.n, b.widthMs);
    expect(bucketsDiff(got, expected(b))).toBeUndefined();
  });
});
