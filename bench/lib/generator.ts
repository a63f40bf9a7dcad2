// Synthetic node-exporter-like data, deterministic for a seed: N hosts, each with ~500 series of
// the kinds a real node exporter shows (integer counters, decimal counters, constant gauges,
// decimal gauges, random-walk gauges, full-precision float gauges such as durations). Used when
// no real capture is available and for the quick smoke run.
import { ScrapeClock, chooseSelectors, instanceOf, type Dataset, type QuerySelectors, type SeriesLabels } from './dataset.js';
import { mulberry32, subSeed, type Rng } from './prng.js';

/** How a series' value moves from one scrape to the next. */
const enum Kind {
  Const = 0,
  CounterInt = 1,
  CounterDec = 2,
  GaugeWalk = 3,
  GaugeFloat = 4,
  TimeSeconds = 5,
}

interface Spec {
  kind: Kind;
  /** Starting value in units (value × 10^decimals). */
  init: number;
  decimals: number;
  /** Typical change per scrape, in units. */
  step: number;
  /** Probability that the value changes at a scrape (counters that rarely move). */
  pChange: number;
  /** Gauge floor/ceiling in units; float gauges draw values from [lo, hi). */
  lo?: number;
  hi?: number;
}

type FamilySpec = (rng: Rng, labels: SeriesLabels) => Spec;

interface Family {
  name: string;
  labelSets: SeriesLabels[];
  spec: FamilySpec;
}

const CPU_MODES = ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'];
const NET_DEVICES = ['docker0', 'eth0', 'eth1', 'lo'];
const DISKS = ['nvme0n1', 'sda', 'sdb'];
const MOUNTS = [
  { device: '/dev/nvme0n1p2', mountpoint: '/', fstype: 'ext4' },
  { device: '/dev/nvme0n1p1', mountpoint: '/boot/efi', fstype: 'vfat' },
  { device: '/dev/sda1', mountpoint: '/var/lib/docker', fstype: 'xfs' },
  { device: '/dev/sdb1', mountpoint: '/data', fstype: 'xfs' },
  { device: 'tmpfs', mountpoint: '/run', fstype: 'tmpfs' },
  { device: 'tmpfs', mountpoint: '/dev/shm', fstype: 'tmpfs' },
];
const COLLECTORS = [
  'arp', 'bcache', 'bonding', 'btrfs', 'conntrack', 'cpu', 'cpufreq', 'diskstats', 'dmi', 'edac', 'entropy', 'fibrechannel',
  'filefd', 'filesystem', 'hwmon', 'infiniband', 'ipvs', 'loadavg', 'mdadm', 'meminfo', 'netclass', 'netdev', 'netstat',
  'nfs', 'nfsd', 'nvme', 'os', 'powersupplyclass', 'pressure', 'rapl', 'schedstat', 'selinux', 'sockstat', 'softnet',
  'stat', 'tapestats', 'textfile', 'thermal_zone', 'time', 'timex', 'udp_queues', 'uname', 'vmstat', 'xfs', 'zfs',
];
const MEM_CONST = ['MemTotal', 'SwapTotal', 'HugePages_Total', 'Hugepagesize', 'DirectMap4k', 'DirectMap2M', 'DirectMap1G', 'VmallocTotal', 'CommitLimit', 'HardwareCorrupted', 'HugePages_Free', 'HugePages_Rsvd', 'HugePages_Surp', 'SwapFree', 'SwapCached', 'Bounce', 'NFS_Unstable', 'Unevictable', 'Mlocked'];
const MEM_WALK = ['MemFree', 'MemAvailable', 'Buffers', 'Cached', 'Active', 'Inactive', 'Active_anon', 'Inactive_anon', 'Active_file', 'Inactive_file', 'Dirty', 'Writeback', 'AnonPages', 'Mapped', 'Shmem', 'Slab', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'PageTables', 'Committed_AS', 'VmallocUsed', 'Percpu', 'AnonHugePages'];
const VMSTAT = ['pgpgin', 'pgpgout', 'pswpin', 'pswpout', 'pgfault', 'pgmajfault', 'oom_kill', 'pgsteal_kswapd', 'pgscan_kswapd', 'pgrefill', 'pgactivate', 'pgdeactivate', 'pgfree', 'pgalloc_normal', 'pgalloc_dma32', 'thp_fault_alloc', 'workingset_refault_file', 'workingset_activate_file', 'numa_hit', 'numa_local'];
const NETSTAT = ['Icmp_InErrors', 'Icmp_InMsgs', 'Icmp_OutMsgs', 'Ip_Forwarding', 'IpExt_InOctets', 'IpExt_OutOctets', 'Tcp_ActiveOpens', 'Tcp_CurrEstab', 'Tcp_InErrs', 'Tcp_InSegs', 'Tcp_OutRsts', 'Tcp_OutSegs', 'Tcp_PassiveOpens', 'Tcp_RetransSegs', 'TcpExt_ListenDrops', 'TcpExt_ListenOverflows', 'TcpExt_SyncookiesFailed', 'TcpExt_SyncookiesRecv', 'TcpExt_SyncookiesSent', 'TcpExt_TCPSynRetrans', 'TcpExt_TCPTimeouts', 'Udp_InDatagrams', 'Udp_InErrors', 'Udp_NoPorts', 'Udp_OutDatagrams', 'Udp_RcvbufErrors', 'Udp_SndbufErrors', 'UdpLite_InErrors', 'Ip6_InOctets', 'Ip6_OutOctets'];
const GO_WALK = ['go_memstats_alloc_bytes', 'go_memstats_heap_alloc_bytes', 'go_memstats_heap_idle_bytes', 'go_memstats_heap_inuse_bytes', 'go_memstats_heap_objects', 'go_memstats_heap_released_bytes', 'go_memstats_stack_inuse_bytes', 'go_memstats_next_gc_bytes', 'go_memstats_mspan_inuse_bytes', 'go_goroutines'];
const GO_COUNTERS = ['go_memstats_alloc_bytes_total', 'go_memstats_frees_total', 'go_memstats_lookups_total', 'go_memstats_mallocs_total'];
const GO_CONST = ['go_memstats_sys_bytes', 'go_memstats_heap_sys_bytes', 'go_memstats_stack_sys_bytes', 'go_memstats_mspan_sys_bytes', 'go_memstats_mcache_sys_bytes', 'go_memstats_buck_hash_sys_bytes', 'go_memstats_gc_sys_bytes', 'go_memstats_other_sys_bytes', 'go_threads'];

function ls(...sets: SeriesLabels[]): SeriesLabels[] {
  return sets;
}
const constant = (init: number, decimals = 0): Spec => ({ kind: Kind.Const, init, decimals, step: 0, pChange: 0 });
const counterInt = (init: number, step: number, pChange = 1): Spec => ({ kind: Kind.CounterInt, init, decimals: 0, step, pChange });
const counterDec = (init: number, decimals: number, step: number): Spec => ({ kind: Kind.CounterDec, init, decimals, step, pChange: 1 });
const gaugeWalk = (init: number, decimals: number, step: number, lo: number, hi: number, pChange = 1): Spec => ({ kind: Kind.GaugeWalk, init, decimals, step, pChange, lo, hi });
const gaugeFloat = (lo: number, hi: number): Spec => ({ kind: Kind.GaugeFloat, init: lo, decimals: -1, step: 0, pChange: 1, lo, hi });

/** The metric set of one host; label values that are host facts (cpu count, disks) are fixed so every host has the same series count. */
function families(intervalS: number): Family[] {
  const fams: Family[] = [];
  const add = (name: string, labelSets: SeriesLabels[], spec: FamilySpec) => fams.push({ name, labelSets, spec });
  const cpus: SeriesLabels[] = [];
  for (let c = 0; c < 8; c++) for (const mode of CPU_MODES) cpus.push({ cpu: String(c), mode });
  add('node_cpu_seconds_total', cpus, (r, l) => {
    // Seconds with 2 decimals (USER_HZ = 100); idle takes most of each interval.
    const share = l['mode'] === 'idle' ? 0.85 : l['mode'] === 'user' ? 0.08 : l['mode'] === 'system' ? 0.04 : l['mode'] === 'steal' || l['mode'] === 'nice' ? 0 : 0.005;
    return share === 0 ? constant(Math.floor(r() * 100) / 100, 2) : counterDec(Math.floor(r() * 1e8), 2, share * intervalS * 100);
  });
  for (const dir of ['receive', 'transmit']) {
    const devs = NET_DEVICES.map((device) => ({ device }));
    add(`node_network_${dir}_bytes_total`, devs, (r) => counterInt(Math.floor(r() * 1e12), 2e5 * intervalS));
    add(`node_network_${dir}_packets_total`, devs, (r) => counterInt(Math.floor(r() * 1e9), 300 * intervalS));
    add(`node_network_${dir}_errs_total`, devs, () => counterInt(0, 1, 0.002));
    add(`node_network_${dir}_drop_total`, devs, (r) => counterInt(Math.floor(r() * 100), 2, 0.02));
  }
  add('node_network_up', NET_DEVICES.map((device) => ({ device })), () => constant(1));
  add('node_network_mtu_bytes', NET_DEVICES.map((device) => ({ device })), (_r, l) => constant(l['device'] === 'lo' ? 65536 : 1500));
  add('node_network_speed_bytes', NET_DEVICES.map((device) => ({ device })), () => constant(125000000));
  const disks = DISKS.map((device) => ({ device }));
  add('node_disk_reads_completed_total', disks, (r) => counterInt(Math.floor(r() * 1e8), 20 * intervalS));
  add('node_disk_writes_completed_total', disks, (r) => counterInt(Math.floor(r() * 1e8), 50 * intervalS));
  add('node_disk_read_bytes_total', disks, (r) => counterInt(Math.floor(r() * 1e12), 4096 * 20 * intervalS));
  add('node_disk_written_bytes_total', disks, (r) => counterInt(Math.floor(r() * 1e12), 4096 * 50 * intervalS));
  add('node_disk_io_time_seconds_total', disks, (r) => counterDec(Math.floor(r() * 1e9), 3, 20 * intervalS));
  add('node_disk_read_time_seconds_total', disks, (r) => counterDec(Math.floor(r() * 1e9), 3, 10 * intervalS));
  add('node_disk_write_time_seconds_total', disks, (r) => counterDec(Math.floor(r() * 1e9), 3, 30 * intervalS));
  add('node_disk_io_now', disks, () => gaugeWalk(0, 0, 1, 0, 64, 0.2));
  for (const f of ['size_bytes', 'files', 'readonly', 'device_error']) {
    add(`node_filesystem_${f}`, MOUNTS.map((m) => ({ ...m })), (r) => constant(f === 'size_bytes' ? 4096 * Math.floor(1e6 + r() * 1e8) : f === 'files' ? Math.floor(1e5 + r() * 1e7) : 0));
  }
  add('node_filesystem_avail_bytes', MOUNTS.map((m) => ({ ...m })), (r) => gaugeWalk(4096 * Math.floor(1e5 + r() * 1e7), 0, 4096 * 50, 0, 4096 * 2e8, 0.5));
  add('node_filesystem_free_bytes', MOUNTS.map((m) => ({ ...m })), (r) => gaugeWalk(4096 * Math.floor(1e5 + r() * 1e7), 0, 4096 * 50, 0, 4096 * 2e8, 0.5));
  add('node_filesystem_files_free', MOUNTS.map((m) => ({ ...m })), (r) => gaugeWalk(Math.floor(1e5 + r() * 1e6), 0, 20, 0, 1e8, 0.3));
  for (const m of MEM_CONST) add(`node_memory_${m}_bytes`, ls({}), (r) => constant(m.startsWith('Huge') || m === 'HardwareCorrupted' || m === 'Bounce' || m === 'NFS_Unstable' ? 0 : 1024 * Math.floor(r() * 6.4e7)));
  for (const m of MEM_WALK) add(`node_memory_${m}_bytes`, ls({}), (r) => gaugeWalk(4096 * Math.floor(r() * 4e6), 0, 4096 * 200, 0, 4096 * 1.6e7));
  for (const w of ['1', '5', '15']) add(`node_load${w}`, ls({}), (r) => gaugeWalk(Math.floor(r() * 400), 2, w === '1' ? 20 : w === '5' ? 8 : 3, 0, 3200));
  for (const v of VMSTAT) add(`node_vmstat_${v}`, ls({}), (r) => counterInt(Math.floor(r() * 1e10), v.includes('swp') || v === 'oom_kill' ? 1 : 5000 * intervalS, v.includes('swp') || v === 'oom_kill' ? 0.001 : 1));
  for (const v of NETSTAT) add(`node_netstat_${v}`, ls({}), (r) => (v === 'Ip_Forwarding' ? constant(1) : v === 'Tcp_CurrEstab' ? gaugeWalk(100 + Math.floor(r() * 500), 0, 5, 0, 10000) : counterInt(Math.floor(r() * 1e9), v.includes('Err') || v.includes('Syncookies') || v.includes('Overflow') || v.includes('Drops') ? 1 : 200 * intervalS, v.includes('Err') || v.includes('Syncookies') || v.includes('Overflow') || v.includes('Drops') ? 0.01 : 1)));
  const collectors = COLLECTORS.map((collector) => ({ collector }));
  add('node_scrape_collector_duration_seconds', collectors, () => gaugeFloat(1e-5, 5e-3));
  add('node_scrape_collector_success', collectors, (_r, l) => constant(['bcache', 'btrfs', 'fibrechannel', 'infiniband', 'ipvs', 'nfs', 'nfsd', 'selinux', 'tapestats', 'zfs'].includes(l['collector']!) ? 0 : 1));
  const chips: SeriesLabels[] = [];
  for (const chip of ['platform_coretemp_0', 'platform_nct6775_656']) for (let t = 1; t <= 6; t++) chips.push({ chip, sensor: `temp${t}` });
  add('node_hwmon_temp_celsius', chips, (r) => gaugeWalk(300 + Math.floor(r() * 300), 1, 10, 200, 1000));
  add('node_hwmon_temp_crit_celsius', chips, () => constant(100, 1));
  add('node_hwmon_temp_max_celsius', chips, () => constant(82, 1));
  const freq: SeriesLabels[] = [];
  for (let c = 0; c < 8; c++) freq.push({ cpu: String(c) });
  add('node_cpu_scaling_frequency_hertz', freq, (r) => gaugeWalk(Math.floor(8e5 + r() * 3e6) * 1000, 0, 2e8, 8e8, 4.5e9));
  add('node_cpu_scaling_frequency_max_hertz', freq, () => constant(4.5e9));
  add('node_cpu_scaling_frequency_min_hertz', freq, () => constant(8e8));
  for (const g of GO_WALK) add(g, ls({}), (r) => gaugeWalk(Math.floor(1e5 + r() * 1e7), 0, 5e4, 1e4, 1e9));
  for (const g of GO_COUNTERS) add(g, ls({}), (r) => counterInt(Math.floor(r() * 1e10), 1e6 * intervalS));
  for (const g of GO_CONST) add(g, ls({}), (r) => constant(Math.floor(r() * 1e8)));
  add('go_gc_duration_seconds', ['0', '0.25', '0.5', '0.75', '1'].map((quantile) => ({ quantile })), () => gaugeFloat(2e-5, 2e-3));
  add('go_gc_duration_seconds_sum', ls({}), () => ({ kind: Kind.CounterDec, init: 1e9, decimals: 9, step: 5e6 * intervalS, pChange: 1 }));
  add('go_gc_duration_seconds_count', ls({}), (r) => counterInt(Math.floor(r() * 1e5), intervalS / 10, 0.5));
  add('process_cpu_seconds_total', ls({}), (r) => counterDec(Math.floor(r() * 1e6), 2, 0.5 * intervalS));
  add('process_resident_memory_bytes', ls({}), (r) => gaugeWalk(4096 * Math.floor(5000 + r() * 5000), 0, 4096 * 10, 4096 * 1000, 4096 * 1e5));
  add('process_virtual_memory_bytes', ls({}), (r) => gaugeWalk(4096 * Math.floor(1e5 + r() * 1e5), 0, 4096 * 2, 4096 * 1e4, 4096 * 1e7, 0.1));
  add('process_open_fds', ls({}), () => gaugeWalk(10, 0, 1, 8, 30, 0.3));
  add('process_max_fds', ls({}), () => constant(1048576));
  add('process_start_time_seconds', ls({}), (r) => constant(1.7e9 + Math.floor(r() * 1e7 * 100) / 100, 2));
  add('node_boot_time_seconds', ls({}), (r) => constant(1.7e9 + Math.floor(r() * 1e7)));
  add('node_time_seconds', ls({}), () => ({ kind: Kind.TimeSeconds, init: 0, decimals: -1, step: 0, pChange: 1 }));
  add('node_uname_info', ls({ domainname: '(none)', machine: 'x86_64', release: '6.1.0-18-amd64', sysname: 'Linux', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1' }), () => constant(1));
  add('node_os_info', ls({ id: 'debian', name: 'Debian GNU/Linux', pretty_name: 'Debian GNU/Linux 12 (bookworm)', version_id: '12' }), () => constant(1));
  add('node_entropy_available_bits', ls({}), () => constant(256));
  add('node_filefd_allocated', ls({}), (r) => gaugeWalk(Math.floor(2000 + r() * 5000), 0, 20, 100, 1e6));
  add('node_filefd_maximum', ls({}), () => constant(9223372036854775807));
  add('node_procs_running', ls({}), () => gaugeWalk(2, 0, 2, 0, 32));
  add('node_procs_blocked', ls({}), () => gaugeWalk(0, 0, 1, 0, 8, 0.1));
  add('node_context_switches_total', ls({}), (r) => counterInt(Math.floor(r() * 1e12), 2e4 * intervalS));
  add('node_intr_total', ls({}), (r) => counterInt(Math.floor(r() * 1e12), 1e4 * intervalS));
  add('node_forks_total', ls({}), (r) => counterInt(Math.floor(r() * 1e8), 20 * intervalS));
  for (const p of ['cpu', 'io', 'memory']) {
    add(`node_pressure_${p}_waiting_seconds_total`, ls({}), (r) => counterDec(Math.floor(r() * 1e10), 6, 2e4 * intervalS));
    if (p !== 'cpu') add(`node_pressure_${p}_stalled_seconds_total`, ls({}), (r) => counterDec(Math.floor(r() * 1e10), 6, 5e3 * intervalS));
  }
  for (const t of ['estimated_error_seconds', 'frequency_adjustment_ratio', 'maxerror_seconds', 'offset_seconds']) add(`node_timex_${t}`, ls({}), () => gaugeFloat(-1e-3, 1e-3));
  for (const t of ['loop_time_constant', 'pps_calibration_total', 'pps_error_total', 'pps_frequency_hertz', 'pps_jitter_seconds', 'status', 'sync_status', 'tai_offset_seconds', 'tick_seconds']) add(`node_timex_${t}`, ls({}), () => constant(t === 'tick_seconds' ? 0.01 : t === 'sync_status' ? 1 : 0, 2));
  for (const s of ['TCP_alloc', 'TCP_inuse', 'TCP_mem', 'TCP_mem_bytes', 'TCP_orphan', 'TCP_tw', 'UDP_inuse', 'UDP_mem', 'UDP_mem_bytes', 'sockets_used']) add(`node_sockstat_${s}`, ls({}), (r) => gaugeWalk(Math.floor(r() * 2000), 0, 10, 0, 1e6, 0.5));
  return fams;
}

export interface SyntheticOptions {
  hosts: number;
  scrapeCount: number;
  intervalMs: number;
  jitterMs: number;
  seed: number;
  nowMs: number;
}

export class SyntheticDataset implements Dataset {
  readonly kind = 'synthetic' as const;
  readonly description: string;
  readonly hosts: number;
  readonly seriesCount: number;
  readonly scrapeCount: number;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly hostOf: Uint32Array;
  readonly selectors: QuerySelectors;
  private readonly series: SeriesLabels[] = [];
  private readonly clock: ScrapeClock;
  // Per-series state in typed arrays: one slot per series, never one object per sample.
  private readonly kindOf: Uint8Array;
  private readonly units: Float64Array;
  private readonly scale: Float64Array;
  private readonly step: Float64Array;
  private readonly pChange: Float64Array;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly rng: Rng;
  private nextK = 0;

  constructor(o: SyntheticOptions) {
    if (!(o.hosts >= 1 && o.scrapeCount >= 1 && o.intervalMs >= 1)) throw new Error('synthetic dataset needs hosts, scrapes and interval >= 1');
    this.hosts = o.hosts;
    this.scrapeCount = o.scrapeCount;
    this.intervalMs = o.intervalMs;
    this.clock = new ScrapeClock(o);
    this.startMs = this.clock.startMs;
    this.endMs = this.clock.endMs;
    const fams = families(o.intervalMs / 1000);
    const specs: Spec[] = [];
    const hostOf: number[] = [];
    for (let h = 0; h < o.hosts; h++) {
      const rng = mulberry32(subSeed(o.seed, h));
      const instance = instanceOf(h);
      for (const f of fams) {
        for (const ls of f.labelSets) {
          this.series.push({ __name__: f.name, ...ls, instance, job: 'node' });
          specs.push(f.spec(rng, ls));
          hostOf.push(h);
        }
      }
    }
    const n = specs.length;
    this.seriesCount = n;
    this.hostOf = Uint32Array.from(hostOf);
    this.kindOf = new Uint8Array(n);
    this.units = new Float64Array(n);
    this.scale = new Float64Array(n);
    this.step = new Float64Array(n);
    this.pChange = new Float64Array(n);
    this.lo = new Float64Array(n);
    this.hi = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      this.kindOf[i] = s.kind;
      // Constants are given as values; everything else starts in units already.
      this.units[i] = s.kind === Kind.Const ? Math.round(s.init * 10 ** Math.max(0, s.decimals)) : s.init;
      this.scale[i] = s.decimals > 0 ? 10 ** s.decimals : 1;
      this.step[i] = s.step;
      this.pChange[i] = s.pChange;
      this.lo[i] = s.lo ?? 0;
      this.hi[i] = s.hi ?? 0;
    }
    this.rng = mulberry32(subSeed(o.seed, 0x7fffffff));
    this.selectors = chooseSelectors(this.series, this.hostOf, this.hosts);
    this.description = `synthetic node-exporter-like data (seed ${o.seed}): ${n / o.hosts} series per host`;
  }

  labels(i: number): SeriesLabels {
    return this.series[i]!;
  }

  timestampMs(h: number, k: number): number {
    return this.clock.timestampMs(h, k);
  }

  fillValues(k: number, out: Float64Array): void {
    if (k !== this.nextK) throw new Error(`fillValues must be called in order: expected scrape ${this.nextK}, got ${k}`);
    this.nextK++;
    const rng = this.rng;
    const n = this.seriesCount;
    for (let i = 0; i < n; i++) {
      const kind = this.kindOf[i]!;
      let u = this.units[i]!;
      if (k > 0 && kind !== Kind.Const && rng() < this.pChange[i]!) {
        const step = this.step[i]!;
        switch (kind) {
          case Kind.CounterInt:
            u += Math.round(step * (0.5 + rng()));
            break;
          case Kind.CounterDec:
            u += Math.round(step * (0.5 + rng()));
            break;
          case Kind.GaugeWalk: {
            u += Math.round((rng() - 0.5) * 2 * step);
            const lo = this.lo[i]!;
            const hi = this.hi[i]!;
            if (u < lo) u = lo;
            if (u > hi) u = hi;
            // Byte gauges move in whole pages, like the kernel reports them.
            if (step >= 4096 && step % 4096 === 0) u = Math.round(u / 4096) * 4096;
            break;
          }
          case Kind.GaugeFloat:
            u = this.lo[i]! + rng() * (this.hi[i]! - this.lo[i]!);
            break;
          default:
            break;
        }
        this.units[i] = u;
      }
      if (kind === Kind.TimeSeconds) {
        out[i] = (this.timestampMs(this.hostOf[i]!, k) + rng()) / 1000;
      } else if (kind === Kind.GaugeFloat && k === 0) {
        out[i] = this.lo[i]! + rng() * (this.hi[i]! - this.lo[i]!);
      } else {
        out[i] = this.scale[i] === 1 ? u : u / this.scale[i]!;
      }
    }
  }
}

/** Series per host of the synthetic set, for sizing a run from a series count. */
export function syntheticSeriesPerHost(): number {
  let n = 0;
  for (const f of families(15)) n += f.labelSets.length;
  return n;
}
