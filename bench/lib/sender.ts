// Sends the pre-encoded requests with a few concurrent senders over keep-alive connections, the
// way Prometheus' remote-write shards do: 2xx is acknowledged, 429/5xx and connection errors back
// off and retry (30 ms doubling to 5 s, Prometheus' defaults), any other status fails the run.
import http from 'node:http';
import type { EncodedRequests } from './requests.js';

export interface SendOptions {
  senders: number;
  /** Called often (every response); the callee throttles. */
  onProgress?: (ackedSamples: number) => void;
  /** Acked-samples trace period (default 100 ms), for windowed throughput. */
  tracePeriodMs?: number;
  headers?: Record<string, string>;
  /** Request path (default /api/v1/write). */
  path?: string;
}

export interface SendResult {
  startMs: number;
  endMs: number;
  /** hrtime (ns) at start and end, to line up with CPU profiles. */
  startHrNs: bigint;
  endHrNs: bigint;
  ackedSamples: number;
  requests: number;
  retries: number;
  status429: number;
  status5xx: number;
  connectionErrors: number;
  /** (ms since start, acked samples) every tracePeriodMs, starting with (0, 0). */
  trace: { tMs: number[]; samples: number[] };
  /** Request latency per request (ms), in send order. */
  latencyMs: Float64Array;
}

const BACKOFF_MIN_MS = 30;
const BACKOFF_MAX_MS = 5000;
/** A request that keeps failing this many times in a row fails the run. */
const RETRIES_PER_REQUEST_MAX = 50;

interface Answer {
  status: number;
  body: string;
}

function post(agent: http.Agent, url: URL, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/x-protobuf',
          'content-encoding': 'snappy',
          'x-prometheus-remote-write-version': '0.1.0',
          'user-agent': 'mocha-bench',
          'content-length': String(body.length),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 4096) text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function sendAll(baseUrl: string, reqs: EncodedRequests, o: SendOptions): Promise<SendResult> {
  const url = new URL(o.path ?? '/api/v1/write', baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.senders });
  const n = reqs.bodies.length;
  const latencyMs = new Float64Array(n);
  let next = 0;
  let acked = 0;
  let retries = 0;
  let status429 = 0;
  let status5xx = 0;
  let connectionErrors = 0;
  const trace = { tMs: [0], samples: [0] };
  const startHrNs = process.hrtime.bigint();
  const startMs = performance.now();
  const period = o.tracePeriodMs ?? 100;
  const timer = setInterval(() => {
    trace.tMs.push(performance.now() - startMs);
    trace.samples.push(acked);
  }, period);
  let failure: Error | undefined;

  const sender = async () => {
    while (failure === undefined) {
      const i = next++;
      if (i >= n) return;
      let backoff = BACKOFF_MIN_MS;
      for (let attempt = 0; ; attempt++) {
        const t = performance.now();
        let ans: Answer | undefined;
        try {
          ans = await post(agent, url, reqs.bodies[i]!, o.headers ?? {});
        } catch (e) {
          connectionErrors++;
          if (attempt >= RETRIES_PER_REQUEST_MAX) throw new Error(`request ${i}: ${(e as Error).message}`);
        }
        if (ans !== undefined && ans.status >= 200 && ans.status < 300) {
          latencyMs[i] = performance.now() - t;
          acked += reqs.samples[i]!;
          o.onProgress?.(acked);
          break;
        }
        if (ans !== undefined) {
          if (ans.status === 429) status429++;
          else if (ans.status >= 500) status5xx++;
          else throw new Error(`request ${i} refused with ${ans.status}: ${ans.body}`);
          if (attempt >= RETRIES_PER_REQUEST_MAX) throw new Error(`request ${i}: still ${ans.status} after ${attempt} retries: ${ans.body}`);
        }
        retries++;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, o.senders) }, () =>
        sender().catch((e: unknown) => {
          failure ??= e as Error;
        }),
      ),
    );
  } finally {
    clearInterval(timer);
    agent.destroy();
  }
  if (failure !== undefined) throw failure;
  const endMs = performance.now();
  trace.tMs.push(endMs - startMs);
  trace.samples.push(acked);
  return { startMs, endMs, startHrNs, endHrNs: process.hrtime.bigint(), ackedSamples: acked, requests: n, retries, status429, status5xx, connectionErrors, trace, latencyMs };
}
