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
