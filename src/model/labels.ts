// Labels: the identity of a series. Every layer shares this representation.
//
// A label set is an array of {name, value} sorted by name with unique names. The canonical key
// (labelsKey) is the string used by every registry and merge: name and value separated by
// 0xff-free separators so that no two distinct label sets share a key.

export interface Label {
  readonly name: string;
  readonly value: string;
}

/** Sorted by name, names unique, values non-empty (an empty value means "no such label"). */
export type Labels = readonly Label[];

export const METRIC_NAME_LABEL = '__name__';

// \u0000 cannot appear in a valid label name; in values it is legal UTF-8 but Prometheus
// rejects it on ingest, so it is safe as a separator.
const KEY_PAIR_SEP = '\u0000';
const KEY_NAME_VALUE_SEP = '\u0001';

/** Canonical string key of a sorted label set. */
export function labelsKey(labels: Labels): string {
  let key = '';
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (i > 0) key += KEY_PAIR_SEP;
    key += l.name + KEY_NAME_VALUE_SEP + l.value;
  }
  return key;
}

export function labelsFromRecord(record: Record<string, string>): Labels {
  return Object.keys(record)
    .filter((name) => record[name] !== '')
    .sort(compareStrings)
    .map((name) => ({ name, value: record[name]! }));
}

export function labelsToRecord(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) out[l.name] = l.value;
  return out;
}

export function getLabel(labels: Labels, name: string): string {
  for (const l of labels) if (l.name === name) return l.value;
  return '';
}

/** Byte-order (code unit order) comparison, as Go compares strings for ASCII names. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders label sets the way Prometheus sorts series in results: pairwise by name, then value. */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name) return compareStrings(x.name, y.name);
    if (x.value !== y.value) return compareStrings(x.value, y.value);
  }
  return a.length - b.length;
}

/** True when names are strictly increasing (sorted, unique). */
export function labelsAreSorted(labels: Labels): boolean {
  for (let i = 1; i < labels.length; i++) if (!(labels[i - 1]!.name < labels[i]!.name)) return false;
  return true;
}

/** The label set without __name__ (the same array when it has none). */
export function dropMetricName(labels: Labels): Labels {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]!.name === METRIC_NAME_LABEL) return labels.slice(0, i).concat(labels.slice(i + 1));
  }
  return labels;
}

/** Sets one label of a sorted label set; an empty value deletes it (as Go's labels.Builder.Set). */
export function setLabel(labels: Labels, name: string, value: string): Labels {
  const out: Label[] = [];
  let placed = value === '';
  for (const l of labels) {
    if (l.name === name) continue;
    if (!placed && l.name > name) {
      out.push({ name, value });
      placed = true;
    }
    out.push(l);
  }
  if (!placed) out.push({ name, value });
  return out;
}
