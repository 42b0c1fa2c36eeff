/**
 * The full pipeline on the pool: a generated 100k-packet trace through `netfilter` (conntrack +
 * the forward ruleset of fixtures/pipeline) alone and followed by the HTB `shaper`, on the main
 * thread (workers 0) and on 1 and 2 workers (rss-symmetric). Variants are interleaved sample by
 * sample so they see the same machine load; medians and ratios come from one run. The 1- and
 * 2-worker variants each keep their threads (a WorkerPool) for all their samples after one
 * untimed warm-up replay, as a scenario's points do, so the samples run on compiled code.
 * Run: `npm run build && node dist/bench/pipeline-replay.js` (SAMPLES=5 by default).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replay, WorkerPool } from '../src/harness/pool.js';
import type { StageSpec } from '../src/pipeline/registry.js';
import { PacketBatch } from '../src/trace/batch.js';
import { TraceGenerator } from '../src/trace/generate.js';
import { readTraceBytes } from '../src/trace/reader.js';
import { MemoryTraceWriter, writeFrames } from '../src/trace/write.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const SAMPLES = Number(process.env.SAMPLES ?? 5);
const PACKETS = 100_000;
const root = fileURLToPath(new URL('../..', import.meta.url));
const rules = { name: 'fixtures/pipeline/forward.rules', text: readFileSync(resolve(root, 'fixtures/pipeline/forward.rules'), 'utf8') };
const tc = { name: 'fixtures/pipeline/shaper.tc', text: readFileSync(resolve(root, 'fixtures/pipeline/shaper.tc'), 'utf8') };

const gen = new TraceGenerator({ seed: 1, flows: 5000, packets: PACKETS, pps: 100_000, concurrent: 1000 });
const writer = new MemoryTraceWriter({ interfaces: [{ linkType: gen.linkType }] });
writeFrames(gen, writer.encoder);
const batches: PacketBatch[] = [];
readTraceBytes(writer.bytes(), new PacketBatch(), (b) => batches.push(PacketBatch.fromBuffer(b.buffer.slice(0))));

const netfilter: StageSpec = { name: 'netfilter', config: { conntrack: { buckets: 65536 }, ruleset: rules } };
const shaper: StageSpec = { name: 'shaper', config: { tc, linkRate: 1_250_000_000 } };
const variants = [
  { pipeline: 'netfilter', stages: [netfilter] },
  { pipeline: 'netfilter+shaper', stages: [netfilter, shaper] },
].flatMap((v) => [0, 1, 2].map((workers) => ({ ...v, workers, pool: workers > 0 ? new WorkerPool(workers) : null, samples: [] as number[], stageNs: new Map<string, number[]>() })));

const run = (v: (typeof variants)[number]) => replay(batches, { workers: v.workers, dispatch: { policy: 'rss-symmetric' }, stages: v.stages, ...(v.pool ? { pool: v.pool } : {}) });
for (const v of variants) await run(v);
for (let s = 0; s < SAMPLES; s++) {
  for (const v of variants) {
    const r = await run(v);
    if (r.packets !== PACKETS) throw new Error(`replayed ${r.packets} packets, expected ${PACKETS}`);
    v.samples.push(r.pps);
    for (const c of r.clocks) {
      const list = v.stageNs.get(c.stage) ?? [];
      list.push(c.packets ? c.estimatedNs / c.packets : 0);
      v.stageNs.set(c.stage, list);
    }
  }
}

await Promise.all(variants.map((v) => v.pool?.close()));
const metrics: BenchMetric[] = [];
for (const v of variants) {
  metrics.push({ name: 'pipeline-pps', unit: 'packets/s', direction: 'higher', samples: v.samples, params: { pipeline: v.pipeline, workers: v.workers } });
  for (const [stage, ns] of v.stageNs) metrics.push({ name: 'stage-ns-per-packet', unit: 'ns', direction: 'lower', samples: ns, params: { pipeline: v.pipeline, workers: v.workers, stage } });
}
const file = writeBenchResult('pipeline-replay', metrics);
console.log(`pipeline-replay: ${PACKETS} packets, ${SAMPLES} samples (medians)`);
for (const v of variants) {
  const base = median(variants.find((x) => x.pipeline === v.pipeline && x.workers === 0)!.samples);
  const stages = [...v.stageNs].map(([stage, ns]) => `${stage} ${median(ns).toFixed(0)} ns/pkt`).join(', ');
  console.log(`${v.pipeline.padEnd(17)} workers ${v.workers}: ${Math.round(median(v.samples)).toLocaleString('en-US')} packets/s (x${(median(v.samples) / base).toFixed(2)} of workers 0); ${stages}`);
}
console.log(`wrote ${file}`);
