/**
 * Established-flow lookups per second at 200k connections, 64k and 1M buckets (the Selfnet
 * setting), for both hash functions, side by side in one run with a baseline that keys a JS Map
 * by a tuple string. A lookup = hash the packet's tuple + walk the chain (____nf_conntrack_find).
 * The lookups come in trace order from arrays read front to back (as packets come from a batch),
 * over flows in random order, half of them in the reply direction. Three ways of driving the model:
 *
 * - `per packet`: hash and walk one packet after the other (setTuple + find), the kernel's order;
 * - `prepared`: what the pipeline does (ConntrackInStage.prepare): put a run of 128 packets'
 *   tuples in the table's run, hash them and walk their chains in WebAssembly in one
 *   ConntrackTable.lookupRun (the hashes, then the heads of the whole run, two nodes deep in
 *   lockstep, then the walks, all in the table's memory), and take each result at its packet
 *   (takeWalk);
 * - `prepared-js`: the run hashed ahead (TupleHasher.hashRun), the walks in JavaScript: the run's
 *   chain heads and first records touched ahead (warm: independent loads that overlap), then
 *   find() per packet — what the pipeline did before the walk kernel, and does for a table
 *   without one.
 *
 * Each sample is timed twice: wall clock and the process's CPU time (process.cpuUsage), since the
 * machine it runs on is shared and wall time counts other processes' time slices.
 *
 * Beside them, in the same rounds, a C reference (bench/c/conntrack-lookup.c, compiled here with
 * `cc -O2` when a compiler exists) does the same lookups (jhash2, same record layout, both orders)
 * on its own table of the same shape, timed by its CPU clock: what a compiled loop does on this
 * machine, so the rates can be read against the hardware.
 *
 *   npm run build && node dist/bench/conntrack-lookup.js
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { buildCReference, writeBenchResult, median, type BenchMetric } from './support.js';
import { makeFlows } from './conntrack-support.js';
import { PREPARE_RUN } from '../src/pipeline/pipeline.js';
import { ConntrackTable, CtStatus, NO_NODE, resolveConfig, WALK_UNDECIDED } from '../src/conntrack/table.js';
import { HASH_RUN_RECORD_WORDS, putTupleRecord, type HashAlgorithm } from '../src/conntrack/tuple.js';

const CONNECTIONS = 200_000;
const LOOKUPS = 400_000;
const SAMPLES = 5;

const flows = makeFlows(CONNECTIONS);
// The lookups' tuples in order: source, destination, sport << 16 | dport (a trace's packets).
const keySrc = new Uint32Array(LOOKUPS);
const keyDst = new Uint32Array(LOOKUPS);
const keyPorts = new Uint32Array(LOOKUPS);
{
  let x = 99;
  for (let k = 0; k < LOOKUPS; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const j = x % (2 * CONNECTIONS);
    const i = j >>> 1;
    const reply = (j & 1) === 1;
    keySrc[k] = reply ? flows.dst[i]! : flows.src[i]!;
    keyDst[k] = reply ? flows.src[i]! : flows.dst[i]!;
    keyPorts[k] = reply ? ((flows.dport[i]! << 16) | flows.sport[i]!) >>> 0 : ((flows.sport[i]! << 16) | flows.dport[i]!) >>> 0;
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

/** Hash and walk packet after packet. */
function perPacketRun(t: ConntrackTable): Rate {
  let misses = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < LOOKUPS; k++) {
    const ports = keyPorts[k]!;
    const h = t.setTuple(4, 6, keySrc[k]! | 0, 0, 0, 0, keyDst[k]! | 0, 0, 0, 0, ports >>> 16, ports & 0xffff);
    if (t.find(h, 1000) === NO_NODE) misses++;
  }
  const r = rate(t0, c0);
  if (misses) throw new Error(`${misses} lookups missed`);
  return r;
}

const runHeads = new Int32Array(PREPARE_RUN);
let warmed = 0;

const runGeneration = new Int32Array(PREPARE_RUN);

/**
 * ConntrackInStage's order: put a run's tuples in the table's run (runRecords), hash them and walk
 * their chains in WebAssembly in one go (ConntrackTable.lookupRun), and take each result at its
 * packet (takeWalk; the tuple loaded and find() only where it does not stand).
 */
function preparedRun(t: ConntrackTable): Rate {
  let misses = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let from = 0; from < LOOKUPS; from += PREPARE_RUN) {
    const n = Math.min(PREPARE_RUN, LOOKUPS - from);
    const records = t.runRecords;
    for (let k = 0; k < n; k++) {
      const ports = keyPorts[from + k]!;
      putTupleRecord(records, k * HASH_RUN_RECORD_WORDS, 4, 6, keySrc[from + k]! | 0, 0, 0, 0, keyDst[from + k]! | 0, 0, 0, 0, ports >>> 16, ports & 0xffff);
    }
    // A table without the walk kernel (big-endian host, no memory for it) hashes only: warm, then find().
    const walked = t.lookupRun(n, 1000);
    const hashes = t.runHashes, node = t.walkNode, visitedOf = t.walkVisited, expiry = t.walkExpiry, bucket = t.walkBucket;
    if (walked) for (let k = 0; k < n; k++) runGeneration[k] = t.walkGeneration(bucket[k]!);
    else warmed = (warmed + t.warm(hashes, n, runHeads)) | 0;
    for (let k = 0; k < n; k++) {
      let found = walked ? t.takeWalk(node[k]!, visitedOf[k]!, expiry[k]!, runGeneration[k]!, bucket[k]!, 0, 1000) : WALK_UNDECIDED;
      if (found < 0) {
        const ports = keyPorts[from + k]!;
        t.loadTuple(4, 6, keySrc[from + k]! | 0, 0, 0, 0, keyDst[from + k]! | 0, 0, 0, 0, ports >>> 16, ports & 0xffff);
        if (found === WALK_UNDECIDED) found = t.find(hashes[k]!, 1000);
      }
      if (found === NO_NODE) misses++;
    }
  }
  const r = rate(t0, c0);
  if (misses) throw new Error(`${misses} lookups missed`);
  return r;
}

/**
 * The order before the walk kernel, and where a table has none: a run hashed ahead
 * (TupleHasher.hashRun), its chain heads and first records touched (warm: independent loads that
 * overlap), then the tuple loaded and find() per packet.
 */
function preparedJsRun(t: ConntrackTable): Rate {
  let misses = 0;
  const hasher = t.hasher;
  const runHashes = hasher.runHashes;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let from = 0; from < LOOKUPS; from += PREPARE_RUN) {
    const n = Math.min(PREPARE_RUN, LOOKUPS - from);
    for (let k = 0; k < n; k++) {
      const ports = keyPorts[from + k]!;
      hasher.setRunTuple(k, 4, 6, keySrc[from + k]! | 0, 0, 0, 0, keyDst[from + k]! | 0, 0, 0, 0, ports >>> 16, ports & 0xffff);
    }
    hasher.hashRun(n);
    warmed = (warmed + t.warm(runHashes, n, runHeads)) | 0;
    for (let k = 0; k < n; k++) {
      const ports = keyPorts[from + k]!;
      t.loadTuple(4, 6, keySrc[from + k]! | 0, 0, 0, 0, keyDst[from + k]! | 0, 0, 0, 0, ports >>> 16, ports & 0xffff);
      if (t.find(runHashes[k]!, 1000) === NO_NODE) misses++;
    }
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
    const ports = keyPorts[k]!;
    const key = `4|6|${keySrc[k]}|${keyDst[k]}|${ports >>> 16}|${ports & 0xffff}`;
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

type Mode = 'per-packet' | 'prepared' | 'prepared-js';
const MODES: readonly Mode[] = ['per-packet', 'prepared', 'prepared-js'];
interface Variant { name: string; buckets: number; hash: HashAlgorithm; mode: Mode; table: ConntrackTable }
const variants: Variant[] = [];
for (const hash of ['siphash', 'jhash'] as const) {
  for (const buckets of [65536, 1048576]) {
    const table = buildTable(buckets, hash);
    for (const mode of MODES) variants.push({ name: `${hash}-${buckets >= 1048576 ? '1M' : `${buckets / 1024}k`} ${mode}`, buckets, hash, mode, table });
  }
}
const lookupRun = (v: Variant): Rate => (v.mode === 'per-packet' ? perPacketRun(v.table) : v.mode === 'prepared' ? preparedRun(v.table) : preparedJsRun(v.table));

const cReference = buildCReference('conntrack-lookup');
/** C reference M lookups per CPU second, by `${buckets} ${mode}`. */
const cRates = new Map<string, number[]>();
function runC(buckets: number): void {
  if (!('binary' in cReference)) return;
  const out = spawnSync(cReference.binary, [String(buckets), '1'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`C reference failed (exit ${out.status}): ${out.stderr.trim()}`);
  for (const line of out.stdout.trim().split('\n')) {
    const [mode, lookups, seconds] = line.split(' ');
    const key = `${buckets} ${mode}`;
    if (!cRates.has(key)) cRates.set(key, []);
    cRates.get(key)!.push(Number(lookups) / Number(seconds) / 1e6);
  }
}

const wall = new Map<string, number[]>([['map', []]]);
const cpu = new Map<string, number[]>([['map', []]]);
for (const v of variants) { wall.set(v.name, []); cpu.set(v.name, []); }
const visited = new Map<string, number>();
const record = (name: string, r: Rate): void => { wall.get(name)!.push(r.wall); cpu.get(name)!.push(r.cpu); };
// One untimed warm-up pass so every variant is optimised before the first sample.
mapRun(map);
for (const v of variants) lookupRun(v);
for (let s = 0; s < SAMPLES; s++) {
  // Interleaved so that machine load hits every variant alike.
  record('map', mapRun(map));
  for (const v of variants) {
    const before = [v.table.stats.lookups, v.table.stats.nodesVisited];
    record(v.name, lookupRun(v));
    visited.set(v.name, (v.table.stats.nodesVisited - before[1]!) / (v.table.stats.lookups - before[0]!));
  }
  runC(65536);
  runC(1048576);
}
if ('dir' in cReference) rmSync(cReference.dir, { recursive: true, force: true });

const mapWall = median(wall.get('map')!);
const mapCpu = median(cpu.get('map')!);
const metrics: BenchMetric[] = [
  { name: 'conntrack.lookup.map-baseline', unit: 'Mlookups/s', direction: 'higher', samples: wall.get('map')!, params: { connections: CONNECTIONS } },
  { name: 'conntrack.lookup.map-baseline.cpu', unit: 'Mlookups/cpu-s', direction: 'higher', samples: cpu.get('map')!, params: { connections: CONNECTIONS } },
];
const rows: string[] = [];
rows.push(`${'variant'.padEnd(24)} ${'M/s wall'.padStart(9)} ${'x Map'.padStart(6)} ${'M/s CPU'.padStart(9)} ${'x Map'.padStart(6)} ${'nodes/lookup'.padStart(12)}`);
rows.push(`${'Map<string> baseline'.padEnd(24)} ${mapWall.toFixed(2).padStart(9)} ${'1.00'.padStart(6)} ${mapCpu.toFixed(2).padStart(9)} ${'1.00'.padStart(6)} ${'-'.padStart(12)}`);
for (const v of variants) {
  const w = wall.get(v.name)!;
  const c = cpu.get(v.name)!;
  const params = { buckets: v.buckets, hash: v.hash, mode: v.mode, connections: CONNECTIONS };
  // Ratios per sample: the variant and the Map sample taken next to it in the same round.
  const wallRatio = w.map((x, k) => x / wall.get('map')![k]!);
  const cpuRatio = c.map((x, k) => x / cpu.get('map')![k]!);
  const ratioParams = { buckets: v.buckets, hash: v.hash, mode: v.mode };
  metrics.push({ name: `conntrack.lookup.${v.hash}`, unit: 'Mlookups/s', direction: 'higher', samples: w, params });
  metrics.push({ name: `conntrack.lookup.${v.hash}.cpu`, unit: 'Mlookups/cpu-s', direction: 'higher', samples: c, params });
  metrics.push({ name: `conntrack.lookup.${v.hash}.vs-map`, unit: 'ratio', direction: 'higher', samples: wallRatio, params: ratioParams });
  metrics.push({ name: `conntrack.lookup.${v.hash}.cpu.vs-map`, unit: 'ratio', direction: 'higher', samples: cpuRatio, params: ratioParams });
  rows.push(`${v.name.padEnd(24)} ${median(w).toFixed(2).padStart(9)} ${median(wallRatio).toFixed(2).padStart(6)} ${median(c).toFixed(2).padStart(9)} ${median(cpuRatio).toFixed(2).padStart(6)} ${visited.get(v.name)!.toFixed(3).padStart(12)}`);
}
// The walk kernel's gain: prepared over prepared-js on the same table, per sample (same round).
for (const v of variants) {
  if (v.mode !== 'prepared') continue;
  const js = cpu.get(v.name.replace(' prepared', ' prepared-js'))!;
  const gain = cpu.get(v.name)!.map((x, k) => x / js[k]!);
  metrics.push({ name: `conntrack.lookup.${v.hash}.cpu.walk-gain`, unit: 'ratio', direction: 'higher', samples: gain, params: { buckets: v.buckets, hash: v.hash } });
  rows.push(`${v.name.padEnd(24)} walk in WebAssembly x${median(gain).toFixed(2)} the JavaScript walk (CPU, per sample: ${gain.map((g) => g.toFixed(2)).join(' ')})`);
}
if ('skipped' in cReference) rows.push(`C reference skipped: ${cReference.skipped}`);
for (const [key, rates] of cRates) {
  const [buckets, mode] = key.split(' ');
  const label = `C jhash-${Number(buckets) >= 1048576 ? '1M' : `${Number(buckets) / 1024}k`} ${mode}`;
  const js = cpu.get(`jhash-${Number(buckets) >= 1048576 ? '1M' : `${Number(buckets) / 1024}k`} ${mode}`)!;
  metrics.push({ name: 'conntrack.lookup.c-reference.cpu', unit: 'Mlookups/cpu-s', direction: 'higher', samples: rates, params: { buckets: Number(buckets), hash: 'jhash', mode: mode! } });
  // Per round: the TypeScript sample over the C run of the same round (the machine's speed divides out).
  const share = rates.map((c, k) => js[k]! / c);
  metrics.push({ name: 'conntrack.lookup.jhash.cpu.vs-c', unit: 'ratio', direction: 'higher', samples: share, params: { buckets: Number(buckets), mode: mode! } });
  rows.push(`${label.padEnd(24)} ${'-'.padStart(9)} ${'-'.padStart(6)} ${median(rates).toFixed(2).padStart(9)} ${'-'.padStart(6)}   (TypeScript at ${(median(share) * 100).toFixed(0)}% of it per round, CPU: ${share.map((x) => (x * 100).toFixed(0)).join(' ')})`);
}
const perConnection = ConntrackTable.BYTES_PER_CONNECTION;
const t64 = variants[0]!.table;
const t1m = variants[MODES.length]!.table;
metrics.push({ name: 'conntrack.memory.per-connection', unit: 'bytes', direction: 'lower', samples: [perConnection] });
metrics.push({ name: 'conntrack.memory.table', unit: 'bytes', direction: 'lower', samples: [t64.memoryBytes()], params: { buckets: 65536, connections: CONNECTIONS } });
metrics.push({ name: 'conntrack.memory.table', unit: 'bytes', direction: 'lower', samples: [t1m.memoryBytes()], params: { buckets: 1048576, connections: CONNECTIONS } });
const path = writeBenchResult('conntrack-lookup', metrics, {
  samplesPerVariant: SAMPLES, lookupsPerSample: LOOKUPS, prepareRun: PREPARE_RUN, warmed,
  cReference: 'binary' in cReference ? 'bench/c/conntrack-lookup.c (cc -O2)' : `skipped: ${cReference.skipped}`,
});
for (const r of rows) console.log(r);
console.log(`memory: ${perConnection} bytes per IPv4 connection (+48 for IPv6) besides the bucket array; table at 200k connections: ${(t64.memoryBytes() / 1048576).toFixed(1)} MiB with 64k buckets, ${(t1m.memoryBytes() / 1048576).toFixed(1)} MiB with 1M buckets (capacity ${t64.capacity} slots)`);
console.log(`results: ${path}`);
