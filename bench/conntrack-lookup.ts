/**
 * Established-flow lookups per second at 200k connections, 64k and 1M buckets (the Selfnet
 * setting), for both hash functions, side by side in one run with a baseline that keys a JS Map
 * by a tuple string. A lookup = hash the packet's tuple + walk the chain (____nf_conntrack_find).
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

function lookupRun(t: ConntrackTable): number {
  let misses = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < LOOKUPS; k++) {
    const j = order[k]!;
    const i = j >>> 1;
    const h = j & 1
      ? t.setTuple(4, 6, flows.dst[i]!, 0, 0, 0, flows.src[i]!, 0, 0, 0, flows.dport[i]!, flows.sport[i]!)
      : t.setTuple(4, 6, flows.src[i]!, 0, 0, 0, flows.dst[i]!, 0, 0, 0, flows.sport[i]!, flows.dport[i]!);
    if (t.find(h, 1000) === NO_NODE) misses++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (misses) throw new Error(`${misses} lookups missed`);
  return (LOOKUPS / ns) * 1e3; // M lookups/s
}

function mapRun(m: Map<string, number>): number {
  let misses = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < LOOKUPS; k++) {
    const j = order[k]!;
    const i = j >>> 1;
    const key = j & 1
      ? `4|6|${flows.dst[i]}|${flows.src[i]}|${flows.dport[i]}|${flows.sport[i]}`
      : `4|6|${flows.src[i]}|${flows.dst[i]}|${flows.sport[i]}|${flows.dport[i]}`;
    if (m.get(key) === undefined) misses++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (misses) throw new Error(`${misses} map lookups missed`);
  return (LOOKUPS / ns) * 1e3;
}

const map = new Map<string, number>();
for (let i = 0; i < CONNECTIONS; i++) {
  map.set(`4|6|${flows.src[i]}|${flows.dst[i]}|${flows.sport[i]}|${flows.dport[i]}`, i);
  map.set(`4|6|${flows.dst[i]}|${flows.src[i]}|${flows.dport[i]}|${flows.sport[i]}`, i);
}

const variants: { name: string; buckets: number; hash: HashAlgorithm; table: ConntrackTable }[] = [];
for (const hash of ['siphash', 'jhash'] as const) for (const buckets of [65536, 1048576]) variants.push({ name: `${hash}-${buckets}`, buckets, hash, table: buildTable(buckets, hash) });

const samples = new Map<string, number[]>([['map', []]]);
for (const v of variants) samples.set(v.name, []);
const visited = new Map<string, number>();
for (let s = 0; s < SAMPLES; s++) {
  // Interleaved so that machine load hits every variant alike.
  samples.get('map')!.push(mapRun(map));
  for (const v of variants) {
    const before = [v.table.stats.lookups, v.table.stats.nodesVisited];
    samples.get(v.name)!.push(lookupRun(v.table));
    visited.set(v.name, (v.table.stats.nodesVisited - before[1]!) / (v.table.stats.lookups - before[0]!));
  }
}

const mapMedian = median(samples.get('map')!);
const metrics: BenchMetric[] = [{ name: 'conntrack.lookup.map-baseline', unit: 'Mlookups/s', direction: 'higher', samples: samples.get('map')!, params: { connections: CONNECTIONS } }];
const rows: string[] = [];
rows.push(`${'variant'.padEnd(18)} ${'Mlookups/s'.padStart(10)} ${'x Map'.padStart(6)} ${'nodes/lookup'.padStart(12)}`);
rows.push(`${'Map<string> base'.padEnd(18)} ${mapMedian.toFixed(2).padStart(10)} ${'1.00'.padStart(6)} ${'-'.padStart(12)}`);
for (const v of variants) {
  const m = median(samples.get(v.name)!);
  metrics.push({ name: `conntrack.lookup.${v.hash}`, unit: 'Mlookups/s', direction: 'higher', samples: samples.get(v.name)!, params: { buckets: v.buckets, hash: v.hash, connections: CONNECTIONS } });
  metrics.push({ name: `conntrack.lookup.${v.hash}.vs-map`, unit: 'ratio', direction: 'higher', samples: samples.get(v.name)!.map((x, k) => x / samples.get('map')![k]!), params: { buckets: v.buckets, hash: v.hash } });
  rows.push(`${v.name.padEnd(18)} ${m.toFixed(2).padStart(10)} ${(m / mapMedian).toFixed(2).padStart(6)} ${visited.get(v.name)!.toFixed(3).padStart(12)}`);
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
