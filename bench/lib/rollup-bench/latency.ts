// Ingest latency while compacting (issue #5, "Must show"): a steady writer posts current data (a
// counter per series, `series` series, one request every `periodMs`) on a fixed schedule, and
// every request's latency is kept with the phase it was sent in ("idle", "compacting"). The
// schedule does not wait for answers (open loop), so a stalled server shows as latency instead of
// as fewer requests. With each request it samples the machine's runnable threads (Linux
// /proc/stat procs_running): on a shared machine other processes' load moves the latency as much
// as compaction does, and this says how busy the cores were in each phase.
import fs from 'node:fs';
import http from 'node:http';
import { encodeRemoteWriteV1 } from '../encode.js';
import { remoteWrite, type WriteStats } from './client.js';

export const LIVE_METRIC = 'rb_live_total';

export class SteadyWriter {
  phase = 'warmup';
  readonly latencies = new Map<string, number[]>();
  /** procs_running samples per phase (absent where /proc/stat is not readable). */
  readonly runnable = new Map<string, number[]>();
  readonly stats: WriteStats = { retries: 0, status429: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly pending = new Set<Promise<void>>();
  private readonly labels: Record<string, string>[] = [];
  private readonly values: Float64Array;
  private failure: Error | undefined;
  sent = 0;

  constructor(
    private readonly baseUrl: string,
    series: number,
    private readonly periodMs: number,
  ) {
    for (let i = 0; i < series; i++) this.labels.push({ __name__: LIVE_METRIC, id: `l${String(i).padStart(5, '0')}` });
    this.values = new Float64Array(series);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.periodMs);
  }

  private tick(): void {
    const now = Date.now();
    for (let i = 0; i < this.values.length; i++) this.values[i]! += 1 + (i % 7);
    const body = encodeRemoteWriteV1(this.labels.map((l, i) => ({ labels: l, timestampsMs: [now], values: [this.values[i]!] })));
    const phase = this.phase;
    const running = procsRunning();
    if (running !== undefined) {
      let r = this.runnable.get(phase);
      if (r === undefined) this.runnable.set(phase, (r = []));
      r.push(running);
    }
    const t0 = performance.now();
    // From the first attempt to the acknowledgement: a 429 and its retry count as latency.
    const p = remoteWrite(this.agent, new URL('/api/v1/write', this.baseUrl), body, this.stats)
      .then(() => {
        const ms = performance.now() - t0;
        let a = this.latencies.get(phase);
        if (a === undefined) this.latencies.set(phase, (a = []));
        a.push(ms);
      })
      .catch((e: unknown) => {
        this.failure ??= e as Error;
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    this.sent++;
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.all([...this.pending]);
    this.agent.destroy();
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Threads runnable on the machine now (this one included), or undefined off Linux. */
export function procsRunning(): number | undefined {
  try {
    const m = /^procs_running (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
