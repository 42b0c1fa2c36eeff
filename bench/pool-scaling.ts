/**
 * Scaling of the real pool: 1..N workers (N = available CPUs, at least 2) with per-flow pinning
 * (rss-symmetric, one flow table per worker) versus the shared-table mode (round-robin, one
 * Atomics-locked table), against the same pipeline in the main thread. CPU-heavy input: a Zipf
 * trace through hash-work (40 chained Toeplitz hashes per packet) and flow accounting.
 *
 * The trace is generated before the clock starts and replayed from memory (as a decoded trace
 * in page cache would be): the main thread's own work inside the timed span is copying each batch
 * into the pool's shared batch, hashing and dispatching it, and the message traffic; it runs on
 * the same cores as the workers and is inside the wall time, not subtracted (on 2 cores, 2
 * workers + the main thread share them). The `pinned-generate` rows instead synthesise the
 * packets in the main thread during the run (about 0.4 us a packet more main-thread work), to
 * show what a busier main thread costs. Throughput = packets / wall time from the first batch to
 * the merged result; each configuration keeps its worker threads (a WorkerPool) for one untimed
 * warm-up replay and its samples, so that the samples run on compiled code (thread start-up is
 * outside the samples). Also recorded: the main thread's dispatch time per packet (wall clock of
 * its hashing/dispatch loop) and the CPU time of the whole process per packet (process.cpuUsage
 * around the run: main thread + all workers, the pipelines' rebuild included).
 *
 * A second, realistic workload (`netfilter-*` rows): the conntrack model and a Selfnet-like
 * iptables ruleset (5,080 users in 20 /24 networks, per-network jump rules, ESTABLISHED,RELATED
 * accepted last, ~45,900 rules; about 160 rules evaluated a packet) over a uniform trace of 20,000
 * flows, per-flow pinned, an eighth as many packets (each costs ~10x more).
 *
 * The machine's ceiling (`ceiling` rows, bench/pool-scaling.worker.ts): the same pipeline in N plain worker threads, each over
 * its own 1/N of an equal trace generated in its own memory, run once untimed to warm up, then
 * on a fresh pipeline started together, no pool (no shared batch, no dispatch, no messages). Its N-thread / 1-thread ratio is what N
 * cores of this machine give this code at all; the pool's ratio is read against it.
 *
 *   npm run build && node dist/bench/pool-scaling.js [packets] [samples] [--workers 1,2,4,8,16] [--netfilter-packets N]
 *
 * `--workers` picks the worker counts (default 1..N); 1 and 2 are always measured, for the ratios.
 * `--netfilter-packets` sizes the netfilter trace (default packets / 8): at many workers a short
 * trace leaves each worker little work beside the replay's fixed costs (results, merge: `finish`).
 * `--batch N` sets the pool's batch size (default 4096; the trace is generated in batches of N).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SyntheticTrace } from '../src/cores/synthetic.js';
import { replay, WorkerPool, type ReplayReport } from '../src/harness/pool.js';
import { PacketBatch } from '../src/trace/batch.js';
import { generateRuleset } from '../src/rules/generate.js';
import type { StageSpec } from '../src/pipeline/registry.js';
import { countOption, countsOption, median, writeBenchResult, type BenchMetric } from './support.js';
import type { CeilingTask } from './pool-scaling.worker.js';

const packets = Number(process.argv[2] ?? 300_000);
const samples = Number(process.argv[3] ?? 3);
const maxWorkers = Math.max(2, availableParallelism());
const workerCounts = ((): number[] => {
  const listed = countsOption('--workers');
  const all = listed ? [1, 2, ...listed] : Array.from({ length: maxWorkers }, (_, k) => k + 1);
  return [...new Set(all)].sort((a, b) => a - b);
})();
const rounds = 40;

function stagesFor(shared: boolean): StageSpec[] {
  return [
    { name: 'hash-work', config: { rounds } },
    { name: 'flow-accounting', config: { capacity: 1 << 16, shared } },
  ];
}

type Mode = 'main' | 'pinned' | 'shared' | 'pinned-copy' | 'pinned-generate' | 'netfilter-main' | 'netfilter-pinned';

const traceSpec = { kind: 'zipf', packets, flows: 20_000, seed: 11 } as const;
const batchSize = countOption('--batch', 4096);
const netfilterPackets = countOption('--netfilter-packets', Math.max(20_000, Math.round(packets / 8)));
const netfilterTraceSpec = { kind: 'uniform', packets: netfilterPackets, flows: 20_000, seed: 12 } as const;

/** A whole trace, generated once before any timing. */
function generate(spec: ConstructorParameters<typeof SyntheticTrace>[0]): PacketBatch[] {
  const out: PacketBatch[] = [];
  const trace = new SyntheticTrace(spec);
  for (;;) {
    const b = new PacketBatch(batchSize);
    b.count = trace.fill(b);
    if (b.count === 0) return out;
    out.push(b);
  }
}
const prepared = generate(traceSpec);
const netfilterPrepared = generate(netfilterTraceSpec);
const rulesetLines: string[] = [];
generateRuleset({ users: 5080, rulesPerUser: 8 }, (line) => rulesetLines.push(line));
const netfilterStages: StageSpec[] = [{
  name: 'netfilter',
  config: { conntrack: { buckets: 65536, max: 1_000_000 }, ruleset: { name: 'selfnet-5080-users.rules', text: `${rulesetLines.join('\n')}\n` }, path: 'forward' },
}];

async function once(workers: number, mode: Mode, pool: WorkerPool | null): Promise<ReplayReport> {
  // pinned-generate: a reader synthesises into the pool's own batches during the run.
  const trace = new SyntheticTrace(traceSpec);
  const kept = pool ? { pool } : {};
  if (mode === 'netfilter-main' || mode === 'netfilter-pinned') {
    return replay(netfilterPrepared, { workers: mode === 'netfilter-main' ? 0 : workers, dispatch: { policy: 'rss-symmetric' }, stages: netfilterStages, batchSize, ...kept });
  }
  const source = mode === 'pinned-generate' ? { read: (b: PacketBatch) => Promise.resolve(trace.fill(b)) } : prepared;
  return replay(source, {
    ...kept,
    workers: mode === 'main' ? 0 : workers,
    transfer: mode === 'pinned-copy' ? 'copy' : 'indexed',
    dispatch: { policy: mode === 'shared' ? 'round-robin' : 'rss-symmetric' },
    stages: stagesFor(mode === 'shared'),
    batchSize,
  });
}

const metrics: BenchMetric[] = [];
/** Packets in one replay of a mode's trace. */
const packets_ = (mode: Mode): number => (mode === 'netfilter-main' || mode === 'netfilter-pinned' ? netfilterPackets : packets);
const rows: string[] = [];
const capacities = new Map<string, number>();
async function measure(workers: number, mode: Mode): Promise<number> {
  const pps: number[] = [];
  const dispatch: number[] = [];
  const finish: number[] = [];
  const cpu: number[] = [];
  const capacity: number[] = [];
  const inMain = mode === 'main' || mode === 'netfilter-main';
  // The same threads for an untimed warm-up replay and the samples (a scenario point's way), so
  // that the samples run on compiled code, as the main thread's do.
  const pool = inMain ? null : new WorkerPool(workers);
  await once(workers, mode, pool);
  for (let s = 0; s < samples; s++) {
    // CPU time of the whole process (main thread + workers; the pipelines' rebuild included).
    const c0 = process.cpuUsage();
    const r = await once(workers, mode, pool);
    const c = process.cpuUsage(c0);
    pps.push(r.pps);
    dispatch.push(r.packets ? r.dispatchNs / r.packets : 0);
    finish.push(r.finishNs / 1e6);
    cpu.push(r.packets ? ((c.user + c.system) * 1000) / r.packets : 0);
    // The workers' side alone: packets over the busiest worker's in-thread busy time, i.e. the
    // rate the shards sustain when the main thread's reading and dispatch are not the limit.
    const busiest = Math.max(...r.perWorker.map((w) => w.busyNs));
    capacity.push(busiest > 0 ? (r.packets / busiest) * 1e9 : 0);
  }
  await pool?.close();
  const params = { workers: inMain ? 0 : workers, mode };
  metrics.push({ name: 'pool.pps', unit: 'packets/s', direction: 'higher', samples: pps, params });
  metrics.push({ name: 'pool.process_cpu_ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu, params });
  if (!inMain) metrics.push({ name: 'pool.dispatch_ns_per_packet', unit: 'ns', direction: 'lower', samples: dispatch, params });
  metrics.push({ name: 'pool.worker_capacity_pps', unit: 'packets/s', direction: 'higher', samples: capacity, params });
  if (!inMain) metrics.push({ name: 'pool.finish_ms', unit: 'ms', direction: 'lower', samples: finish, params });
  capacities.set(`${mode}/${params.workers}`, median(capacity));
  const m = median(pps);
  rows.push(
    `${mode.padEnd(16)} workers=${String(params.workers).padStart(2)}  ${Math.round(m).toLocaleString('en-US').padStart(12)} packets/s  ` +
      `dispatch ${median(dispatch).toFixed(1)} ns/packet (main-thread wall)  process CPU ${median(cpu).toFixed(0)} ns/packet  ` +
      `worker capacity ${Math.round(median(capacity)).toLocaleString('en-US')} packets/s` +
      (inMain ? '' : `  finish ${median(finish).toFixed(1)} ms of ${(median(pps) > 0 ? (packets_(mode) / median(pps)) * 1e3 : 0).toFixed(1)} ms`),
  );
  return m;
}

/** Packets per second of `threads` independent pipelines over `packets` in all (wall of the slowest). */
async function ceilingOnce(threads: number, stages: StageSpec[], spec: ConstructorParameters<typeof SyntheticTrace>[0]): Promise<number> {
  const workers = Array.from({ length: threads }, (_, k) => {
    const task: CeilingTask = { stages, trace: { ...spec, packets: Math.ceil(spec.packets / threads), seed: (spec.seed ?? 1) + k } };
    return new Worker(new URL('./pool-scaling.worker.js', import.meta.url), { workerData: task });
  });
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => { w.once('message', () => resolve()); w.once('error', reject); })));
    const t0 = performance.now();
    const done = workers.map((w) => new Promise<{ packets: number }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
    for (const w of workers) w.postMessage('go');
    const reports = await Promise.all(done);
    const wallNs = (performance.now() - t0) * 1e6;
    return (reports.reduce((a, r) => a + r.packets, 0) * 1e9) / wallNs;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

const ceilings = new Map<string, number>();
async function measureCeiling(workload: 'hash-work' | 'netfilter', threads: number): Promise<number> {
  const pps: number[] = [];
  for (let s = 0; s < samples; s++) {
    pps.push(workload === 'netfilter' ? await ceilingOnce(threads, netfilterStages, netfilterTraceSpec) : await ceilingOnce(threads, stagesFor(false), traceSpec));
  }
  const params = { workers: threads, mode: `ceiling-${workload}` };
  metrics.push({ name: 'pool.ceiling_pps', unit: 'packets/s', direction: 'higher', samples: pps, params });
  const m = median(pps);
  ceilings.set(`${workload}/${threads}`, m);
  rows.push(`${`ceiling ${workload}`.padEnd(16)} threads=${String(threads).padStart(2)} ${Math.round(m).toLocaleString('en-US').padStart(12)} packets/s  (independent threads, no pool)`);
  return m;
}

for (const w of workerCounts) await measureCeiling('hash-work', w);
for (const w of workerCounts) await measureCeiling('netfilter', w);
const main = await measure(1, 'main');
const pinned: number[] = [];
const shared: number[] = [];
for (const w of workerCounts) {
  pinned[w] = await measure(w, 'pinned');
  shared[w] = await measure(w, 'shared');
}
const copyAt2 = await measure(2, 'pinned-copy');
const generate1 = await measure(1, 'pinned-generate');
const generate2 = await measure(2, 'pinned-generate');
const netfilterMain = await measure(1, 'netfilter-main');
const netfilterPinned: number[] = [];
for (const w of workerCounts) netfilterPinned[w] = await measure(w, 'netfilter-pinned');
const ratios = {
  pinned_indexed_over_copy_at_2: pinned[2]! / copyAt2,
  pinned_2_over_1: pinned[2]! / pinned[1]!,
  shared_2_over_1: shared[2]! / shared[1]!,
  pinned_over_shared_at_2: pinned[2]! / shared[2]!,
  pinned_1_over_main_thread: pinned[1]! / main,
  pinned_worker_capacity_2_over_1: capacities.get('pinned/2')! / capacities.get('pinned/1')!,
  generate_pinned_2_over_1: generate2 / generate1,
  netfilter_pinned_2_over_1: netfilterPinned[2]! / netfilterPinned[1]!,
  netfilter_pinned_1_over_main_thread: netfilterPinned[1]! / netfilterMain,
  netfilter_worker_capacity_2_over_1: capacities.get('netfilter-pinned/2')! / capacities.get('netfilter-pinned/1')!,
  ceiling_hash_work_2_over_1: ceilings.get('hash-work/2')! / ceilings.get('hash-work/1')!,
  ceiling_netfilter_2_over_1: ceilings.get('netfilter/2')! / ceilings.get('netfilter/1')!,
  pinned_2_over_ceiling_2: pinned[2]! / ceilings.get('hash-work/2')!,
  netfilter_pinned_2_over_ceiling_2: netfilterPinned[2]! / ceilings.get('netfilter/2')!,
};
// Speed-up over one worker (one thread for the ceiling) at each measured count: the scaling curve.
const curve = workerCounts.map((w) => ({
  workers: w,
  pinned: pinned[w]! / pinned[1]!,
  shared: shared[w]! / shared[1]!,
  netfilter_pinned: netfilterPinned[w]! / netfilterPinned[1]!,
  ceiling_hash_work: ceilings.get(`hash-work/${w}`)! / ceilings.get('hash-work/1')!,
  ceiling_netfilter: ceilings.get(`netfilter/${w}`)! / ceilings.get('netfilter/1')!,
}));
const path = writeBenchResult('pool-scaling', metrics, { packets, samples, rounds, batchSize, netfilterPackets, ratios, curve });
const curveRows = curve.map((c) =>
  `  ${String(c.workers).padStart(2)}  pinned ${c.pinned.toFixed(2)}x  shared ${c.shared.toFixed(2)}x  netfilter ${c.netfilter_pinned.toFixed(2)}x  ` +
  `ceiling hash-work ${c.ceiling_hash_work.toFixed(2)}x  ceiling netfilter ${c.ceiling_netfilter.toFixed(2)}x`);
process.stdout.write(`${rows.join('\n')}\nspeed-up over 1 worker:\n${curveRows.join('\n')}\n${JSON.stringify(ratios, null, 2)}\nwrote ${path}\n`);
