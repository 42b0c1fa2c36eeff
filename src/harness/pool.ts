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
import { DEFAULT_BATCH_CAPACITY, DEFAULT_HEAD_BYTES, type PacketBatch } from '../trace/batch.js';
import { allowedCpus } from './affinity.js';
import { BatchRing } from './backpressure.js';
import { copySlots } from './reshard.js';
import { pack, unpack, type AffinityReport, type BatchDone, type InitControl, type ShardReport, type TaskMessage } from './messages.js';

export interface ReplayConfig {
  /** Worker threads; 0 runs the pipeline in the main thread (the one-thread reference). */
  readonly workers: number;
  /** Dispatch policy and RETA/RPS options; `cores` is the worker count. */
  readonly dispatch: Omit<DispatchConfig, 'cores'>;
  readonly stages: readonly StageSpec[];
  /** Packets per worker batch (default 4096). */
  readonly batchSize?: number;
  /** Batches in flight per worker (default 4). */
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
  readonly batchSize: number;
  readonly inFlight: number;
  readonly packets: number;
  /** From the first batch read to the last result merged (excludes thread start-up). */
  readonly wallNs: number;
  readonly startupNs: number;
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

/** Runs a trace through the pipeline, in the main thread (workers 0) or on a pool. */
export async function replay(source: AsyncIterable<PacketBatch> | Iterable<PacketBatch>, config: ReplayConfig): Promise<ReplayReport> {
  if (!Number.isInteger(config.workers) || config.workers < 0 || config.workers > 1024) throw new UsageError(`workers must be 0..1024, got ${config.workers}`);
  const batchSize = config.batchSize ?? DEFAULT_BATCH_CAPACITY;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1 << 20) throw new UsageError(`batch size must be 1..1048576, got ${batchSize}`);
  const inFlight = config.inFlight ?? 4;
  if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > 1024) throw new UsageError(`in-flight batches must be 1..1024, got ${inFlight}`);
  const registry = await loadRegistry(config.stageModules ?? []);
  validateStages(registry, config.stages);
  return config.workers === 0 ? replayInline(source, config, registry, batchSize) : replayPool(source, config, registry, batchSize, inFlight);
}

async function replayInline(source: AsyncIterable<PacketBatch> | Iterable<PacketBatch>, config: ReplayConfig, registry: StageRegistry, batchSize: number): Promise<ReplayReport> {
  const shared = config.stages.map((s) => registry.get(s.name).createShared?.(s.config ?? {}, 1) ?? []);
  // A one-thread run has one shard; shared buffers of every stage are concatenated in order.
  const pipeline = Pipeline.build(registry, config.stages, { shard: 0, shards: 1, shared: shared.flat() }, { sampleEvery: config.sampleEvery ?? 64 });
  const t0 = performance.now();
  let originSec = NaN;
  let partial = false;
  for await (const b of source) {
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
    batchSize,
    inFlight: 0,
    packets: pipeline.packets,
    wallNs,
    startupNs: 0,
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

async function replayPool(source: AsyncIterable<PacketBatch> | Iterable<PacketBatch>, config: ReplayConfig, registry: StageRegistry, batchSize: number, inFlight: number): Promise<ReplayReport> {
  const workers = config.workers;
  const file = workerFile();
  if (!existsSync(file)) throw new RunFailure(`worker module ${file} is missing (run npm run build)`);
  const dispatcher = new Dispatcher({ ...config.dispatch, cores: workers });
  let cpus: readonly number[] | null = null;
  if (config.pin === true) cpus = allowedCpus(availableParallelism());
  else if (Array.isArray(config.pin)) cpus = config.pin;
  if (cpus && cpus.length === 0) throw new UsageError('no CPU to pin workers to');

  const tStart = performance.now();
  const pools = Array.from({ length: workers }, () => new Piscina({ filename: pathToFileURL(file).href, minThreads: 1, maxThreads: 1, idleTimeout: Number.MAX_SAFE_INTEGER, concurrentTasksPerWorker: 1 }));
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    await Promise.allSettled(pools.map((p) => p.destroy()));
  };

  let failure: Failure | null = null;
  const fail = (f: Failure): void => {
    failure ??= f;
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
    const rings = pools.map(() => new BatchRing(inFlight, batchSize, headBytes));
    const current = new Int32Array(workers);
    const fill = new Int32Array(workers);
    const batchesSent = new Float64Array(workers);
    const processed = new Float64Array(workers);
    let nextBatchId = 0;
    let originSec = NaN;
    let lastNs = 0;
    let dispatchNs = 0;
    let partial = false;

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
      const msg: TaskMessage = { kind: 'batch', slot, buffer: b.buffer, originSec };
      const done = pools[w]!.run(msg).then(
        (bytes) => {
          processed[w]! += unpack<BatchDone>(bytes as Uint8Array).packets;
        },
        (err: unknown) => fail({ shard: w, batchId, firstFrame, lastFrame, message: err instanceof Error ? err.message : String(err) }),
      );
      ring.launched(slot, done);
      batchesSent[w]! += 1;
      fill[w] = 0;
    };

    const index: Uint32Array[] = [];
    const counts = new Int32Array(workers);
    let indexCap = 0;
    const tRun = performance.now();
    for await (const src of source) {
      if (failure) break;
      if (config.signal?.aborted) {
        partial = true;
        break;
      }
      const n = src.count;
      if (n === 0) continue;
      const t0 = performance.now();
      let waited = 0;
      if (Number.isNaN(originSec)) originSec = src.tsSec[0]!;
      lastNs = lastNsOf(src, originSec, lastNs);
      // Pass 1: the worker of every packet, as per-worker index lists.
      if (indexCap < n) {
        indexCap = src.capacity;
        for (let w = 0; w < workers; w++) index[w] = new Uint32Array(indexCap);
      }
      counts.fill(0);
      for (let i = 0; i < n; i++) {
        const w = dispatcher.assign(src, i);
        index[w]![counts[w]!++] = i;
      }
      // Pass 2: copy each worker's packets column by column, handing over full batches.
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
    if (config.signal?.aborted) partial = true;
    if (!failure) for (let w = 0; w < workers; w++) if (fill[w]! > 0) submit(w);
    await Promise.all(rings.map((r) => r.drain()));
    if (failure) throw failed();

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
    const wallNs = (performance.now() - tRun) * 1e6;
    const packets = reports.reduce((a, r) => a + r.packets, 0);
    const perWorker = reports.map((r, k) => ({ shard: k, packets: r.packets, batches: batchesSent[k]!, busyNs: r.busyNs, affinity: affinities[k]! }));
    return {
      partial,
      mode: modeOf(config),
      policy: dispatcher.policy,
      workers,
      batchSize,
      inFlight,
      packets,
      wallNs,
      startupNs,
      pps: wallNs > 0 ? (packets * 1e9) / wallNs : 0,
      dispatchNs,
      backpressureWaitNs: rings.reduce((a, r) => a + r.waitedNs, 0),
      backpressureStalls: rings.reduce((a, r) => a + r.stalls, 0),
      perWorker,
      imbalance: imbalanceOf(perWorker.map((w) => w.packets)),
      stages,
      clocks: mergeClocks(reports.map((r) => r.clocks)),
    };
  } finally {
    await destroy();
  }
}
