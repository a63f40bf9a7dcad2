// Starts VictoriaMetrics single-node (/usr/bin/victoria-metrics, or `victoria-metrics` on PATH)
// on a temporary -storageDataPath and a free loopback port, for side-by-side ingest numbers.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { which } from './paths.js';

export interface VictoriaServer {
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export function findVictoriaMetrics(): string | undefined {
  if (fs.existsSync('/usr/bin/victoria-metrics')) return '/usr/bin/victoria-metrics';
  return which('victoria-metrics') ?? which('victoria-metrics-prod');
}

/** A port that was free a moment ago (VictoriaMetrics cannot report an ephemeral port back). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startVictoria(binary: string, startTimeoutMs = 60_000): Promise<VictoriaServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-bench-'));
  const port = await freePort();
  const child: ChildProcess = spawn(binary, [`-storageDataPath=${dataDir}`, `-httpListenAddr=127.0.0.1:${port}`, '-retentionPeriod=10y', '-loggerLevel=ERROR'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < 8192) stderr += c.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`victoria-metrics exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`victoria-metrics did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: child.pid!,
    dataDir,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sum of a counter over all its series in a Prometheus text exposition (0 when absent). */
export async function scrapeCounter(url: string, name: string, labelFilter = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter !== '' && !rest.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
