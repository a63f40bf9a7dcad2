// Starts a real Prometheus (the `prometheus` binary on PATH, e.g. Debian's 2.42) for
// differential tests: remote-write receiver on, a temporary TSDB directory, no scrape targets,
// an ephemeral loopback port. Resolves once /-/ready answers 200.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

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

/** "2.42.0+ds" from `prometheus --version`. */
export function prometheusVersion(bin: string): string {
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return /version (\S+)/.exec(out)?.[1] ?? 'unknown';
}

/** Log lines kept for error messages. */
const LOG_LINES_MAX = 200;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
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
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const onData = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    if (lines.length > LOG_LINES_MAX) lines.splice(0, lines.length - LOG_LINES_MAX);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test worker that exits without calling stop() (a failed beforeAll, a killed run) must not
  // leave a Prometheus behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode} before ready:\n${lines.join('\n')}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready in time:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, pid: child.pid!, version, dir, logs: () => [...lines], stop };
}
