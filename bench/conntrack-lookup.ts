/**
 * Established-flow lookups per second at 200k connections, 64k and 1M buckets (the Selfnet
 * setting), for both hash functions, side by side in one run with a baseline that keys a JS Map
 * by a tuple string. A lookup = hash the packet's tuple + walk the chain (____nf_conntrack_find).
 * Each sample is timed twice: wall clock and the process's CPU time (process.cpuUsage), since the
 * machine it runs on is shared and wall time counts other processes' time slices.
 *
 *   npm run build && node dist/bench/conntrack-lookup.js
 */
import { writeBenchResult, median, type BenchMetric } from './support.js';
import { makeFlows } from './conntrack-support.js';
import { ConntrackTable, CtStatus, NO_NODE, resolveConfig } from '../src/conntrack/table.js';
import type { HashAlgorithm } from '../src/conntrack/tuple.js';

const CONNECTIONS = 200_000;
const LOOKUPS = 400_000;
const SAMPLES = 5;

const flows = makeFlows(CONNECTIONS);
// Random order of established-flow lookups, half of them in the reply direction.
const order = new Uint32Array(LOOKUPS);
{
  let x = 99;
  for (let k = 0; k < LOOKUPS; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    order[k] = x % (2 * CONNECTIONS);
  }
}

function buildTable(buckets: number, hash: HashAlgorithm): ConntrackTable {
  const t = new ConntrackTable(resolveConfig({ buckets, max: 262144, hash }));
  for (let i = 0; i < CONNECTIONS; i++) {
    const h = t.setTuple(4, 6, flows.src[i]!, 0, 0, 0, flows.dst[i]!, 0, 0, 0, flows.sport[i]!, flows.dport[i]!);
    const c = t.alloc(h, 0);
    t.protoState[c] = 3;
    t.status[c] = t.status[c]! | CtStatus.SEEN_REPLY | CtStatus.ASSURED;
    t.refresh(c, 0, 432_000_000);
    if (!t.confirm(c)) throw new Error('insert failed');
  }
  return t;
}

/** One sample: M lookups per wall second and per CPU second. */
interface Rate { wall: number; cpu: number }

function rate(t0: bigint, c0: NodeJS.CpuUsage): Rate {
  const ns = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return { wall: (LOOKUPS / ns) * 1e3, cpu: LOOKUPS / (c.user + c.system) };
}

function lookupRun(t: ConntrackTable): Rate {
  let misses = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < LOOKUPS; k++) {
    const j = order[k]!;
    const i = j >>> 1;
    const h = j & 1
      ? t.setTuple(4, 6, flows.dst[i]!, 0, 0, 0, flows.src[i]!, 0, 0, 0, flows.dport[i]!, flows.sport[i]!)
      : t.setTuple(4, 6, flows.src[i]!, 0, 0, 0, flows.dst[i]!, 0, 0, 0, flows.sport[i]!, flows.dport[i]!);
    if (t.find(h, 1000) === NO_NODE) misses++;
  }
  const r = rate(t0, c0);
  if (misses) throw new Error(`${misses} lookups missed`);
  return r;
}

/**
 * The baseline as a JS programmer writes it: one template string per lookup holding the whole
 * tuple (l3, protocol, addresses, ports), looked up in a Map holding both directions.
 */
function mapRun(m: Map<string, number>): Rate {
  let misses = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < LOOKUPS; k++) {
    const j = order[k]!;
    const i = j >>> 1;
    const key = j & 1
      ? `4|6|${flows.dst[i]}|${flows.src[i]}|${flows.dport[i]}|${flows.sport[i]}`
      : `4|6|${flows.src[i]}|${flows.dst[i]}|${flows.sport[i]}|${flows.dport[i]}`;
    if (m.get(key) === undefined) misses++;
  }
  const r = rate(t0, c0);
  if (misses) throw new Error(`${misses} map lookups missed`);
  return r;
}

const map = new Map<string, number>();
for (let i = 0; i < CONNECTIONS; i++) {
  map.set(`4|6|${flows.src[i]}|${flows.dst[i]}|${flows.sport[i]}|${flows.dport[i]}`, i);
  map.set(`4|6|${flows.dst[i]}|${flows.src[i]}|${flows.dport[i]}|${flows.sport[i]}`, i);
}

const variants: { name: string; buckets: number; hash: HashAlgorithm; table: ConntrackTable }[] = [];
for (const hash of ['siphash', 'jhash'] as const) for (const buckets of [65536, 1048576]) variants.push({ name: `${hash}-${buckets}`, buckets, hash, table: buildTable(buckets, hash) });

const wall = new Map<string, number[]>([['map', []]]);
const cpu = new Map<string, number[]>([['map', []]]);
for (const v of variants) { wall.set(v.name, []); cpu.set(v.name, []); }
const visited = new Map<string, number>();
const record = (name: string, r: Rate): void => { wall.get(name)!.push(r.wall); cpu.get(name)!.push(r.cpu); };
// One untimed warm-up pass so every variant is optimised before the first sample.
mapRun(map);
for (const v of variants) lookupRun(v.table);
for (let s = 0; s < SAMPLES; s++) {
  // Interleaved so that machine load hits every variant alike.
  record('map', mapRun(map));
  for (const v of variants) {
    const before = [v.table.stats.lookups, v.table.stats.nodesVisited];
    record(v.name, lookupRun(v.table));
    visited.set(v.name, (v.table.stats.nodesVisited - before[1]!) / (v.table.stats.lookups - before[0]!));
  }
}

const mapWall = median(wall.get('map')!);
const mapCpu = median(cpu.get('map')!);
const metrics: BenchMetric[] = [
  { name: 'conntrack.lookup.map-baseline', unit: 'Mlookups/s', direction: 'higher', samples: wall.get('map')!, params: { connections: CONNECTIONS } },
  { name: 'conntrack.lookup.map-baseline.cpu', unit: 'Mlookups/cpu-s', direction: 'higher', samples: cpu.get('map')!, params: { connections: CONNECTIONS } },
];
const rows: string[] = [];
rows.push(`${'variant'.padEnd(18)} ${'M/s wall'.padStart(9)} ${'x Map'.padStart(6)} ${'M/s CPU'.padStart(9)} ${'x Map'.padStart(6)} ${'nodes/lookup'.padStart(12)}`);
rows.push(`${'Map<string> base'.padEnd(18)} ${mapWall.toFixed(2).padStart(9)} ${'1.00'.padStart(6)} ${mapCpu.toFixed(2).padStart(9)} ${'1.00'.padStart(6)} ${'-'.padStart(12)}`);
for (const v of variants) {
  const w = wall.get(v.name)!;
  const c = cpu.get(v.name)!;
  const params = { buckets: v.buckets, hash: v.hash, connections: CONNECTIONS };
  // Ratios per sample: the variant and the Map sample taken next to it in the same round.
  const wallRatio = w.map((x, k) => x / wall.get('map')![k]!);
  const cpuRatio = c.map((x, k) => x / cpu.get('map')![k]!);
  metrics.push({ name: `conntrack.lookup.${v.hash}`, unit: 'Mlookups/s', direction: 'higher', samples: w, params });
  metrics.push({ name: `conntrack.lookup.${v.hash}.cpu`, unit: 'Mlookups/cpu-s', direction: 'higher', samples: c, params });
  metrics.push({ name: `conntrack.lookup.${v.hash}.vs-map`, unit: 'ratio', direction: 'higher', samples: wallRatio, params: { buckets: v.buckets, hash: v.hash } });
  metrics.push({ name: `conntrack.lookup.${v.hash}.cpu.vs-map`, unit: 'ratio', direction: 'higher', samples: cpuRatio, params: { buckets: v.buckets, hash: v.hash } });
  rows.push(`${v.name.padEnd(18)} ${median(w).toFixed(2).padStart(9)} ${median(wallRatio).toFixed(2).padStart(6)} ${median(c).toFixed(2).padStart(9)} ${median(cpuRatio).toFixed(2).padStart(6)} ${visited.get(v.name)!.toFixed(3).padStart(12)}`);
}
const perConnection = ConntrackTable.BYTES_PER_CONNECTION;
const t64 = variants[0]!.table;
const t1m = variants[1]!.table;
metrics.push({ name: 'conntrack.memory.per-connection', unit: 'bytes', direction: 'lower', samples: [perConnection] });
metrics.push({ name: 'conntrack.memory.table', unit: 'bytes', direction: 'lower', samples: [t64.memoryBytes()], params: { buckets: 65536, connections: CONNECTIONS } });
metrics.push({ name: 'conntrack.memory.table', unit: 'bytes', direction: 'lower', samples: [t1m.memoryBytes()], params: { buckets: 1048576, connections: CONNECTIONS } });
const path = writeBenchResult('conntrack-lookup', metrics, { samplesPerVariant: SAMPLES, lookupsPerSample: LOOKUPS });
for (const r of rows) console.log(r);
console.log(`memory: ${perConnection} bytes per IPv4 connection (+48 for IPv6) besides the bucket array; table at 200k connections: ${(t64.memoryBytes() / 1048576).toFixed(1)} MiB with 64k buckets, ${(t1m.memoryBytes() / 1048576).toFixed(1)} MiB with 1M buckets (capacity ${t64.capacity} slots)`);
console.log(`results: ${path}`);
