// Series selection by matchers over an inverted index (label pair -> series ids).
//
// The memtable and every segment expose a PostingsIndex; selectPostings() applies Prometheus'
// rules to any of them, so the head and persisted segments select exactly the same series.
import roaring from 'roaring';
import type { Matcher } from './matchers.js';

const { RoaringBitmap32 } = roaring;
export type Bitmap = InstanceType<typeof RoaringBitmap32>;
export { RoaringBitmap32 };

export interface PostingsIndex {
  /** Every series id in this index. */
  allPostings(): Bitmap;
  /** The values of a label name present in the index (unsorted is fine). */
  labelValues(name: string): Iterable<string>;
  /** Series ids with label name=value; undefined or empty when none. */
  postings(name: string, value: string): Bitmap | undefined;
}

/**
 * Series ids selected by all matchers (intersection). A matcher that matches "" also selects
 * series without the label: it is computed as all minus the series whose value does not match.
 */
export function selectPostings(index: PostingsIndex, matchers: readonly Matcher[]): Bitmap {
  let result: Bitmap | undefined;
  // Positive matchers (not matching "") first: they narrow the set fastest.
  const ordered = [...matchers].sort((a, b) => Number(a.matches('')) - Number(b.matches('')));
  for (const m of ordered) {
    if (result !== undefined && result.isEmpty) return result;
    if (!m.matches('')) {
      const union = unionMatching(index, m.name, (v) => m.matches(v));
      result = result === undefined ? union : RoaringBitmap32.and(result, union);
    } else {
      // Series that have the label with a value the matcher rejects are removed.
      const rejected = unionMatching(index, m.name, (v) => !m.matches(v));
      const base = result ?? index.allPostings();
      result = RoaringBitmap32.andNot(base, rejected);
    }
  }
  return result ?? index.allPostings();
}

function unionMatching(index: PostingsIndex, name: string, accept: (v: string) => boolean): Bitmap {
  const parts: Bitmap[] = [];
  for (const v of index.labelValues(name)) {
    if (v !== '' && accept(v)) {
      const p = index.postings(name, v);
      if (p !== undefined && !p.isEmpty) parts.push(p);
    }
  }
  if (parts.length === 0) return new RoaringBitmap32();
  if (parts.length === 1) return parts[0]!.clone();
  return RoaringBitmap32.orMany(parts);
}
