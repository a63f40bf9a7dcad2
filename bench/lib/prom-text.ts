// A small parser for the Prometheus text exposition format (0.0.4), enough to read a node
// exporter scrape for the benchmark capture. Bench-only: the server never parses this format.

export interface TextSample {
  name: string;
  /** Label pairs other than the name, in exposition order. */
  labels: Record<string, string>;
  value: number;
}

export interface TextScrape {
  samples: TextSample[];
  /** `# TYPE` of each metric family: counter, gauge, summary, histogram, untyped. */
  types: Map<string, string>;
}

/** Bounds a single scrape so a runaway exporter cannot exhaust memory. */
const SCRAPE_SAMPLES_MAX = 1_000_000;

export function parsePromText(text: string): TextScrape {
  const samples: TextSample[] = [];
  const types = new Map<string, string>();
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    if (samples.length >= SCRAPE_SAMPLES_MAX) throw new Error(`scrape has more than ${SCRAPE_SAMPLES_MAX} samples`);
    samples.push(parseSampleLine(line, lineNo));
  }
  return { samples, types };
}

function parseSampleLine(line: string, lineNo: number): TextSample {
  const fail = (why: string): never => {
    throw new Error(`exposition line ${lineNo}: ${why}: ${line.slice(0, 200)}`);
  };
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i]!)) i++;
  const name = line.slice(0, i);
  if (name === '') fail('no metric name');
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const start = i;
      while (i < line.length && /[a-zA-Z0-9_]/.test(line[i]!)) i++;
      const key = line.slice(start, i);
      if (key === '' || line[i] !== '=' || line[i + 1] !== '"') fail('bad label');
      i += 2;
      let value = '';
      for (;;) {
        if (i >= line.length) fail('unterminated label value');
        const c = line[i]!;
        if (c === '\\') {
          const e = line[i + 1];
          value += e === 'n' ? '\n' : e === undefined ? fail('dangling escape') : e;
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      labels[key] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const v = parsePromFloat(rest[0] ?? '');
  if (v === undefined) fail('bad value');
  return { name, labels, value: v! };
}

export function parsePromFloat(s: string): number | undefined {
  switch (s) {
    case 'NaN':
      return NaN;
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    default: {
      if (s === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
      return Number(s);
    }
  }
}
