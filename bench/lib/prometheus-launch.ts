// Starting a Prometheus process and waiting for /-/ready, shared by the benchmarks
// (rollup-bench/prometheus.ts) and the differential tests (test/helpers/prometheus-process.ts):
// output lines kept for error messages, SIGKILL if this process exits first, stop() as SIGTERM
// then SIGKILL after 10 s.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** Log lines kept for error messages. */
const LOG_LINES_MAX = 200;

/** "2.42.0+ds" from `prometheus --version`. */
export function prometheusVersion(bin: string): string {
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return /version (\S+)/.exec(out)?.[1] ?? 'unknown';
}

/** A loopback port free right now (for --web.listen-address). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface LaunchedPrometheus {
  readonly url: string;
  readonly pid: number;
  logs(): string[];
  /** SIGTERM, then SIGKILL after 10 s; then afterStop. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  readyTimeoutMs: number;
  /** Between /-/ready polls. */
  pollMs: number;
  /** Ends "prometheus not ready <notReadyWhat>:" in the timeout error. */
  notReadyWhat: string;
  /** Run by stop() once the process is gone (e.g. remove a temporary directory). */
  afterStop?: () => void;
}

/** Spawns `bin args` (listening on 127.0.0.1:port) and resolves once /-/ready answers 200. */
export async function launchPrometheus(bin: string, args: readonly string[], port: number, opts: LaunchOptions): Promise<LaunchedPrometheus> {
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const onData = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    if (lines.length > LOG_LINES_MAX) lines.splice(0, lines.length - LOG_LINES_MAX);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A process that exits without calling stop() (a failed beforeAll, a killed run) must not
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
    opts.afterStop?.();
  };
  const deadline = performance.now() + opts.readyTimeoutMs;
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
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready ${opts.notReadyWhat}:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
  return { url, pid: child.pid!, logs: () => [...lines], stop };
}
