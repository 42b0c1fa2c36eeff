/**
 * A CPU-heavy stand-in stage for benchmarks: `rounds` Toeplitz hashes per packet chained over
 * the packet's tuple (about what a conntrack lookup plus a short rule chain costs at ~20 rounds).
 * Its counters are exact and additive, so it also checks that every packet was processed once:
 * the sums of the 16-bit halves of each packet's final hash.
 */
import { MICROSOFT_RSS_KEY, ToeplitzKey } from '../hash/toeplitz.js';
import type { PacketBatch } from '../trace/batch.js';
import type { MergeableStage, StageFactory } from './registry.js';
import { sumCounters, type StageResult } from './result.js';

export const HASH_WORK = 'hash-work';
const key = new ToeplitzKey(MICROSOFT_RSS_KEY);

export function hashWorkRounds(raw: Record<string, unknown>): number {
  const rounds = raw.rounds ?? 20;
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1 || rounds > 1_000_000) throw new RangeError(`hash-work rounds must be 1..1000000, got ${String(rounds)}`);
  return rounds;
}

/** The final hash hash-work computes for packet i (exported for tests). */
export function hashWorkValue(b: PacketBatch, i: number, rounds: number): number {
  let h = 0;
  const s = b.src[i * 4]!;
  const d = b.dst[i * 4]!;
  const sp = b.sport[i]!;
  const dp = b.dport[i]!;
  for (let r = 0; r < rounds; r++) h = key.hashV4((s ^ h) >>> 0, d, sp, dp, true);
  return h;
}

class HashWorkStage implements MergeableStage {
  readonly name = HASH_WORK;
  private packets = 0;
  private sumLow = 0;
  private sumHigh = 0;

  constructor(private readonly rounds: number) {}

  packet(b: PacketBatch, i: number): void {
    const h = hashWorkValue(b, i, this.rounds);
    this.packets++;
    this.sumLow += h & 0xffff;
    this.sumHigh += h >>> 16;
  }

  snapshot(): StageResult {
    return { stage: this.name, counters: { packets: this.packets, hashSumLow: this.sumLow, hashSumHigh: this.sumHigh } };
  }
}

export const hashWorkFactory: StageFactory = {
  name: HASH_WORK,
  description: 'CPU-heavy benchmark stand-in: `rounds` chained Toeplitz hashes per packet (config: rounds)',
  validate: (raw) => void hashWorkRounds(raw),
  create: (raw) => new HashWorkStage(hashWorkRounds(raw)),
  merge: (results) => ({ stage: HASH_WORK, counters: sumCounters(results) }),
};
