/**
 * The merge contract between workers and the main thread.
 *
 * Every stage of a worker's shard returns a StageResult from `snapshot()`: plain data that
 * msgpack carries (numbers, strings, arrays, Uint8Array, plain objects). The main thread merges
 * the per-worker results of one stage with that stage's `merge`, which must be exact: merging the
 * shards of a trace gives what one thread running the whole trace would have given (counters
 * add; tables keyed by flow or rule combine by key).
 */
export interface StageResult {
  /** Stage name (the registry key). */
  readonly stage: string;
  /** Additive counters: merged by summing. */
  readonly counters: Readonly<Record<string, number>>;
  /** Stage-specific data merged by the stage's own `merge` (absent for pure counter stages). */
  readonly data?: unknown;
}

/** Sums counters key by key (the default merge, exact for integers below 2^53). */
export function sumCounters(results: readonly StageResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.counters)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Per-stage figures the pipeline keeps around each stage. */
export interface StageClock {
  readonly stage: string;
  /** Packets handed to the stage. */
  readonly packets: number;
  /**
   * Estimated ns in the stage: every `sampleEvery`-th packet is timed stage by stage and the
   * time scaled up by packets / sampled (timing every packet would cost more than most stages),
   * plus the stage's `prepare` time, which is timed whole.
   */
  readonly estimatedNs: number;
  readonly sampledPackets: number;
}

export function mergeClocks(perWorker: readonly (readonly StageClock[])[]): StageClock[] {
  const by = new Map<string, { packets: number; estimatedNs: number; sampledPackets: number }>();
  const order: string[] = [];
  for (const clocks of perWorker) {
    for (const c of clocks) {
      let m = by.get(c.stage);
      if (!m) {
        m = { packets: 0, estimatedNs: 0, sampledPackets: 0 };
        by.set(c.stage, m);
        order.push(c.stage);
      }
      m.packets += c.packets;
      m.estimatedNs += c.estimatedNs;
      m.sampledPackets += c.sampledPackets;
    }
  }
  return order.map((stage) => ({ stage, ...by.get(stage)! }));
}
