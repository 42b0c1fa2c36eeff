/**
 * Bounded batches in flight per worker: each worker owns `depth` batch buffers. The dispatcher
 * fills one; when it is full it is handed to the worker and the next free buffer is taken; when
 * none is free the dispatcher waits for the worker's oldest batch to come back. Memory stays at
 * workers x depth batches whatever the trace size, and a slow worker slows the reader instead of
 * piling up batches.
 */
import { PacketBatch } from '../trace/batch.js';

export interface InFlight {
  readonly slot: number;
  readonly done: Promise<void>;
}

export class BatchRing {
  readonly batches: PacketBatch[];
  private readonly free: number[];
  private readonly flying: InFlight[] = [];
  /** ns the dispatcher spent waiting for a free buffer (backpressure). */
  waitedNs = 0;
  /** Times the dispatcher had to wait. */
  stalls = 0;

  constructor(depth: number, capacity: number, headBytes: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`in-flight depth must be at least 1, got ${depth}`);
    this.batches = Array.from({ length: depth }, () => new PacketBatch(capacity, headBytes));
    this.free = this.batches.map((_, k) => depth - 1 - k);
  }

  get inFlight(): number {
    return this.flying.length;
  }

  /** A free buffer's slot, waiting for the oldest in-flight batch when all are out. */
  async acquire(): Promise<number> {
    while (this.free.length === 0) {
      const oldest = this.flying.shift()!;
      const t0 = performance.now();
      this.stalls++;
      await oldest.done;
      this.waitedNs += (performance.now() - t0) * 1e6;
      this.free.push(oldest.slot);
    }
    return this.free.pop()!;
  }

  /** Records a batch handed to the worker; `done` settles when the worker is finished with it. */
  launched(slot: number, done: Promise<void>): void {
    this.flying.push({ slot, done });
  }

  /** Waits for every batch in flight. */
  async drain(): Promise<void> {
    while (this.flying.length > 0) {
      const f = this.flying.shift()!;
      await f.done;
      this.free.push(f.slot);
    }
  }
}
