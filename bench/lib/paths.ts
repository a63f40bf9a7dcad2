// Where things are, whether the harness runs compiled (dist-bench/bench/...) or from source
// (vitest): everything is found relative to the repository root.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The directory holding mocha-tsdb's package.json, found by walking up from this module. */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'mocha-tsdb') return (cachedRoot = dir);
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error('cannot find the mocha-tsdb repository root above ' + fileURLToPath(import.meta.url));
}

export const serverCliPath = (): string => path.join(repoRoot(), 'dist', 'cli.js');
export const fixturesDir = (): string => path.join(repoRoot(), 'bench', 'fixtures');
export const resultsDir = (): string => path.join(repoRoot(), 'bench', 'results');
export const nodeExporterFixturePath = (): string => path.join(fixturesDir(), 'node-exporter-capture.json.gz');

/** Total size of the regular files under dir (0 when it does not exist). */
export function dirBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/** Finds an executable on PATH. */
export function which(name: string): string | undefined {
  for (const d of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (d === '') continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}
