/**
 * Flow accounting stage: packets and bytes per 5-tuple (l3, protocol, addresses, ports; one
 * direction per flow, as `conntrack -L` counters are per direction) in a typed-array hash table,
 * and the top flows by bytes. Non-IP packets are counted apart. Packets already dropped by an
 * earlier stage are skipped (and counted as such), per the PipelineStage contract.
 *
 * Shared-table mode (`shared: true`): one table in a SharedArrayBuffer for all workers, updated
 * under Atomics locks (src/cores/flow-table.ts); only shard 0 reports the table contents so the
 * merge counts every flow once.
 */
import { FLOW_KEY_WORDS, FlowTable } from '../cores/flow-table.js';
import { Verdict, type PacketBatch } from '../trace/batch.js';
import type { MergeableStage, StageContext, StageFactory } from './registry.js';
import type { StageResult } from './result.js';
import { formatAddress } from '../net/address-text.js';

export const FLOW_ACCOUNTING = 'flow-accounting';

export interface FlowAccountingConfig {
  /** Flows the table holds (rounded up to a power of two; 7/8 usable). Default 65536. */
  capacity: number;
  /** One table shared by all workers (Atomics locking) instead of one per worker. */
  shared: boolean;
  /** Flows listed in the merged result. Default 10. */
  top: number;
}

export interface FlowRow {
  readonly l3: number;
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly packets: number;
  readonly bytes: number;
}

/** Shard data: the flows as raw typed-array bytes (msgpack carries Uint8Array as binary). */
interface ShardData {
  readonly keys: Uint8Array;
  readonly packets: Uint8Array;
  readonly bytes: Uint8Array;
  readonly top: number;
}

/** Merged data. */
export interface FlowAccountingData {
  readonly flows: number;
  readonly top: readonly FlowRow[];
}

export function flowAccountingConfig(raw: Record<string, unknown>): FlowAccountingConfig {
  const capacity = raw.capacity ?? 65536;
  const top = raw.top ?? 10;
  const shared = raw.shared ?? false;
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 2 || capacity > 1 << 26) throw new RangeError(`flow-accounting capacity must be 2..67108864, got ${String(capacity)}`);
  if (typeof top !== 'number' || !Number.isInteger(top) || top < 0) throw new RangeError(`flow-accounting top must be a whole number, got ${String(top)}`);
  if (typeof shared !== 'boolean') throw new RangeError('flow-accounting shared must be true or false');
  return { capacity, shared, top };
}

class FlowAccountingStage implements MergeableStage {
  readonly name = FLOW_ACCOUNTING;
  private packets = 0;
  private bytes = 0;
  private nonIpPackets = 0;
  private nonIpBytes = 0;
  private skippedDropped = 0;

  constructor(private readonly table: FlowTable, private readonly reportsTable: boolean, private readonly top: number, private readonly shard: number) {}

  packet(b: PacketBatch, i: number): void {
    if (b.verdict[i] === Verdict.DROP) {
      this.skippedDropped++;
      return;
    }
    const len = b.wireLen[i]!;
    this.packets++;
    this.bytes += len;
    const l3 = b.l3[i]!;
    if (l3 === 0) {
      this.nonIpPackets++;
      this.nonIpBytes += len;
      return;
    }
    this.table.setKey(l3, b.proto[i]!, b.src, b.dst, i * 4, b.sport[i]!, b.dport[i]!, false);
    this.table.add(len, this.shard);
  }

  snapshot(): StageResult {
    const counters = {
      packets: this.packets,
      bytes: this.bytes,
      nonIpPackets: this.nonIpPackets,
      nonIpBytes: this.nonIpBytes,
      skippedDropped: this.skippedDropped,
      overflowPackets: this.table.overflowPackets,
      overflowBytes: this.table.overflowBytes,
    };
    const empty = new Uint8Array(0);
    if (!this.reportsTable) return { stage: this.name, counters, data: { keys: empty, packets: empty, bytes: empty, top: this.top } satisfies ShardData };
    const t = this.table.extract();
    const data: ShardData = { keys: bytesOf(t.keys), packets: bytesOf(t.packets), bytes: bytesOf(t.bytes), top: this.top };
    return { stage: this.name, counters, data };
  }
}

function bytesOf(a: Uint32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Copies (msgpack may hand back an unaligned view) and reinterprets. */
function u32Of(u8: Uint8Array): Uint32Array {
  return new Uint32Array(u8.slice().buffer);
}
function f64Of(u8: Uint8Array): Float64Array {
  return new Float64Array(u8.slice().buffer);
}

function isShardData(d: unknown): d is ShardData {
  return typeof d === 'object' && d !== null && 'keys' in d && d.keys instanceof Uint8Array && 'packets' in d && 'bytes' in d;
}

export { formatAddress };

function mergeFlowAccounting(results: readonly StageResult[]): StageResult {
  const counters: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.counters)) counters[k] = (counters[k] ?? 0) + v;
  // Combine by key in a table of the same kind the shards count in: with per-flow pinning shards
  // hold disjoint flows; with round-robin a flow's packets are spread over shards and add up here.
  // (A string key per flow made this merge cost ~100 ms a replay at 20k flows.)
  const shards: { keys: Uint32Array; packets: Float64Array; bytes: Float64Array }[] = [];
  let top = 10;
  let total = 0;
  for (const r of results) {
    if (!isShardData(r.data)) throw new Error('flow-accounting result without its flow table');
    top = r.data.top;
    const shard = { keys: u32Of(r.data.keys), packets: f64Of(r.data.packets), bytes: f64Of(r.data.bytes) };
    shards.push(shard);
    total += shard.packets.length;
  }
  // 7/8 of a table's slots are usable: twice the flows always fit.
  const table = FlowTable.create(Math.max(2, total * 2), false);
  for (const shard of shards) {
    for (let f = 0; f < shard.packets.length; f++) {
      table.setKeyWords(shard.keys, f * FLOW_KEY_WORDS);
      table.addPackets(shard.packets[f]!, shard.bytes[f]!, 0);
    }
  }
  const merged = table.extract();
  const data: FlowAccountingData = {
    flows: merged.packets.length,
    top: topFlows(merged, top).map((f) => {
      const k = merged.keys.subarray(f * FLOW_KEY_WORDS, (f + 1) * FLOW_KEY_WORDS);
      return {
        l3: k[0]! & 0xff,
        proto: k[0]! >>> 8,
        src: formatAddress(k[0]! & 0xff, k, 1),
        dst: formatAddress(k[0]! & 0xff, k, 5),
        sport: k[9]! >>> 16,
        dport: k[9]! & 0xffff,
        packets: merged.packets[f]!,
        bytes: merged.bytes[f]!,
      };
    }),
  };
  return { stage: FLOW_ACCOUNTING, counters, data };
}

/**
 * The indexes of the `count` first flows in the order bytes, then packets (both descending),
 * then key words (ascending): a partial insertion sort, O(flows x count), no sort of every flow.
 */
function topFlows(t: { keys: Uint32Array; packets: Float64Array; bytes: Float64Array }, count: number): number[] {
  const before = (a: number, b: number): boolean => {
    if (t.bytes[a] !== t.bytes[b]) return t.bytes[a]! > t.bytes[b]!;
    if (t.packets[a] !== t.packets[b]) return t.packets[a]! > t.packets[b]!;
    return compareKeys(t.keys.subarray(a * FLOW_KEY_WORDS, (a + 1) * FLOW_KEY_WORDS), t.keys.subarray(b * FLOW_KEY_WORDS, (b + 1) * FLOW_KEY_WORDS)) < 0;
  };
  const best: number[] = [];
  if (count <= 0) return best;
  for (let f = 0; f < t.packets.length; f++) {
    if (best.length === count && !before(f, best[count - 1]!)) continue;
    let at = best.length < count ? best.length : count - 1;
    while (at > 0 && before(f, best[at - 1]!)) {
      best[at] = best[at - 1]!;
      at--;
    }
    best[at] = f;
  }
  return best;
}

function compareKeys(a: Uint32Array, b: Uint32Array): number {
  for (let w = 0; w < FLOW_KEY_WORDS; w++) if (a[w] !== b[w]) return a[w]! - b[w]!;
  return 0;
}

export const flowAccountingFactory: StageFactory = {
  name: FLOW_ACCOUNTING,
  description: 'packets and bytes per 5-tuple, top flows by bytes (config: capacity, shared, top)',
  validate: (raw) => void flowAccountingConfig(raw),
  createShared(raw) {
    const c = flowAccountingConfig(raw);
    return c.shared ? [FlowTable.create(c.capacity, true).buffer as SharedArrayBuffer] : [];
  },
  create(raw, ctx: StageContext) {
    const c = flowAccountingConfig(raw);
    if (c.shared) {
      const buf = ctx.shared[0];
      if (!buf) throw new Error('flow-accounting in shared mode needs its shared table');
      return new FlowAccountingStage(new FlowTable(buf), ctx.shard === 0, c.top, ctx.shard);
    }
    return new FlowAccountingStage(FlowTable.create(c.capacity, false), true, c.top, ctx.shard);
  },
  merge: mergeFlowAccounting,
};
