// Starts the real server (node dist/cli.js) on a temporary data directory and an ephemeral
// loopback port (--listen 127.0.0.1:0; the port is read back from fastify's "Server listening at"
// log line), optionally under the V8 CPU profiler, and stops it by its own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { serverCliPath } from './paths.js';

export interface BenchServer {
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** From the spawn to the "Server listening" log line: the start-up as a client sees it. */
  readonly listeningAfterMs: number;
  /** The last log lines (pino JSON), for error messages. */
  recentLogs(): string[];
  /** SIGTERM, wait for a clean exit (a CPU profile is written then); SIGKILL after timeoutMs. */
  stop(timeoutMs?: number): Promise<number | null>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  /** Run under --cpu-prof, writing .cpuprofile files here. */
  cpuProfDir?: string;
  startTimeoutMs?: number;
  /** Server entry point (default dist/cli.js), e.g. a copy of an older build to compare with. */
  cliPath?: string;
}

/** Log lines kept for error messages. */
const LOG_LINES_MAX = 200;

export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-bench-'));
}

export async function startServer(o: StartOptions = {}): Promise<BenchServer> {
  const cli = o.cliPath ?? serverCliPath();
  if (!fs.existsSync(cli)) throw new Error(`${cli} missing: run \`npm run build\` first`);
  const dataDir = o.dataDir ?? tempDataDir();
  const nodeArgs = o.cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
  // Diagnostics: MOCHA_BENCH_SERVER_NODE_ARGS="--trace-gc" adds node flags to every server started;
  // MOCHA_BENCH_SERVER_LOG=FILE appends every output line of the servers to FILE.
  const extraNodeArgs = process.env.MOCHA_BENCH_SERVER_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
  nodeArgs.push(...extraNodeArgs);
  const logFile = process.env.MOCHA_BENCH_SERVER_LOG;
  const spawnedAt = performance.now();
  let listeningAfterMs = NaN;
  const child = spawn(process.execPath, [...nodeArgs, cli, '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...(o.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let url: string | undefined;
  let partial = '';
  const onData = (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (url === undefined) {
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) {
          url = m[1];
          listeningAfterMs = performance.now() - spawnedAt;
        }
      }
      lines.push(line);
      if (logFile !== undefined) fs.appendFileSync(logFile, line + '\n');
      if (lines.length > LOG_LINES_MAX) lines.shift();
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
  while (url === undefined) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start within ${o.startTimeoutMs ?? 60_000} ms:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const found = url;
  return {
    url: found,
    pid: child.pid!,
    dataDir,
    child,
    listeningAfterMs,
    recentLogs: () => [...lines],
    async stop(timeoutMs = 60_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
