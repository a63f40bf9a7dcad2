// Starts a real Prometheus (the `prometheus` binary on PATH, e.g. Debian's 2.42) for
// differential tests: remote-write receiver on, a temporary TSDB directory, no scrape targets,
// an ephemeral loopback port. Resolves once /-/ready answers 200.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, launchPrometheus, prometheusVersion } from '../../bench/lib/prometheus-launch.js';

export { prometheusVersion };

export interface PrometheusProcess {
  readonly url: string;
  /** For RSS sampling in benchmarks. */
  readonly pid: number;
  readonly version: string;
  readonly dir: string;
  logs(): string[];
  /** SIGTERM, then SIGKILL after 10 s; removes the temporary directory. */
  stop(): Promise<void>;
}

/** Path of the prometheus binary, or undefined when it is not installed. */
export function prometheusBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' });
  const p = r.status === 0 ? r.stdout.trim() : '';
  return p !== '' ? p : undefined;
}

export async function startPrometheus(
  opts: {
    bin?: string;
    startTimeoutMs?: number;
    lookbackDelta?: string;
    /** prometheus.yml; default: no scrape targets, long intervals. */
    configYaml?: string;
    /** More flags, e.g. --enable-feature=exemplar-storage. */
    extraArgs?: string[];
  } = {},
): Promise<PrometheusProcess> {
  const bin = opts.bin ?? prometheusBinary();
  if (bin === undefined) throw new Error('prometheus is not installed (apt-get install -y prometheus)');
  const version = prometheusVersion(bin);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-prom-'));
  const config = path.join(dir, 'prometheus.yml');
  // No scrape configs and no rules: the only data is what the test remote-writes, and Prometheus
  // stays idle. The evaluation interval is Prometheus' default (1m) because it is also the step
  // of a subquery written without one (`x[5m:]`), which mocha-tsdb fixes at that default.
  fs.writeFileSync(config, opts.configYaml ?? 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n');
  const port = await freePort();
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-remote-write-receiver',
    `--query.lookback-delta=${opts.lookbackDelta ?? '5m'}`,
    '--log.level=warn',
    ...(opts.extraArgs ?? []),
  ];
  const p = await launchPrometheus(bin, args, port, {
    readyTimeoutMs: opts.startTimeoutMs ?? 30_000,
    pollMs: 50,
    notReadyWhat: 'in time',
    afterStop: () => fs.rmSync(dir, { recursive: true, force: true }),
  });
  return { url: p.url, pid: p.pid, version, dir, logs: p.logs, stop: p.stop };
}
