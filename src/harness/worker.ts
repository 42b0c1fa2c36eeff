/**
 * A pool worker (piscina task module). Each piscina instance has exactly one thread, so the
 * module state below is this worker's shard: its pipeline built from the stage specs on 'init',
 * fed batch after batch (views over the shared batch memory, rebuilt only once per buffer slot),
 * read out on 'finish'. A thread kept in a WorkerPool gets a new 'init' for every replay.
 */
import { pathToFileURL } from 'node:url';
import { builtinRegistry } from '../pipeline/builtin.js';
import { Pipeline } from '../pipeline/pipeline.js';
import type { StageModule } from '../pipeline/registry.js';
import { PacketBatch } from '../trace/batch.js';
import { pinCurrentThread } from './affinity.js';
import { pack, unpack, type AffinityReport, type InitControl, type ShardReport, type TaskMessage } from './messages.js';

interface ShardState {
  readonly shard: number;
  readonly pipeline: Pipeline;
  readonly affinity: AffinityReport;
  readonly views: Map<number, PacketBatch>;
  readonly indexViews: Map<number, Uint32Array>;
  /** Views over shared source batches with this thread's own model slots (indexed input). */
  readonly inPlaceViews: Map<number, PacketBatch>;
}

let state: ShardState | null = null;

// Batches run in their `seq` order: the pool posts a worker's batches without waiting for the
// previous one to finish (so the worker never idles on a round trip through the main thread),
// and several may be queued here at once.
let nextSeq = 0;
const waitingTurn = new Map<number, () => void>();

function turn(seq: number): Promise<void> | null {
  if (seq === nextSeq) return null;
  return new Promise<void>((resolve) => waitingTurn.set(seq, resolve));
}

function turnDone(): void {
  nextSeq++;
  const next = waitingTurn.get(nextSeq);
  if (next) {
    waitingTurn.delete(nextSeq);
    next();
  }
}

async function init(control: InitControl, shared: readonly SharedArrayBuffer[]): Promise<Uint8Array> {
  const registry = builtinRegistry();
  for (const path of control.stageModules) {
    const mod = (await import(pathToFileURL(path).href)) as Partial<StageModule>;
    if (typeof mod.registerStages !== 'function') throw new Error(`${path} does not export registerStages(registry)`);
    mod.registerStages(registry);
  }
  const affinity: AffinityReport = control.pinCpu === null ? { cpu: null, applied: false, tid: null, detail: 'not requested' } : pinCurrentThread(control.pinCpu);
  const pipeline = Pipeline.build(registry, control.stages, { shard: control.shard, shards: control.shards, shared }, { sampleEvery: control.sampleEvery });
  // A kept thread starts every replay afresh: new pipeline, no views of the last replay's
  // buffers (their slot ids repeat), batch numbering from 0. Its compiled code stays.
  state = { shard: control.shard, pipeline, affinity, views: new Map(), indexViews: new Map(), inPlaceViews: new Map() };
  nextSeq = 0;
  waitingTurn.clear();
  return pack({ shard: control.shard, affinity });
}

export default async function task(msg: TaskMessage): Promise<Uint8Array> {
  if (msg.kind === 'init') return init(unpack<InitControl>(msg.control), msg.shared);
  if (!state) throw new Error('worker used before init');
  if (msg.kind === 'finish') return finish(state, msg.endNs);
  const wait = turn(msg.seq);
  if (wait) await wait;
  try {
    return runBatch(state, msg);
  } finally {
    turnDone();
  }
}

function runBatch(state: ShardState, msg: Extract<TaskMessage, { kind: 'batch' | 'indexed' }>): Uint8Array {
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
  // This shard's packets run in place in the batch the workers share, read through the index
  // list. The models write verdicts, marks and conntrack states into arrays of this thread's
  // own (ownModelSlots): workers writing into one shared batch would share cache lines (false
  // sharing) and each core would keep stealing them from the other. Only those few slots are
  // copied in; the packets' other fields are read where the reader wrote them.
  let b = state.inPlaceViews.get(msg.slot);
  if (!b) {
    b = PacketBatch.fromBuffer(msg.buffer, true);
    state.inPlaceViews.set(msg.slot, b);
  }
  let index = state.indexViews.get(msg.indexSlot);
  if (!index) {
    index = new Uint32Array(msg.index);
    state.indexViews.set(msg.indexSlot, index);
  }
  b.takeModelSlots(index, msg.count);
  const before = state.pipeline.busyNs;
  state.pipeline.runIndexed(b, index, msg.count, msg.originSec);
  return pack({ packets: msg.count, busyNs: state.pipeline.busyNs - before });
}

function finish(state: ShardState, endNs: number | null): Uint8Array {
  const p = state.pipeline;
  if (endNs === null) p.finish();
  else p.finish(endNs);
  const report: ShardReport = { shard: state.shard, packets: p.packets, busyNs: p.busyNs, results: p.results(), clocks: p.clocks(), affinity: state.affinity };
  return pack(report);
}
