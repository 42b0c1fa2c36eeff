/**
 * One shard's pipeline: the stages in order, each packet through all of them before the next
 * (as the kernel does; a later packet must see what an earlier one did), with per-stage packet
 * counts and sampled per-stage clocks.
 */
import type { PacketBatch } from '../trace/batch.js';
import type { StageClock, StageResult } from './result.js';
import type { MergeableStage, StageContext, StageRegistry, StageSpec } from './registry.js';

export type Clock = () => number;

/**
 * Packets per `prepare` run: large enough that the prepared loads overlap, small enough that
 * what they warm is still in L1/L2 when the per-packet walk reaches it.
 */
export const PREPARE_RUN = 128;

/** performance.now() in ns (monotonic, sub-microsecond on Linux). */
export const nowNs: Clock = () => performance.now() * 1e6;

export class Pipeline {
  readonly stages: readonly MergeableStage[];
  private readonly stagePackets: Float64Array;
  private readonly stageNs: Float64Array;
  private readonly stageSampled: Float64Array;
  /** ns in each stage's `prepare` (timed whole: one clock pair per run, not per packet). */
  private readonly stagePrepareNs: Float64Array;
  /** The stages that have a `prepare`, with their index. */
  private readonly preparing: readonly { stage: MergeableStage; index: number }[];
  private readonly sampleEvery: number;
  private untilSample: number;
  /** Packets run through the pipeline. */
  packets = 0;
  /** ns spent in runBatch (the shard's busy time). */
  busyNs = 0;
  private endNs = 0;

  constructor(stages: readonly MergeableStage[], options: { sampleEvery?: number; clock?: Clock } = {}) {
    this.stages = stages;
    const n = stages.length;
    this.stagePackets = new Float64Array(n);
    this.stageNs = new Float64Array(n);
    this.stageSampled = new Float64Array(n);
    this.stagePrepareNs = new Float64Array(n);
    this.preparing = stages.flatMap((stage, index) => (stage.prepare ? [{ stage, index }] : []));
    this.sampleEvery = Math.max(1, options.sampleEvery ?? 64);
    this.untilSample = this.sampleEvery;
    this.clock = options.clock ?? nowNs;
  }

  private readonly clock: Clock;

  /** Builds the stages of `specs` from the registry for one shard. */
  static build(registry: StageRegistry, specs: readonly StageSpec[], context: StageContext, options: { sampleEvery?: number; clock?: Clock } = {}): Pipeline {
    return new Pipeline(specs.map((s) => registry.get(s.name).create(s.config ?? {}, context)), options);
  }

  /** Runs every packet of the batch through the stages; `originSec` is the trace's first second. */
  runBatch(b: PacketBatch, originSec: number): void {
    this.run(b, null, b.count, originSec);
  }

  /**
   * Runs the packets `index[0..count)` of a batch shared with other workers (each worker takes
   * its own packets of the same batch; they write only their own slots).
   */
  runIndexed(b: PacketBatch, index: Uint32Array, count: number, originSec: number): void {
    this.run(b, index, count, originSec);
  }

  private run(b: PacketBatch, index: Uint32Array | null, n: number, originSec: number): void {
    const clock = this.clock;
    const started = clock();
    const stages = this.stages;
    const ns = stages.length;
    const preparing = this.preparing;
    for (let j = 0; j < n; j++) {
      if (j % PREPARE_RUN === 0 && preparing.length > 0) {
        const to = Math.min(n, j + PREPARE_RUN);
        for (const p of preparing) {
          const t0 = clock();
          p.stage.prepare!(b, index, j, to);
          this.stagePrepareNs[p.index]! += clock() - t0;
        }
      }
      const i = index === null ? j : index[j]!;
      const now = b.timeNs(i, originSec);
      if (now > this.endNs) this.endNs = now;
      if (--this.untilSample === 0) {
        this.untilSample = this.sampleEvery;
        let t0 = clock();
        for (let s = 0; s < ns; s++) {
          stages[s]!.packet(b, i, now);
          const t1 = clock();
          this.stageNs[s]! += t1 - t0;
          this.stageSampled[s]! += 1;
          t0 = t1;
        }
      } else {
        for (let s = 0; s < ns; s++) stages[s]!.packet(b, i, now);
      }
    }
    for (let s = 0; s < ns; s++) this.stagePackets[s]! += n;
    this.packets += n;
    this.busyNs += clock() - started;
  }

  /** Lets the stages finish (timers up to the trace's end). `endNs` defaults to the last packet seen. */
  finish(endNs: number = this.endNs): void {
    const t0 = this.clock();
    for (const s of this.stages) s.finish?.(endNs);
    this.busyNs += this.clock() - t0;
  }

  results(): StageResult[] {
    return this.stages.map((s) => s.snapshot());
  }

  clocks(): StageClock[] {
    return this.stages.map((s, k) => {
      const sampled = this.stageSampled[k]!;
      const packets = this.stagePackets[k]!;
      const perPacket = sampled > 0 ? (this.stageNs[k]! * packets) / sampled : 0;
      return { stage: s.name, packets, sampledPackets: sampled, estimatedNs: perPacket + this.stagePrepareNs[k]! };
    });
  }
}
