import type { PacketBatch } from '../trace/batch.js';

/**
 * One step of the per-packet path (conntrack in, rule hooks, conntrack confirm, shaper).
 *
 * The pipeline walks each packet through all stages before the next packet, as the kernel does:
 * a later packet of a flow must see what an earlier one did (a confirmed connection, a saved
 * connmark). A stage reads and writes the packet's slots in the batch and keeps its own
 * counters; it allocates nothing per packet. A stage skips packets whose verdict is already DROP.
 */
export interface PipelineStage {
  readonly name: string;
  /** Handles packet i of the batch. `nowNs` is the packet's trace time in ns from the trace's first second. */
  packet(batch: PacketBatch, i: number, nowNs: number): void;
  /**
   * Optional: called for a run of packets before any of them goes through `packet`: work that
   * depends on nothing an earlier packet changes (hashing tuples, warming the cache lines the
   * per-packet walk will read). The packets are slots `index[from..to)` (`index` null: slots
   * from..to). Must not change anything `packet` would observe differently; a stage whose
   * `packet` runs without a preceding `prepare` behaves the same.
   */
  prepare?(batch: PacketBatch, index: Uint32Array | null, from: number, to: number): void;
  /** Called once after the last packet (e.g. to expire timers up to the trace's end). */
  finish?(endNs: number): void;
}
