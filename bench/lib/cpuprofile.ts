// Reads V8 .cpuprofile files (written by node --cpu-prof) and ranks functions and modules by self
// time, optionally only within a time window (the ingest phase), so the lead can see what
// dominates the server's CPU. V8 stamps samples with the monotonic clock in µs, the same clock as
// process.hrtime(), which lets the bench cut the window.
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  name: string;
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) time in the window. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Whether the samples were cut to the requested window (false: the whole profile). */
  windowed: boolean;
  busyMs: number;
  idleMs: number;
  functions: SelfTimeRow[];
  modules: SelfTimeRow[];
}

/** Rows kept per table. */
const TOP_ROWS_MAX = 25;

export function loadProfile(file: string): CpuProfile {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas) || p.samples.length !== p.timeDeltas.length) {
    throw new Error(`${file}: not a V8 cpuprofile (nodes, samples, timeDeltas)`);
  }
  return p;
}

/** Shortens a script URL: repo-relative for our sources, the package name for dependencies. */
export function shortLocation(url: string, root: string): string {
  if (url === '') return '(native)';
  let u = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (u.startsWith(root + path.sep)) u = u.slice(root.length + 1);
  return u;
}

function moduleOf(loc: string, fn: string): string {
  if (loc === '(native)') return fn.startsWith('(') ? fn : '(native)';
  if (loc.startsWith('node:')) return 'node:' + (loc.slice(5).split('/')[1] ?? loc.slice(5));
  return loc;
}

export function summarizeProfile(file: string, root: string, window?: { fromUs: number; toUs: number }, top = TOP_ROWS_MAX): ProfileSummary {
  const p = loadProfile(file);
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  // Sample i happens at startTime + sum(timeDeltas[0..i]); it stands for the time until the next one.
  const times = new Float64Array(p.samples.length);
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    times[i] = t;
  }
  const overlaps = window !== undefined && window.fromUs < p.endTime && window.toUs > p.startTime;
  const fnMs = new Map<string, { name: string; location: string; us: number }>();
  const modMs = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const at = times[i]!;
    if (overlaps && (at < window.fromUs || at > window.toUs)) continue;
    const dur = i + 1 < p.samples.length ? times[i + 1]! - at : p.endTime - at;
    if (!(dur > 0)) continue;
    const node = byId.get(p.samples[i]!);
    if (node === undefined) continue;
    const name = node.callFrame.functionName || '(anonymous)';
    // piscina workers spin in atomicsWaitLoop while they wait for a task: that is idle time.
    if (name === '(idle)' || name === 'atomicsWaitLoop') {
      idleUs += dur;
      continue;
    }
    busyUs += dur;
    const location = shortLocation(node.callFrame.url, root);
    const where = location === '(native)' ? location : `${location}:${node.callFrame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const e = fnMs.get(key);
    if (e) e.us += dur;
    else fnMs.set(key, { name, location: where, us: dur });
    const mod = moduleOf(location, name);
    modMs.set(mod, (modMs.get(mod) ?? 0) + dur);
  }
  const pct = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  const functions = [...fnMs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, location: e.location, selfMs: e.us / 1000, percent: pct(e.us) }));
  const modules = [...modMs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([m, us]) => ({ name: m, location: '', selfMs: us / 1000, percent: pct(us) }));
  return { file, windowed: overlaps, busyMs: busyUs / 1000, idleMs: idleUs / 1000, functions, modules };
}
