// Rollup levels (the pyramid's resolutions) and retention per level: names, widths, parsing of
// `--rollup-levels 5m,1h,1d` and `--retention raw=15d,5m=90d,1h=2y,1d=inf`.
//
// A level is named by its bucket width in Prometheus duration syntax ("5m", "1h", "1d"); "raw"
// is the level of raw samples. Widths are whole seconds, at least 1 m, each a multiple of the next
// finer one (so compaction can build a coarser level from a finer one with coarsen()) and listed
// finest first. A width does not have to divide the raw partition (2 h): a level segment of a
// partition holds the partial buckets at its edges, and readers join them with concat().
export const RAW_LEVEL = 'raw';

export interface RollupLevel {
  /** "5m", "1h", "1d": the width in duration syntax, as in file and metric names. */
  readonly name: string;
  readonly widthMs: number;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** "90s", "5m", "1h", "2y": one integer and one unit (s, m, h, d, w, y); undefined if not that. */
export function parseSimpleDurationMs(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,8})([smhdwy])$/.exec(text);
  if (m === null) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** The canonical name of a width: the largest unit that divides it ("60m" -> "1h"). */
export function levelNameOf(widthMs: number): string {
  for (const u of ['y', 'w', 'd', 'h', 'm', 's']) {
    const ms = UNIT_MS[u]!;
    if (widthMs % ms === 0) return `${widthMs / ms}${u}`;
  }
  throw new Error(`level width ${widthMs} ms is not a whole number of seconds`);
}

export const DEFAULT_ROLLUP_LEVELS_TEXT = '5m,1h,1d';
export const LEVEL_WIDTH_MIN_MS = 60_000;

function badFlag(flag: string, msg: string): Error {
  return new Error(`--${flag}: ${msg}`);
}

/** Parses `5m,1h,1d` (or `none` for no levels): finest first, each a multiple of the previous. */
export function parseRollupLevels(text: string): RollupLevel[] {
  const t = text.trim();
  if (t === 'none' || t === '') return [];
  const levels: RollupLevel[] = [];
  for (const part of t.split(',')) {
    const p = part.trim();
    const w = parseSimpleDurationMs(p);
    if (w === undefined) throw badFlag('rollup-levels', `${JSON.stringify(p)} is not a duration like 5m, 1h or 1d`);
    if (w < LEVEL_WIDTH_MIN_MS) throw badFlag('rollup-levels', `${p} is finer than 1m`);
    const prev = levels[levels.length - 1];
    if (prev !== undefined && (w <= prev.widthMs || w % prev.widthMs !== 0)) {
      throw badFlag('rollup-levels', `${p} must be coarser than and a multiple of ${prev.name} (list levels finest first)`);
    }
    levels.push({ name: levelNameOf(w), widthMs: w });
  }
  return levels;
}

/** Level name -> how long its data is kept (ms; Infinity = forever). Levels not named keep data forever. */
export type RetentionByLevel = ReadonlyMap<string, number>;

/** Parses `raw=15d,5m=90d,1h=2y,1d=inf`; every name must be "raw" or one of the levels. */
export function parseRetention(text: string, levels: readonly RollupLevel[]): RetentionByLevel {
  const out = new Map<string, number>();
  const t = text.trim();
  if (t === '') return out;
  const known = new Set([RAW_LEVEL, ...levels.map((l) => l.name)]);
  for (const part of t.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw badFlag('retention', `${JSON.stringify(part)} is not LEVEL=DURATION (e.g. raw=15d)`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!known.has(name)) throw badFlag('retention', `unknown level ${JSON.stringify(name)}; levels are ${[...known].join(', ')}`);
    if (out.has(name)) throw badFlag('retention', `level ${name} is given twice`);
    const ms = value === 'inf' ? Infinity : parseSimpleDurationMs(value);
    if (ms === undefined) throw badFlag('retention', `${name}=${JSON.stringify(value)}: not a duration like 15d or inf`);
    out.set(name, ms);
  }
  return out;
}
