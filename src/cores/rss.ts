/**
 * The RSS indirection table (RETA) and RPS, as the NIC and the kernel map a flow hash to a queue
 * and a CPU (Documentation/networking/scaling.rst; kernel-reference §6.4, §6.6).
 *
 * - RETA: queue = table[hash & (size - 1)] (the low-order hash bits index it). The fills mirror
 *   ethtool's `fill_indir_table` (ethtool.c): `equal N [start S]` puts S + i % N in entry i (this is
 *   also the kernel's default, `ethtool_rxfh_indir_default`), `weight W0 W1 ... [start S]` gives
 *   queue j a contiguous run of entries proportional to Wj.
 * - RPS: `get_rps_cpu` (net/core/dev.c) picks cpus[reciprocal_scale(hash, len)] from the RX
 *   queue's rps_cpus list.
 */

import { reciprocalScale } from '../conntrack/tuple.js';

/** `reciprocal_scale(val, ep_ro)` (include/linux/kernel.h), the one conntrack uses too. */
export { reciprocalScale };

export const DEFAULT_RETA_SIZE = 128;

export class Reta {
  /** Queue per entry. */
  readonly table: Uint16Array;
  private readonly mask: number;

  private constructor(table: Uint16Array) {
    this.table = table;
    this.mask = table.length - 1;
  }

  /** `ethtool -X dev equal N [start S]`: entry i -> S + i mod N. */
  static equal(queues: number, size = DEFAULT_RETA_SIZE, start = 0): Reta {
    checkSize(size);
    if (!Number.isInteger(queues) || queues < 1 || queues > 0xffff) throw new RangeError(`queue count must be 1..65535, got ${queues}`);
    if (!Number.isInteger(start) || start < 0 || start + queues > 0x10000) throw new RangeError(`start queue out of range: ${start}`);
    const t = new Uint16Array(size);
    for (let i = 0; i < size; i++) t[i] = start + (i % queues);
    return new Reta(t);
  }

  /**
   * `ethtool -X dev weight W0 W1 ... [start S]`: while i >= size * partial / sum (integer
   * division) move to the next queue and add its weight to partial. Refuses, like ethtool, an
   * all-zero weight list and a total above the table size.
   */
  static weight(weights: readonly number[], size = DEFAULT_RETA_SIZE, start = 0): Reta {
    checkSize(size);
    let sum = 0;
    for (const w of weights) {
      if (!Number.isInteger(w) || w < 0) throw new RangeError(`weights must be whole numbers >= 0, got ${w}`);
      sum += w;
    }
    if (sum === 0) throw new RangeError('At least one weight must be non-zero');
    if (sum > size) throw new RangeError('Total weight exceeds the size of the indirection table');
    const t = new Uint16Array(size);
    let partial = 0;
    let j = -1;
    for (let i = 0; i < size; i++) {
      while (i >= Math.floor((size * partial) / sum)) {
        j += 1;
        partial += weights[j]!;
      }
      t[i] = start + j;
    }
    return new Reta(t);
  }

  get size(): number {
    return this.table.length;
  }

  queueOf(hash: number): number {
    return this.table[hash & this.mask]!;
  }

  /** Entries per queue (index = queue). */
  entriesPerQueue(): number[] {
    const out: number[] = [];
    for (const q of this.table) out[q] = (out[q] ?? 0) + 1;
    for (let q = 0; q < out.length; q++) out[q] ??= 0;
    return out;
  }

  /** The table as `ethtool -x dev` prints it (8 entries a row). */
  format(device: string, rings: number): string {
    const lines = [`RX flow hash indirection table for ${device} with ${rings} RX ring(s):`];
    for (let i = 0; i < this.table.length; i += 8) {
      let line = `${String(i).padStart(5)}: `;
      for (let k = i; k < Math.min(i + 8, this.table.length); k++) line += ` ${String(this.table[k]).padStart(5)}`;
      lines.push(line);
    }
    return lines.join('\n');
  }
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > 65536 || (size & (size - 1)) !== 0) {
    throw new RangeError(`RETA size must be a power of two in 1..65536, got ${size}`);
  }
}

/** `get_rps_cpu`: the CPU RPS steers a packet with this hash to, from the queue's rps_cpus list. */
export function rpsCpu(hash: number, cpus: Uint16Array | readonly number[]): number {
  return cpus[reciprocalScale(hash, cpus.length)]!;
}
