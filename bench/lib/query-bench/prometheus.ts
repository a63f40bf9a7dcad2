// Starts a real Prometheus for the query benchmark, like test/helpers/prometheus-process.ts does
// (remote-write receiver on, a temporary TSDB directory, no scrape targets, a loopback port), but
// also exposes its pid so the bench can sample its RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { prometheusBinary, prometheusVersion } from '../../../test/helpers/prometheus-process.js';

export interface BenchPrometheus {
  readonly url: string;
  readonly pid: number;
  readonly version: string;
  logs(): string[];
  /** SIGTERM, SIGKILL after 10 s; removes the temporary directory. */
  stop(): Promise<void>;
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

export async function startBenchPrometheus(o: { startTimeoutMs?: number } = {}): Promise<BenchPrometheus> {
  const bin = prometheusBinary();
  if (bin === undefined) throw new Error('prometheus is not installed (apt-get install -y prometheus)');
  const version = prometheusVersion(bin);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-qbench-prom-'));
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(config, 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n');
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--query.lookback-delta=5m',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const onData = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    if (lines.length > LOG_LINES_MAX) lines.splice(0, lines.length - LOG_LINES_MAX);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
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
  const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode} before ready:\n${lines.join('\n')}`);
    }
    try {
      if ((await fetch(`${url}/-/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready in time:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, pid: child.pid!, version, logs: () => [...lines], stop };
}
