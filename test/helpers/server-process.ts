// Starts the real server (dist/cli.js, as `npm start` does) on a temporary data directory and
// an ephemeral loopback port, for end-to-end tests. Logs are kept so tests can assert on them.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface ServerProcess {
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Every log line so far (pino JSON). */
  logs(): string[];
  /** SIGKILL: a crash. Resolves when the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function tempDataDir(prefix = 'mocha-e2e-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startServer(opts: { dataDir?: string; args?: string[]; startTimeoutMs?: number; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` (npm test does it first)`);
  const dataDir = opts.dataDir ?? tempDataDir();
  const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.env !== undefined ? { env: { ...process.env, ...opts.env } } : {}),
  });
  const lines: string[] = [];
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  let url: string | undefined;
  while (url === undefined) {
    for (const l of lines) {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(l);
      if (m) url = m[1];
    }
    if (url !== undefined) break;
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start in time:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url,
    dataDir,
    child,
    logs: () => [...lines],
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Prometheus API GET with a typed JSON answer. */
export async function promGet<T = unknown>(base: string, pathAndQuery: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(base + pathAndQuery, { headers });
  return { status: res.status, body: (await res.json()) as T };
}

/** Form-encoded POST, the way Grafana sends queries. */
export async function promPostForm<T = unknown>(base: string, p: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) params.append(k, x);
  const res = await fetch(base + p, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: params.toString(),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** POST a remote-write body (already snappy-compressed). */
export async function postRemoteWrite(base: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(base + '/api/v1/write', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
      ...headers,
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/**
 * POST over a raw socket, reading the answer even when the server answers (and closes) before the
 * body is fully sent, as it does for an oversized body: an HTTP client would report EPIPE instead.
 */
export async function postRaw(base: string, p: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const net = await import('node:net');
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
    });
    sock.on('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      if (!m) return reject(new Error(`no HTTP response: ${JSON.stringify(raw.slice(0, 200))}`));
      const bodyStart = raw.indexOf('\r\n\r\n');
      resolve({ status: Number(m[1]), text: bodyStart >= 0 ? raw.slice(bodyStart + 4) : '' });
    });
    const head = [`POST ${p} HTTP/1.1`, `Host: ${u.host}`, 'Connection: close', `Content-Length: ${body.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    sock.write(head);
    sock.write(body); // no end(): a half-closed socket makes the server drop the request unanswered
  });
}
