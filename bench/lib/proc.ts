// Reads another process' memory and CPU from /proc (Linux): the server's peak RSS and the CPU it
// spends during ingest. Elsewhere the readings are absent, not wrong.
import fs from 'node:fs';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_S = 100;

export interface MemReading {
  rssBytes: number;
  /** Peak RSS over the process' life (VmHWM). */
  hwmBytes: number;
}

export function readMem(pid: number): MemReading | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

/** User + system CPU seconds the process has used so far (all threads). */
export function readCpuSeconds(pid: number, statPath = `/proc/${pid}/stat`): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(statPath, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / CLOCK_TICKS_PER_S;
}

/**
 * User + system CPU seconds each thread of the process has used so far, by thread id (the main
 * thread's id is the pid). Threads that ended are missing: compare two readings per thread.
 */
export function readThreadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const s = readCpuSeconds(Number(tid), `/proc/${pid}/task/${tid}/stat`);
    if (s !== undefined) out.set(Number(tid), s);
  }
  return out;
}

/** Samples a process' memory every periodMs and keeps the peaks. */
export class MemSampler {
  peakRssBytes = 0;
  peakHwmBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pid: number,
    private readonly periodMs = 250,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
    this.timer.unref();
  }

  sample(): void {
    const m = readMem(this.pid);
    if (m === undefined) return;
    if (m.rssBytes > this.peakRssBytes) this.peakRssBytes = m.rssBytes;
    if (m.hwmBytes > this.peakHwmBytes) this.peakHwmBytes = m.hwmBytes;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  /** The peak, by VmHWM when the kernel reports it, else the highest sampled VmRSS. */
  get peakBytes(): number {
    return Math.max(this.peakHwmBytes, this.peakRssBytes);
  }
}

/** Busy and total CPU jiffies of the whole machine so far (/proc/stat's "cpu" line), absent elsewhere. */
function machineJiffies(): { busy: number; total: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const m = /^cpu\s+(.*)$/m.exec(text);
  if (m === null) return undefined;
  const f = m[1]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = f.slice(0, 8).reduce((s, x) => s + x, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** waitForQuietCpu's default: a machine at most this busy (share of all CPUs) counts as idle. */
export const QUIET_BUSY_SHARE_MAX = 0.2;

export interface QuietWait {
  /** How long it waited, ms. */
  waitedMs: number;
  /** The busy share of the machine's CPUs in the last window (0..1), absent where /proc/stat is not readable. */
  busyShare?: number;
}

/**
 * Waits until the machine's CPUs are mostly idle (busy below `busyShareMax` over a `windowMs`
 * window), at most `timeoutMs`: a timed query then starts on a machine that is not still busy
 * with the previous target's leftovers (another server's garbage collection after its answer,
 * a concurrent marking of ours). Returns at once where /proc/stat is not readable.
 */
export async function waitForQuietCpu(opts: { busyShareMax?: number; windowMs?: number; timeoutMs?: number } = {}): Promise<QuietWait> {
  const busyShareMax = opts.busyShareMax ?? QUIET_BUSY_SHARE_MAX;
  const windowMs = opts.windowMs ?? 200;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const t0 = performance.now();
  let prev = machineJiffies();
  if (prev === undefined) return { waitedMs: 0 };
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const now = machineJiffies()!;
    const busyShare = now.total > prev.total ? (now.busy - prev.busy) / (now.total - prev.total) : 0;
    if (busyShare <= busyShareMax || performance.now() - t0 >= timeoutMs) return { waitedMs: performance.now() - t0, busyShare };
    prev = now;
  }
}
