// Prometheus on the same 30 days as mocha: promtool builds TSDB blocks from the OpenMetrics file
// (`promtool tsdb create-blocks-from openmetrics`), then Prometheus starts on that directory with a
// retention long enough to keep them. Either binary missing: the caller skips Prometheus and
// prints why.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { dirBytes, which } from '../paths.js';
import { freePort, launchPrometheus, prometheusVersion } from '../prometheus-launch.js';

export interface PromtoolResult {
  ms: number;
  output: string;
}

/** Log/output lines kept for error messages. */
const LINES_MAX = 200;

export function findPrometheusBinaries(): { prometheus?: string; promtool?: string } {
  const fixed = (name: string) => (fs.existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : which(name));
  const out: { prometheus?: string; promtool?: string } = {};
  const p = fixed('prometheus');
  const t = fixed('promtool');
  if (p !== undefined) out.prometheus = p;
  if (t !== undefined) out.promtool = t;
  return out;
}

function run(bin: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const onData = (c: Buffer) => {
      lines.push(...c.toString('utf8').split('\n').filter((l) => l !== ''));
      if (lines.length > LINES_MAX) lines.splice(0, lines.length - LINES_MAX);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output: lines.join('\n') }));
  });
}

/**
 * Builds blocks from an OpenMetrics file into outDir. maxBlockDuration ("54h") is promtool's
 * hidden --max-block-duration (2 h by default): promtool re-reads its whole input once per block.
 */
export async function promtoolCreateBlocks(promtool: string, inputFile: string, outDir: string, maxBlockDuration: string): Promise<PromtoolResult> {
  fs.mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const r = await run(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', `--max-block-duration=${maxBlockDuration}`, inputFile, outDir]);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`promtool exited with ${r.code}:\n${r.output}`);
  return { ms, output: r.output };
}

/** Block directories (ULID names) under a TSDB directory and their bytes. */
export function countBlocks(dir: string): { blocks: number; bytes: number } {
  const blocks = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && /^[0-9A-Z]{26}$/.test(e.name));
  let bytes = 0;
  for (const b of blocks) bytes += dirBytes(path.join(dir, b.name));
  return { blocks: blocks.length, bytes };
}

export interface PrometheusOnBlocks {
  url: string;
  pid: number;
  version: string;
  startMs: number;
  logs(): string[];
  stop(): Promise<void>;
}

/** Starts Prometheus on an existing TSDB directory (no scrape targets) and waits for /-/ready. */
/**
 * maxBlockDuration: Prometheus' own (hidden) --storage.tsdb.max-block-duration, set to the blocks'
 * size so it does not start compacting them into larger ones while the queries are timed.
 */
export async function startPrometheusOn(bin: string, dataDir: string, workDir: string, maxBlockDuration: string, readyTimeoutMs = 300_000): Promise<PrometheusOnBlocks> {
  const version = prometheusVersion(bin);
  const config = path.join(workDir, 'prometheus.yml');
  fs.writeFileSync(config, 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n');
  const port = await freePort();
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${dataDir}`,
    // Retention counts back from the newest block; the data is at most weeks old.
    '--storage.tsdb.retention.time=3650d',
    `--storage.tsdb.max-block-duration=${maxBlockDuration}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Prometheus' own bounds must not be what a 30-day query measures.
    '--query.max-samples=2000000000',
    '--query.timeout=30m',
    '--log.level=warn',
  ];
  const t0 = performance.now();
  const p = await launchPrometheus(bin, args, port, { readyTimeoutMs, pollMs: 100, notReadyWhat: `within ${readyTimeoutMs} ms` });
  return { url: p.url, pid: p.pid, version, startMs: performance.now() - t0, logs: p.logs, stop: p.stop };
}
