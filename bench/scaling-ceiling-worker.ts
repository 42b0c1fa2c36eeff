/**
 * Worker for pool-scaling's machine ceiling: builds the same pipeline as a pool shard, generates
 * its own share of the trace in its own memory (nothing shared with other threads, no dispatch,
 * no messages per batch), says 'ready', and on 'go' (all threads at once) runs it and reports
 * the busy time. N of these side by side show
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
const pipeline = Pipeline.build(builtinRegistry(), task.stages, { shard: 0, shards: 1, shared: [] });
const batches: PacketBatch[] = [];
const trace = new SyntheticTrace(task.trace);
for (;;) {
  const b = new PacketBatch(4096);
  b.count = trace.fill(b);
  if (b.count === 0) break;
  batches.push(b);
}
parentPort!.once('message', () => {
  const t0 = performance.now();
  for (const b of batches) pipeline.runBatch(b, b.tsSec[0]!);
  parentPort!.postMessage({ packets: pipeline.packets, busyNs: (performance.now() - t0) * 1e6 });
});
parentPort!.postMessage('ready');
