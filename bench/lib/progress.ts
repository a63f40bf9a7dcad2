// Progress on stderr: a redrawn bar on a terminal, plain periodic lines otherwise (CI logs,
// pipes), so stdout stays clean for the report.
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

/** Redraws at most this often on a terminal; prints a line at most this often elsewhere. */
const TTY_REDRAW_MS = 100;
const PLAIN_LINE_MS = 5000;

export function formatCount(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}

export class Progress {
  private lastDrawMs = 0;
  private readonly t0 = performance.now();
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly quiet = false,
  ) {}

  update(done: number, force = false): void {
    if (this.quiet) return;
    const now = performance.now();
    const tty = this.stream.isTTY === true;
    if (!force && now - this.lastDrawMs < (tty ? TTY_REDRAW_MS : PLAIN_LINE_MS)) return;
    this.lastDrawMs = now;
    const elapsedS = (now - this.t0) / 1000;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const rate = elapsedS > 0 ? done / elapsedS : 0;
    const etaS = rate > 0 ? (this.total - done) / rate : 0;
    const stats = `${(frac * 100).toFixed(0).padStart(3)}% ${formatCount(done)}/${formatCount(this.total)} ${formatCount(rate)}/s ${elapsedS.toFixed(0)}s eta ${etaS.toFixed(0)}s`;
    if (tty) {
      const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - this.label.length - stats.length - 6));
      const full = Math.round(frac * width);
      this.stream.write(`\r${this.label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${stats}\x1b[K`);
      this.drawn = true;
    } else {
      this.stream.write(`${this.label}: ${stats}\n`);
    }
  }

  finish(done: number): void {
    if (this.quiet) return;
    this.update(done, true);
    if (this.drawn) this.stream.write('\n');
  }
}

/** A one-line status message on stderr, not overwriting a bar. */
export function note(msg: string, quiet = false): void {
  if (!quiet) process.stderr.write(`[bench] ${msg}\n`);
}
