/**
 * Dispatch overhead per packet, measured in isolation in one run: the main thread's per-packet
 * work for the pool (flow hash + worker choice + index list for the indexed transfer; plus
 * column-wise re-sharding into per-worker batches of 4096 for the copy transfer) versus running
 * the pipeline itself (flow accounting) in the main thread. The pool's path (assignBatch) is
 * measured beside the per-packet reference (assign), and policy rss beside rss-symmetric.
 * No workers run, so the figure is the main thread's cost, not contention with workers.
 *
 *   npm run build && node dist/bench/pool-dispatch.js [rounds]
 */
import { Dispatcher, rssHashRange } from '../src/cores/dispatch.js';
import { SYMMETRIC_RSS_KEY, ToeplitzKey } from '../src/hash/toeplitz.js';
import { SyntheticTrace } from '../src/cores/synthetic.js';
import { copySlots } from '../src/harness/reshard.js';
import { builtinRegistry } from '../src/pipeline/builtin.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { PacketBatch } from '../src/trace/batch.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const rounds = Number(process.argv[2] ?? 7);
const BATCH = 4096;
const WORKERS = 2;
const SOURCE_BATCHES = 16;

// A fixed set of source batches, generated once.
const trace = new SyntheticTrace({ kind: 'zipf', packets: SOURCE_BATCHES * BATCH, flows: 20_000, seed: 9 });
const sources = Array.from({ length: SOURCE_BATCHES }, () => {
  const b = new PacketBatch(BATCH, 0);
  trace.fill(b);
  return b;
});
const targets = Array.from({ length: WORKERS }, () => new PacketBatch(BATCH));
const index = Array.from({ length: WORKERS }, () => new Uint32Array(BATCH));
const counts = new Int32Array(WORKERS);
const fill = new Int32Array(WORKERS);
// rss-symmetric: the pool's default policy.
const dispatcher = new Dispatcher({ policy: 'rss-symmetric', cores: WORKERS });
const symKey = new ToeplitzKey(SYMMETRIC_RSS_KEY);

function dispatchAll(): void {
  for (const src of sources) {
    counts.fill(0);
    dispatcher.assignBatch(src, 0, src.count, index, counts);
    for (let w = 0; w < WORKERS; w++) {
      let done = 0;
      const m = counts[w]!;
      while (done < m) {
        const take = Math.min(m - done, BATCH - fill[w]!);
        copySlots(src, targets[w]!, index[w]!, done, take, fill[w]!);
        done += take;
        fill[w]! += take;
        if (fill[w] === BATCH) fill[w] = 0; // handed over (the pool posts it here)
      }
    }
  }
}

/** Indexed transfer: hash, worker choice and the per-worker index lists (what the pool does per batch). */
function dispatchIndexed(): void {
  for (const src of sources) {
    counts.fill(0);
    dispatcher.assignBatch(src, 0, src.count, index, counts);
  }
}

/** The same with policy `rss` (Microsoft key: 12 table lookups per IPv4 4-tuple instead of the symmetric key's 2). */
const rssDispatcher = new Dispatcher({ policy: 'rss', cores: WORKERS });
function dispatchIndexedRss(): void {
  for (const src of sources) {
    counts.fill(0);
    rssDispatcher.assignBatch(src, 0, src.count, index, counts);
  }
}

/** The same work through the per-packet reference path (the first version of the pool's loop). */
function dispatchIndexedPerPacket(): void {
  for (const src of sources) {
    counts.fill(0);
    const n = src.count;
    for (let i = 0; i < n; i++) {
      const w = dispatcher.assign(src, i);
      index[w]![counts[w]!++] = i;
    }
  }
}

/** The flow hash alone (Toeplitz over the batch's 4-tuples into flowHash). */
function hashOnly(): void {
  for (const src of sources) rssHashRange(symKey, src, 0, src.count);
}

const registry = builtinRegistry();
function pipelineInline(): void {
  const p = Pipeline.build(registry, [{ name: 'flow-accounting' }], { shard: 0, shards: 1, shared: [] });
  for (const src of sources) p.runBatch(src, 1_700_000_000);
}

const PACKETS = SOURCE_BATCHES * BATCH;
/** CPU time (process.cpuUsage: user + system; only this thread runs) and wall time per packet. */
function timeNsPerPacket(fn: () => void, cpu: number[], wall: number[]): void {
  const w0 = process.hrtime.bigint();
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  const w = Number(process.hrtime.bigint() - w0);
  cpu.push(((d.user + d.system) * 1000) / PACKETS);
  wall.push(w / PACKETS);
}

const variants = {
  indexed: dispatchIndexed,
  perPacket: dispatchIndexedPerPacket,
  rss: dispatchIndexedRss,
  copy: dispatchAll,
  hash: hashOnly,
  inline: pipelineInline,
} as const;
type Variant = keyof typeof variants;
const names = Object.keys(variants) as Variant[];
const cpu = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<Variant, number[]>;
const wall = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<Variant, number[]>;
// Variants interleaved round by round, so that load from other processes hits them alike.
for (let r = 0; r < rounds + 2; r++) {
  for (const k of names) {
    const c: number[] = [];
    const w: number[] = [];
    timeNsPerPacket(variants[k], c, w);
    if (r >= 2) {
      cpu[k].push(c[0]!);
      wall[k].push(w[0]!);
    }
  }
}
const med = (k: Variant): number => median(cpu[k]);
const indexedParams = { batch: BATCH, workers: WORKERS, transfer: 'indexed' };
const metrics: BenchMetric[] = [
  { name: 'dispatch.ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu.indexed, params: { ...indexedParams, path: 'assignBatch' } },
  { name: 'dispatch.ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu.perPacket, params: { ...indexedParams, path: 'per-packet assign' } },
  { name: 'dispatch.ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu.rss, params: { ...indexedParams, path: 'assignBatch', policy: 'rss' } },
  { name: 'dispatch.ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu.copy, params: { batch: BATCH, workers: WORKERS, transfer: 'copy' } },
  { name: 'dispatch.hash_ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu.hash, params: { batch: BATCH, part: 'hash' } },
  { name: 'pipeline.inline_ns_per_packet', unit: 'ns', direction: 'lower', samples: cpu.inline, params: { stages: 'flow-accounting' } },
  { name: 'dispatch.wall_ns_per_packet', unit: 'ns', direction: 'lower', samples: wall.indexed, params: { ...indexedParams, path: 'assignBatch' } },
  { name: 'dispatch.wall_ns_per_packet', unit: 'ns', direction: 'lower', samples: wall.perPacket, params: { ...indexedParams, path: 'per-packet assign' } },
];
const ratios = {
  batch_over_per_packet_indexed_dispatch: med('indexed') / med('perPacket'),
  indexed_dispatch_over_inline_pipeline: med('indexed') / med('inline'),
  copy_dispatch_over_inline_pipeline: med('copy') / med('inline'),
};
const path = writeBenchResult('pool-dispatch', metrics, ratios);
const row = (label: string, k: Variant): string => `  ${label.padEnd(44)} ${med(k).toFixed(1).padStart(7)} ns/packet CPU  ${median(wall[k]).toFixed(1).padStart(7)} wall`;
process.stdout.write(
  `median of ${rounds} interleaved samples, ${PACKETS} packets each (batch ${BATCH}, ${WORKERS} workers' shards):\n` +
    [
      row('indexed dispatch, assignBatch (pool path)', 'indexed'),
      row('indexed dispatch, per-packet assign (before)', 'perPacket'),
      row('indexed dispatch, assignBatch, policy rss', 'rss'),
      row('copy dispatch (assignBatch + re-shard)', 'copy'),
      row('flow hash alone (rssHashRange)', 'hash'),
      row('flow-accounting pipeline in the main thread', 'inline'),
    ].join('\n') +
    `\n${JSON.stringify(ratios)}\nwrote ${path}\n`,
);
