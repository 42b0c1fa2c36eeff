/**
 * What travels between the main thread and a worker. Batches travel as SharedArrayBuffers (no
 * copy: the worker builds typed-array views over the same memory); control and results travel
 * as msgpack (@msgpack/msgpack), which carries the stages' plain-data results and their
 * Uint8Array tables as binary.
 */
import { decode, encode } from '@msgpack/msgpack';
import type { StageSpec } from '../pipeline/registry.js';
import type { StageClock, StageResult } from '../pipeline/result.js';

export interface InitControl {
  readonly shard: number;
  readonly shards: number;
  readonly stages: readonly StageSpec[];
  /** Absolute paths of modules exporting registerStages(registry), loaded before building. */
  readonly stageModules: readonly string[];
  /** CPU to pin this worker's thread to, or null. */
  readonly pinCpu: number | null;
  readonly sampleEvery: number;
}

export interface AffinityReport {
  readonly cpu: number | null;
  readonly applied: boolean;
  /** Thread id the pin applied to (Linux), or why nothing was applied. */
  readonly tid: number | null;
  readonly detail: string;
}

export interface BatchDone {
  readonly packets: number;
  readonly busyNs: number;
}

export interface ShardReport {
  readonly shard: number;
  readonly packets: number;
  readonly busyNs: number;
  readonly results: StageResult[];
  readonly clocks: StageClock[];
  readonly affinity: AffinityReport;
}

export type TaskMessage =
  | { readonly kind: 'init'; readonly control: Uint8Array; readonly shared: readonly SharedArrayBuffer[] }
  /**
   * `slot` names the pool's batch buffer so the worker reuses its views over it. `seq` numbers a
   * worker's batches 0, 1, 2...: the worker runs them in that order whatever order they arrive in.
   */
  | { readonly kind: 'batch'; readonly seq: number; readonly slot: number; readonly buffer: SharedArrayBuffer; readonly originSec: number }
  /**
   * Indexed transfer: the packets `index[0..count)` of a source batch that several workers share
   * (no re-sharding copy). `indexSlot` names the index buffer for view reuse.
   */
  | { readonly kind: 'indexed'; readonly seq: number; readonly slot: number; readonly buffer: SharedArrayBuffer; readonly indexSlot: number; readonly index: SharedArrayBuffer; readonly count: number; readonly originSec: number }
  | { readonly kind: 'finish'; readonly endNs: number | null };

export function pack(value: unknown): Uint8Array {
  return encode(value);
}

/** msgpack decode; the caller names the expected shape (the worker and pool are one program). */
export function unpack<T>(bytes: Uint8Array): T {
  return decode(bytes) as T;
}
