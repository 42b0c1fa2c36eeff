/**
 * Worker for pool-scaling's machine ceiling: builds the same pipeline as a pool shard, generates
 * its own share of the trace in its own memory (nothing shared with other threads, no dispatch,
 * no messages per batch), runs it once untimed, says 'ready', and on 'go' (all threads at once)
 * runs it again on a fresh pipeline and reports the busy time. N of these side by side show
 * how far N cores of this machine scale this code at all, whatever the pool does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SyntheticTrace, type SyntheticSpec } from '../src/cores/synthetic.js';
import { builtinRegistry } from '../src/pipeline/builtin.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import type { StageSpec } from '../src/pipeline/registry.js';
import { PacketBatch } from '../src/trace/batch.js';

export interface CeilingTask {
  readonly stages: StageSpec[];
  readonly trace: SyntheticSpec;
}

const task = workerData as CeilingTask;
const registry = builtinRegistry();
const build = (): Pipeline => Pipeline.build(registry, task.stages, { shard: 0, shards: 1, shared: [] });
const batches: PacketBatch[] = [];
const trace = new SyntheticTrace(task.trace);
for (;;) {
  const b = new PacketBatch(4096);
  b.count = trace.fill(b);
  if (b.count === 0) break;
  batches.push(b);
}
// One untimed pass on a pipeline of its own (JIT warm-up, as the pool's warm-up replay), then
// the timed one on a fresh pipeline.
const warmUp = build();
for (const b of batches) warmUp.runBatch(b, b.tsSec[0]!);
const pipeline = build();
parentPort!.once('message', () => {
  const t0 = performance.now();
  for (const b of batches) pipeline.runBatch(b, b.tsSec[0]!);
  parentPort!.postMessage({ packets: pipeline.packets, busyNs: (performance.now() - t0) * 1e6 });
});
parentPort!.postMessage('ready');
