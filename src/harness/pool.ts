/**
 * The real pool: the main thread streams batches, assigns every packet to a worker by the
 * dispatch policy (per-flow pinning: a flow hash always maps to the same worker), re-shards the
 * packets into per-worker batches over SharedArrayBuffers (PacketBatch.copySlotFrom; the buffer
 * itself crosses threads without a copy), keeps a bounded number of batches in flight per worker,
 * and at the end merges the workers' stage results exactly (src/pipeline/result.ts).
 *
 * One piscina instance of exactly one thread per worker: piscina gives the thread management,
 * task queue and clean teardown; one thread per instance is what lets a shard's state (its flow
 * table, later its conntrack table) live in that thread and see its flows in order.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { Dispatcher, type DispatchConfig } from '../cores/dispatch.js';
import { PktbenchError, RunFailure, UsageError } from '../errors.js';
import { builtinRegistry } from '../pipeline/builtin.js';
import { Pipeline } from '../pipeline/pipeline.js';
import type { StageModule, StageRegistry, StageSpec } from '../pipeline/registry.js';
import { mergeClocks, type StageClock, type StageResult } from '../pipeline/result.js';
import { DEFAULT_BATCH_CAPACITY, DEFAULT_HEAD_BYTES, PacketBatch } from '../trace/batch.js';
import { allowedCpus } from './affinity.js';
import { BatchRing } from './backpressure.js';
import { copySlots } from './reshard.js';
import { pack, unpack, type AffinityReport, type InitControl, type ShardReport, type TaskMessage } from './messages.js';

export interface ReplayConfig {
  /** Worker threads; 0 runs the pipeline in the main thread (the one-thread reference). */
  readonly workers: number;
  /** Dispatch policy and RETA/RPS options; `cores` is the worker count. */
  readonly dispatch: Omit<DispatchConfig, 'cores'>;
  readonly stages: readonly StageSpec[];
  /** Packets per batch (default: defaultBatchSize(workers)). */
  readonly batchSize?: number;
  /** Batches in flight (default 4): source batches (indexed) or per-worker batches (copy). */
  readonly inFlight?: number;
  /** Pin worker k to a CPU: true = the allowed CPUs in turn, or an explicit list. */
  readonly pin?: boolean | readonly number[];
  /** Modules exporting registerStages(registry), loaded in every worker and here. */
  readonly stageModules?: readonly string[];
  /** Aborting stops reading; what was dispatched is finished and reported as partial. */
  readonly signal?: AbortSignal;
  /** Per-stage clock sampling interval in packets (default 64). */
  readonly sampleEvery?: number;
  readonly headBytes?: number;
  /**
   * How packets reach the workers: 'indexed' (default) shares each source batch with all workers
   * and sends each an index list of its packets (no copy); 'copy' re-shards packets into
   * per-worker batches (column-wise copies).
   */
  readonly transfer?: Transfer;
  /**
   * Worker threads kept from one replay to the next (see WorkerPool): the replay uses them
   * instead of starting its own, and leaves them running. Its size must equal `workers`.
   */
  readonly pool?: WorkerPool;
}

export type Transfer = 'indexed' | 'copy';

/** Batches a pool's worker accepts at once: the most `inFlight` a replay on it may use. */
export const MAX_IN_FLIGHT = 64;

/**
 * Worker threads that outlive a replay, so that a series of replays (a scenario's warm-up and
 * measured runs) runs on threads whose JIT has already compiled the models: every replay
 * rebuilds each worker's pipeline from its stage specs, but the threads and their compiled code
 * stay. One replay at a time; close() ends the threads.
 */
export class WorkerPool {
  readonly size: number;
  /** @internal one single-thread piscina instance per shard. */
  readonly shards: Piscina[];
  private inUse = false;
  private closed = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 1024) throw new UsageError(`workers must be 1..1024, got ${size}`);
    const file = workerFile();
    if (!existsSync(file)) throw new RunFailure(`worker module ${file} is missing (run npm run build)`);
    this.size = size;
    this.shards = Array.from({ length: size }, () => newShard(file));
  }

  /** @internal */
  acquire(): void {
    if (this.closed) throw new RunFailure('worker pool is closed');
    if (this.inUse) throw new RunFailure('worker pool is running another replay');
    this.inUse = true;
  }

  /** @internal */
  release(): void {
    this.inUse = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.shards.map((p) => p.destroy()));
  }
}

/** A worker thread: up to MAX_IN_FLIGHT batches posted at once (it orders them by seq). */
function newShard(file: string): Piscina {
  return new Piscina({ filename: pathToFileURL(file).href, minThreads: 1, maxThreads: 1, idleTimeout: Number.MAX_SAFE_INTEGER, concurrentTasksPerWorker: MAX_IN_FLIGHT + 1 });
}

/** Anything that fills a caller-provided batch, as TraceReader.read does (0 = end). */
export interface BatchReader {
  read(batch: PacketBatch): Promise<number>;
}

/**
 * A trace for the pool: a reader that fills the pool's own batches (no copy in indexed mode), or
 * batches the caller owns (copied once into the pool's batches, since the caller may reuse them).
 */
export type ReplaySource = BatchReader | AsyncIterable<PacketBatch> | Iterable<PacketBatch>;

function isReader(s: ReplaySource): s is BatchReader {
  return typeof (s as Partial<BatchReader>).read === 'function';
}

function toAsyncIterator(s: AsyncIterable<PacketBatch> | Iterable<PacketBatch>): AsyncIterator<PacketBatch> | Iterator<PacketBatch> {
  return Symbol.asyncIterator in s ? s[Symbol.asyncIterator]() : s[Symbol.iterator]();
}

/** The source as batches (a reader fills one reused batch). */
async function* batchesOf(source: ReplaySource, capacity: number, headBytes: number): AsyncGenerator<PacketBatch> {
  if (!isReader(source)) {
    yield* source;
    return;
  }
  const b = new PacketBatch(capacity, headBytes);
  let id = 0;
  for (;;) {
    const n = await source.read(b);
    if (n === 0) return;
    b.count = n;
    b.batchId = id++;
    yield b;
  }
}

/** Copies a whole batch: one memcpy when the shapes match, slot copies otherwise. */
function copyWhole(src: PacketBatch, dst: PacketBatch): void {
  if (src.capacity === dst.capacity && src.headBytes === dst.headBytes) {
    new Uint8Array(dst.buffer).set(new Uint8Array(src.buffer, 0, src.buffer.byteLength));
    return;
  }
  const n = src.count;
  for (let i = 0; i < n; i++) dst.copySlotFrom(src, i, i);
  dst.count = n;
}

export interface WorkerReport {
  readonly shard: number;
  readonly packets: number;
  readonly batches: number;
  /** ns the worker spent in its pipeline. */
  readonly busyNs: number;
  readonly affinity: AffinityReport;
}

export type ReplayMode = 'main-thread' | 'pinned' | 'unpinned' | 'shared-table';

export interface ReplayReport {
  /** True when the run was interrupted: the figures cover what was dispatched before that. */
  readonly partial: boolean;
  readonly mode: ReplayMode;
  readonly policy: string;
  readonly workers: number;
  readonly transfer: Transfer | 'none';
  readonly batchSize: number;
  readonly inFlight: number;
  readonly packets: number;
  /** From the first batch read to the last result merged (excludes thread start-up). */
  readonly wallNs: number;
  readonly startupNs: number;
  /**
   * Inside wallNs: from asking the workers for their results (every batch already run) to the
   * merged result: the workers building and sending their results, the main thread decoding and
   * merging them. A fixed cost per replay, growing with the workers and the models' result size
   * (per-rule counters of a big ruleset), that a short trace split over many workers does not
   * amortise.
   */
  readonly finishNs: number;
  readonly pps: number;
  /** Main-thread ns spent hashing and re-sharding (excluding waits for free batches). */
  readonly dispatchNs: number;
  readonly backpressureWaitNs: number;
  readonly backpressureStalls: number;
  readonly perWorker: readonly WorkerReport[];
  /** max / mean of per-worker packets (1 = even). */
  readonly imbalance: number;
  readonly stages: readonly StageResult[];
  readonly clocks: readonly StageClock[];
}

/** The compiled worker module (under vitest this file is the .ts source, the worker is in dist). */
export function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? resolve(dirname(here), '../../dist/src/harness/worker.js') : resolve(dirname(here), 'worker.js');
}

async function loadRegistry(stageModules: readonly string[]): Promise<StageRegistry> {
  const registry = builtinRegistry();
  for (const path of stageModules) {
    const mod = (await import(pathToFileURL(path).href)) as Partial<StageModule>;
    if (typeof mod.registerStages !== 'function') throw new UsageError(`${path} does not export registerStages(registry)`);
    mod.registerStages(registry);
  }
  return registry;
}

function validateStages(registry: StageRegistry, stages: readonly StageSpec[]): void {
  if (stages.length === 0) throw new UsageError('the pipeline has no stages');
  for (const s of stages) {
    if (!registry.has(s.name)) throw new UsageError(`unknown stage "${s.name}" (known: ${registry.names().join(', ')})`);
    try {
      registry.get(s.name).validate?.(s.config ?? {});
    } catch (err) {
      // A bad input file named in the configuration (a ruleset's file:line) stays an input error.
      if (err instanceof PktbenchError) throw err;
      throw new UsageError((err as Error).message);
    }
  }
}

function modeOf(config: ReplayConfig): ReplayMode {
  if (config.workers === 0) return 'main-thread';
  if (config.stages.some((s) => s.config?.shared === true)) return 'shared-table';
  return config.dispatch.policy === 'round-robin' ? 'unpinned' : 'pinned';
}

function imbalanceOf(values: readonly number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  return sum === 0 ? 1 : Math.max(...values) / (sum / values.length);
}

/** Latest packet time of the batch in ns from `originSec`. */
function lastNsOf(b: PacketBatch, originSec: number, prev: number): number {
  let m = prev;
  for (let i = 0; i < b.count; i++) {
    const t = b.timeNs(i, originSec);
    if (t > m) m = t;
  }
  return m;
}

/** Workers from which replay's default batch grows to LARGE_BATCH. */
export const LARGE_BATCH_FROM_WORKERS = 8;
export const LARGE_BATCH = 16384;

/**
 * replay's batch size when none is given: DEFAULT_BATCH_CAPACITY (4096), and LARGE_BATCH from
 * LARGE_BATCH_FROM_WORKERS workers on. Every batch costs the main thread one message per worker;
 * on a 16-core server, 16 workers on 4096-packet batches doubled its dispatch time a packet (124
 * vs 63 ns) and capped a light pipeline at 4.4 M packets/s, against 6.3 M with 16384.
 */
export function defaultBatchSize(workers: number): number {
  return workers >= LARGE_BATCH_FROM_WORKERS ? LARGE_BATCH : DEFAULT_BATCH_CAPACITY;
}

/** Runs a trace through the pipeline, in the main thread (workers 0) or on a pool. */
export async function replay(source: ReplaySource, config: ReplayConfig): Promise<ReplayReport> {
  if (!Number.isInteger(config.workers) || config.workers < 0 || config.workers > 1024) throw new UsageError(`workers must be 0..1024, got ${config.workers}`);
  const batchSize = config.batchSize ?? defaultBatchSize(config.workers);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1 << 20) throw new UsageError(`batch size must be 1..1048576, got ${batchSize}`);
  const inFlight = config.inFlight ?? 4;
  if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > MAX_IN_FLIGHT) throw new UsageError(`in-flight batches must be 1..${MAX_IN_FLIGHT}, got ${inFlight}`);
  if (config.pool && config.pool.size !== config.workers) throw new UsageError(`the worker pool has ${config.pool.size} threads, the replay asks for ${config.workers}`);
  const registry = await loadRegistry(config.stageModules ?? []);
  validateStages(registry, config.stages);
  return config.workers === 0 ? replayInline(source, config, registry, batchSize) : replayPool(source, config, registry, batchSize, inFlight);
}

async function replayInline(source: ReplaySource, config: ReplayConfig, registry: StageRegistry, batchSize: number): Promise<ReplayReport> {
  const shared = config.stages.map((s) => registry.get(s.name).createShared?.(s.config ?? {}, 1) ?? []);
  // A one-thread run has one shard; shared buffers of every stage are concatenated in order.
  const pipeline = Pipeline.build(registry, config.stages, { shard: 0, shards: 1, shared: shared.flat() }, { sampleEvery: config.sampleEvery ?? 64 });
  const t0 = performance.now();
  let originSec = NaN;
  let partial = false;
  for await (const b of batchesOf(source, batchSize, config.headBytes ?? DEFAULT_HEAD_BYTES)) {
    if (config.signal?.aborted) {
      partial = true;
      break;
    }
    if (b.count === 0) continue;
    if (Number.isNaN(originSec)) originSec = b.tsSec[0]!;
    pipeline.runBatch(b, originSec);
  }
  if (config.signal?.aborted) partial = true;
  pipeline.finish();
  const wallNs = (performance.now() - t0) * 1e6;
  const results = registry.mergeAll(config.stages, [pipeline.results()]);
  return {
    partial,
    mode: 'main-thread',
    policy: 'none',
    workers: 0,
    transfer: 'none',
    batchSize,
    inFlight: 0,
    packets: pipeline.packets,
    wallNs,
    startupNs: 0,
    finishNs: 0,
    pps: wallNs > 0 ? (pipeline.packets * 1e9) / wallNs : 0,
    dispatchNs: 0,
    backpressureWaitNs: 0,
    backpressureStalls: 0,
    perWorker: [{ shard: 0, packets: pipeline.packets, batches: 0, busyNs: pipeline.busyNs, affinity: { cpu: null, applied: false, tid: null, detail: 'main thread' } }],
    imbalance: 1,
    stages: results,
    clocks: pipeline.clocks(),
  };
}

interface Failure {
  readonly shard: number;
  readonly batchId: number;
  readonly firstFrame: number;
  readonly lastFrame: number;
  readonly message: string;
}

async function replayPool(source: ReplaySource, config: ReplayConfig, registry: StageRegistry, batchSize: number, inFlight: number): Promise<ReplayReport> {
  const workers = config.workers;
  const transfer = config.transfer ?? 'indexed';
  if (transfer !== 'indexed' && transfer !== 'copy') throw new UsageError(`transfer must be indexed or copy, got ${String(transfer)}`);
  const file = workerFile();
  if (!existsSync(file)) throw new RunFailure(`worker module ${file} is missing (run npm run build)`);
  let dispatcher: Dispatcher;
  try {
    dispatcher = new Dispatcher({ ...config.dispatch, cores: workers });
  } catch (err) {
    throw err instanceof RangeError ? new UsageError(`dispatch: ${err.message}`) : err;
  }
  let cpus: readonly number[] | null = null;
  if (config.pin === true) cpus = allowedCpus(availableParallelism());
  else if (Array.isArray(config.pin)) cpus = config.pin;
  if (cpus && cpus.length === 0) throw new UsageError('no CPU to pin workers to');

  const tStart = performance.now();
  // Threads of the caller's pool are kept (unless this replay fails); our own are ended.
  const kept = config.pool ?? null;
  kept?.acquire();
  const pools = kept ? kept.shards : Array.from({ length: workers }, () => newShard(file));
  let destroyed = false;
  let failedRun = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    if (kept) {
      kept.release();
      if (failedRun) await kept.close();
      return;
    }
    await Promise.allSettled(pools.map((p) => p.destroy()));
  };

  let failure: Failure | null = null;
  const fail = (f: Failure): void => {
    failure ??= f;
    failedRun = true;
  };
  const failed = (): RunFailure => {
    const f = failure!;
    return new RunFailure(`worker ${f.shard} failed on batch ${f.batchId} (frames ${f.firstFrame}..${f.lastFrame}): ${f.message}`);
  };

  try {
    const shared = config.stages.flatMap((s) => registry.get(s.name).createShared?.(s.config ?? {}, workers) ?? []);
    const affinities: AffinityReport[] = await Promise.all(
      pools.map(async (p, shard) => {
        const control: InitControl = {
          shard,
          shards: workers,
          stages: config.stages,
          stageModules: config.stageModules ?? [],
          pinCpu: cpus ? cpus[shard % cpus.length]! : null,
          sampleEvery: config.sampleEvery ?? 64,
        };
        const msg: TaskMessage = { kind: 'init', control: pack(control), shared };
        try {
          return unpack<{ affinity: AffinityReport }>((await p.run(msg)) as Uint8Array).affinity;
        } catch (err) {
          throw new RunFailure(`worker ${shard} failed to start: ${(err as Error).message}`);
        }
      }),
    );
    const startupNs = (performance.now() - tStart) * 1e6;

    const headBytes = config.headBytes ?? DEFAULT_HEAD_BYTES;
    const batchesSent = new Float64Array(workers);
    const counts = new Int32Array(workers);
    // A shard's stages (conntrack above all) must see its packets in trace order, and piscina does
    // not promise to start queued tasks in submission order: every batch carries its worker's
    // sequence number and the worker runs them in that order (worker.ts). Batches are posted as
    // soon as they are dispatched, so a worker finds its next batch waiting when it finishes one.
    const nextSeq = new Float64Array(workers);
    let nextBatchId = 0;
    let originSec = NaN;
    let lastNs = 0;
    let dispatchNs = 0;
    let waitNs = 0;
    let stalls = 0;
    let partial = false;
    let usedBatchSize = batchSize;
    const aborted = (): boolean => {
      if (config.signal?.aborted) partial = true;
      return partial;
    };
    const tRun = performance.now();

    if (transfer === 'copy') {
      // Re-shard: each worker gets its own batches, filled by column-wise copies.
      const rings = pools.map(() => new BatchRing(inFlight, batchSize, headBytes));
      const current = new Int32Array(workers);
      const fill = new Int32Array(workers);
      const index: Uint32Array[] = [];
      let indexCap = 0;
      for (let w = 0; w < workers; w++) current[w] = await rings[w]!.acquire();
      const submit = (w: number): void => {
        const ring = rings[w]!;
        const slot = current[w]!;
        const b = ring.batches[slot]!;
        b.count = fill[w]!;
        const batchId = nextBatchId++;
        b.batchId = batchId;
        const firstFrame = b.frameNo[0]!;
        const lastFrame = b.frameNo[fill[w]! - 1]!;
        const msg: TaskMessage = { kind: 'batch', seq: nextSeq[w]!++, slot, buffer: b.buffer, originSec };
        const done = pools[w]!.run(msg).then(
          () => undefined,
          (err: unknown) => fail({ shard: w, batchId, firstFrame, lastFrame, message: err instanceof Error ? err.message : String(err) }),
        );
        ring.launched(slot, done);
        batchesSent[w]! += 1;
        fill[w] = 0;
      };
      for await (const src of batchesOf(source, batchSize, headBytes)) {
        if (failure || aborted()) break;
        const n = src.count;
        if (n === 0) continue;
        const t0 = performance.now();
        let waited = 0;
        if (Number.isNaN(originSec)) originSec = src.tsSec[0]!;
        lastNs = lastNsOf(src, originSec, lastNs);
        if (indexCap < n) {
          indexCap = src.capacity;
          for (let w = 0; w < workers; w++) index[w] = new Uint32Array(indexCap);
        }
        counts.fill(0);
        dispatcher.assignBatch(src, 0, n, index, counts);
        for (let w = 0; w < workers && !failure; w++) {
          const ring = rings[w]!;
          const idx = index[w]!;
          const m = counts[w]!;
          let done = 0;
          while (done < m) {
            const take = Math.min(m - done, batchSize - fill[w]!);
            copySlots(src, ring.batches[current[w]!]!, idx, done, take, fill[w]!);
            done += take;
            fill[w]! += take;
            if (fill[w] === batchSize) {
              submit(w);
              const before = ring.waitedNs;
              current[w] = await ring.acquire();
              waited += ring.waitedNs - before;
              if (failure) break;
            }
          }
        }
        dispatchNs += (performance.now() - t0) * 1e6 - waited;
      }
      aborted();
      if (!failure) for (let w = 0; w < workers; w++) if (fill[w]! > 0) submit(w);
      await Promise.all(rings.map((r) => r.drain()));
      waitNs = rings.reduce((a, r) => a + r.waitedNs, 0);
      stalls = rings.reduce((a, r) => a + r.stalls, 0);
    } else {
      // Indexed: every worker reads its packets straight from the shared source batch, named by
      // an index list; a source batch is reused once all its workers are done with it.
      interface SourceSlot {
        /** Unique per buffer: workers cache their views by it. */
        id: number;
        batch: PacketBatch;
        indexBuffers: SharedArrayBuffer[];
        index: Uint32Array[];
        done: Promise<void> | null;
      }
      const slots: SourceSlot[] = [];
      let nextSlotId = 0;
      const makeSlot = (capacity: number, head: number): SourceSlot => {
        const indexBuffers = pools.map(() => new SharedArrayBuffer(capacity * 4));
        return { id: nextSlotId++, batch: new PacketBatch(capacity, head), indexBuffers, index: indexBuffers.map((buf) => new Uint32Array(buf)), done: null };
      };
      const reader = isReader(source) ? source : null;
      const iterator = reader ? null : toAsyncIterator(source as AsyncIterable<PacketBatch> | Iterable<PacketBatch>);
      let k = 0;
      while (!failure && !aborted()) {
        let slot = slots[k];
        if (slot?.done) {
          const t0 = performance.now();
          await slot.done;
          const w = (performance.now() - t0) * 1e6;
          if (w > 0) stalls++;
          waitNs += w;
          slot.done = null;
          if (failure) break;
        }
        let n: number;
        if (reader) {
          slot ??= slots[k] = makeSlot(batchSize, headBytes);
          n = await reader.read(slot.batch);
          if (n === 0 || aborted()) break;
          slot.batch.count = n;
        } else {
          const next = await iterator!.next();
          if (next.done || aborted()) break;
          const src = next.value;
          n = src.count;
          if (n === 0) continue;
          if (!slot || slot.batch.capacity < n) slot = slots[k] = makeSlot(src.capacity, src.headBytes);
          usedBatchSize = slot.batch.capacity;
          copyWhole(src, slot.batch);
        }
        const b = slot.batch;
        const t0 = performance.now();
        if (Number.isNaN(originSec)) originSec = b.tsSec[0]!;
        lastNs = lastNsOf(b, originSec, lastNs);
        counts.fill(0);
        dispatcher.assignBatch(b, 0, n, slot.index, counts);
        const batchId = nextBatchId++;
        b.batchId = batchId;
        const tasks: Promise<void>[] = [];
        for (let w = 0; w < workers; w++) {
          const count = counts[w]!;
          if (count === 0) continue;
          const idx = slot.index[w]!;
          const firstFrame = b.frameNo[idx[0]!]!;
          const lastFrame = b.frameNo[idx[count - 1]!]!;
          const msg: TaskMessage = { kind: 'indexed', seq: nextSeq[w]!++, slot: slot.id, buffer: b.buffer, indexSlot: slot.id, index: slot.indexBuffers[w]!, count, originSec };
          const done = pools[w]!.run(msg).then(
            () => undefined,
            (err: unknown) => fail({ shard: w, batchId, firstFrame, lastFrame, message: err instanceof Error ? err.message : String(err) }),
          );
          tasks.push(done);
          batchesSent[w]! += 1;
        }
        slot.done = Promise.all(tasks).then(() => undefined);
        dispatchNs += (performance.now() - t0) * 1e6;
        k = k + 1 === inFlight ? 0 : k + 1;
      }
      aborted();
      await Promise.all(slots.map((sl) => sl.done));
      if (iterator && partial) await iterator.return?.();
    }
    if (failure) throw failed();

    const tFinish = performance.now();
    const reports = await Promise.all(
      pools.map(async (p, shard) => {
        try {
          return unpack<ShardReport>((await p.run({ kind: 'finish', endNs: Number.isNaN(originSec) ? null : lastNs } satisfies TaskMessage)) as Uint8Array);
        } catch (err) {
          throw new RunFailure(`worker ${shard} failed while finishing: ${(err as Error).message}`);
        }
      }),
    );
    const stages = registry.mergeAll(config.stages, reports.map((r) => r.results));
    const tEnd = performance.now();
    const wallNs = (tEnd - tRun) * 1e6;
    const finishNs = (tEnd - tFinish) * 1e6;
    const packets = reports.reduce((a, r) => a + r.packets, 0);
    const perWorker = reports.map((r, k) => ({ shard: k, packets: r.packets, batches: batchesSent[k]!, busyNs: r.busyNs, affinity: affinities[k]! }));
    return {
      partial,
      mode: modeOf(config),
      policy: dispatcher.policy,
      workers,
      transfer,
      batchSize: usedBatchSize,
      inFlight,
      packets,
      wallNs,
      startupNs,
      finishNs,
      pps: wallNs > 0 ? (packets * 1e9) / wallNs : 0,
      dispatchNs,
      backpressureWaitNs: waitNs,
      backpressureStalls: stalls,
      perWorker,
      imbalance: imbalanceOf(perWorker.map((w) => w.packets)),
      stages,
      clocks: mergeClocks(reports.map((r) => r.clocks)),
    };
  } catch (err) {
    failedRun = true;
    throw err;
  } finally {
    await destroy();
  }
}
