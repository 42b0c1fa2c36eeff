/**
 * A pool worker (piscina task module). Each piscina instance has exactly one thread, so the
 * module state below is this worker's shard: its pipeline built from the stage specs on 'init',
 * fed batch after batch (views over the shared batch memory, rebuilt only once per buffer slot),
 * read out on 'finish'.
 */
import { pathToFileURL } from 'node:url';
import { builtinRegistry } from '../pipeline/builtin.js';
import { Pipeline } from '../pipeline/pipeline.js';
import type { StageModule } from '../pipeline/registry.js';
import { PacketBatch } from '../trace/batch.js';
import { pinCurrentThread } from './affinity.js';
import { copySlots } from './reshard.js';
import { pack, unpack, type AffinityReport, type InitControl, type ShardReport, type TaskMessage } from './messages.js';

interface ShardState {
  readonly shard: number;
  readonly pipeline: Pipeline;
  readonly affinity: AffinityReport;
  readonly views: Map<number, PacketBatch>;
  readonly indexViews: Map<number, Uint32Array>;
  /** This thread's own batch for indexed input (see 'indexed' below). */
  local: PacketBatch | null;
}

let state: ShardState | null = null;

async function init(control: InitControl, shared: readonly SharedArrayBuffer[]): Promise<Uint8Array> {
  const registry = builtinRegistry();
  for (const path of control.stageModules) {
    const mod = (await import(pathToFileURL(path).href)) as Partial<StageModule>;
    if (typeof mod.registerStages !== 'function') throw new Error(`${path} does not export registerStages(registry)`);
    mod.registerStages(registry);
  }
  const affinity: AffinityReport = control.pinCpu === null ? { cpu: null, applied: false, tid: null, detail: 'not requested' } : pinCurrentThread(control.pinCpu);
  const pipeline = Pipeline.build(registry, control.stages, { shard: control.shard, shards: control.shards, shared }, { sampleEvery: control.sampleEvery });
  state = { shard: control.shard, pipeline, affinity, views: new Map(), indexViews: new Map(), local: null };
  return pack({ shard: control.shard, affinity });
}

export default async function task(msg: TaskMessage): Promise<Uint8Array> {
  if (msg.kind === 'init') return init(unpack<InitControl>(msg.control), msg.shared);
  if (!state) throw new Error('worker used before init');
  if (msg.kind === 'batch') {
    let b = state.views.get(msg.slot);
    if (!b) {
      b = PacketBatch.fromBuffer(msg.buffer);
      state.views.set(msg.slot, b);
    }
    const before = state.pipeline.busyNs;
    state.pipeline.runBatch(b, msg.originSec);
    return pack({ packets: b.count, busyNs: state.pipeline.busyNs - before });
  }
  if (msg.kind === 'indexed') {
    let b = state.views.get(msg.slot);
    if (!b) {
      b = PacketBatch.fromBuffer(msg.buffer);
      state.views.set(msg.slot, b);
    }
    let index = state.indexViews.get(msg.indexSlot);
    if (!index) {
      index = new Uint32Array(msg.index);
      state.indexViews.set(msg.indexSlot, index);
    }
    // Gather this shard's packets into a batch of our own before the models write their slots:
    // the workers writing verdicts, marks and states into one shared batch would share cache
    // lines (false sharing) and each core would keep stealing them from the other. The gather
    // runs here, in parallel on the workers, not on the dispatching main thread.
    let local = state.local;
    if (!local || local.capacity < msg.count || local.headBytes !== b.headBytes) local = state.local = new PacketBatch(b.capacity, b.headBytes);
    copySlots(b, local, index, 0, msg.count, 0);
    local.count = msg.count;
    const before = state.pipeline.busyNs;
    state.pipeline.runBatch(local, msg.originSec);
    return pack({ packets: msg.count, busyNs: state.pipeline.busyNs - before });
  }
  const p = state.pipeline;
  if (msg.endNs === null) p.finish();
  else p.finish(msg.endNs);
  const report: ShardReport = { shard: state.shard, packets: p.packets, busyNs: p.busyNs, results: p.results(), clocks: p.clocks(), affinity: state.affinity };
  return pack(report);
}
