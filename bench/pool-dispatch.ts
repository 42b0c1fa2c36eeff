/**
 * Dispatch overhead per packet, measured in isolation in one run: the main thread's per-packet
 * work for the pool (flow hash + worker choice + index list for the indexed transfer; plus
 * column-wise re-sharding into per-worker batches of 4096 for the copy transfer) versus running the pipeline itself (flow accounting) in the main thread.
 * No workers run, so the figure is the main thread's cost, not contention with workers.
 *
 *   npm run build && node dist/bench/pool-dispatch.js [rounds]
 */
import { Dispatcher } from '../src/cores/dispatch.js';
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
const dispatcher = new Dispatcher({ policy: 'rss-symmetric', cores: WORKERS });

function dispatchAll(): void {
  for (const src of sources) {
    counts.fill(0);
    const n = src.count;
    for (let i = 0; i < n; i++) {
      const w = dispatcher.assign(src, i);
      index[w]![counts[w]!++] = i;
    }
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

/** Indexed transfer: hash, worker choice and the per-worker index lists (what the pool does per packet). */
function dispatchIndexed(): void {
  for (const src of sources) {
    counts.fill(0);
    const n = src.count;
    for (let i = 0; i < n; i++) {
      const w = dispatcher.assign(src, i);
      index[w]![counts[w]!++] = i;
    }
  }
}

function hashOnly(): void {
  for (const src of sources) for (let i = 0; i < src.count; i++) dispatcher.assign(src, i);
}

const registry = builtinRegistry();
function pipelineInline(): void {
  const p = Pipeline.build(registry, [{ name: 'flow-accounting' }], { shard: 0, shards: 1, shared: [] });
  for (const src of sources) p.runBatch(src, 1_700_000_000);
}

/** CPU time of the calling thread per packet (process.cpuUsage: user + system; one thread runs). */
function timeNsPerPacket(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return ((d.user + d.system) * 1000) / (SOURCE_BATCHES * BATCH);
}

const samples = { dispatch: [] as number[], indexed: [] as number[], hash: [] as number[], inline: [] as number[] };
for (let r = 0; r < rounds + 2; r++) {
  const d = timeNsPerPacket(dispatchAll);
  const x = timeNsPerPacket(dispatchIndexed);
  const h = timeNsPerPacket(hashOnly);
  const p = timeNsPerPacket(pipelineInline);
  if (r < 2) continue; // warm-up
  samples.dispatch.push(d);
  samples.indexed.push(x);
  samples.hash.push(h);
  samples.inline.push(p);
}
const metrics: BenchMetric[] = [
  { name: 'dispatch.ns_per_packet', unit: 'ns', direction: 'lower', samples: samples.indexed, params: { batch: BATCH, workers: WORKERS, transfer: 'indexed' } },
  { name: 'dispatch.ns_per_packet', unit: 'ns', direction: 'lower', samples: samples.dispatch, params: { batch: BATCH, workers: WORKERS, transfer: 'copy' } },
  { name: 'dispatch.hash_ns_per_packet', unit: 'ns', direction: 'lower', samples: samples.hash, params: { batch: BATCH, part: 'hash' } },
  { name: 'pipeline.inline_ns_per_packet', unit: 'ns', direction: 'lower', samples: samples.inline, params: { stages: 'flow-accounting' } },
];
const ratios = {
  indexed_dispatch_over_inline_pipeline: median(samples.indexed) / median(samples.inline),
  copy_dispatch_over_inline_pipeline: median(samples.dispatch) / median(samples.inline),
};
const path = writeBenchResult('pool-dispatch', metrics, ratios);
process.stdout.write(
  `dispatch indexed (hash + index list) ${median(samples.indexed).toFixed(1)} ns/packet; copy (hash + re-shard) ${median(samples.dispatch).toFixed(1)}; ` +
    `hash alone ${median(samples.hash).toFixed(1)}; flow-accounting pipeline in the main thread ${median(samples.inline).toFixed(1)} ns/packet\n` +
    `${JSON.stringify(ratios)}\nwrote ${path}\n`,
);
