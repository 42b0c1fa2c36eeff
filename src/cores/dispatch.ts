/**
 * Dispatch policies: which core (worker) a packet lands on.
 *
 * - `rss`: Toeplitz with the Microsoft key over the 4-tuple (TCP/UDP, not fragmented) or the
 *   address pair (other IP), then the RETA, then the queue's core (or RPS over a CPU list).
 *   Direction-dependent, as a NIC with a non-symmetric key is: a connection's two directions may
 *   land on different cores.
 * - `rss-symmetric`: the same with the symmetric key (0x6d5a repeated): both directions together.
 * - `round-robin`: packet n goes to core n mod N, ignoring flows (what giving up pinning means).
 * - `src-ip`: Toeplitz (Microsoft key) of the source address alone, modulo N: FFKA's DNAT on the
 *   source address spreading clients over processes.
 * - `single-queue`: everything on core 0 (a NIC without RSS, or the Selfnet outage where every
 *   packet carried the same hash).
 *
 * Packets without a decoded IP layer hash to 0 (a NIC gives them no RSS hash; queue RETA[0]).
 * The per-packet path allocates nothing.
 *
 * Two entry points with the same results: `assign(b, i)` for one packet (the reference, used by
 * the simulator and tests) and `assignBatch(b, from, to, index, counts)`, the pool's hot path: one
 * pass that hashes a range of packets with the Toeplitz lookups inlined (an IPv4 4-tuple is 12
 * table lookups), then one pass per policy that picks the cores and appends each packet to its
 * core's index list, with the batch's typed arrays held in locals. A differential test checks
 * assignBatch == assign on random batches for every policy.
 */
import { MAX_TOEPLITZ_INPUT, MICROSOFT_RSS_KEY, SYMMETRIC_RSS_KEY, ToeplitzKey } from '../hash/toeplitz.js';
import { PacketFlag, type PacketBatch } from '../trace/batch.js';
import { DEFAULT_RETA_SIZE, Reta, rpsCpu } from './rss.js';

export const DISPATCH_POLICIES = ['rss', 'rss-symmetric', 'round-robin', 'src-ip', 'single-queue'] as const;
export type DispatchPolicy = (typeof DISPATCH_POLICIES)[number];

export function isDispatchPolicy(s: string): s is DispatchPolicy {
  return (DISPATCH_POLICIES as readonly string[]).includes(s);
}

export interface DispatchConfig {
  readonly policy: DispatchPolicy;
  /** Cores (workers) to spread over. */
  readonly cores: number;
  /** RETA entries (power of two), default 128. */
  readonly retaSize?: number;
  /** `ethtool -X weight` per queue; default `equal` over `queues`. */
  readonly retaWeights?: readonly number[];
  /** RX queues; default = cores. */
  readonly queues?: number;
  /** Core of each queue (IRQ affinity); default queue q -> core q mod cores. */
  readonly queueToCore?: readonly number[];
  /** RPS: when given, the CPU is rps_cpus[reciprocal_scale(hash, len)] instead of the queue's core. */
  readonly rpsCpus?: readonly number[];
}

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const HASH_PORTS = PacketFlag.PORTS;
const NO_PORTS = PacketFlag.FRAGMENT | PacketFlag.LATER_FRAGMENT;

const msKey = new ToeplitzKey(MICROSOFT_RSS_KEY);
const symKey = new ToeplitzKey(SYMMETRIC_RSS_KEY);

/** The RSS hash a NIC computes for packet i with this key (0 when no IP layer). */
export function rssHash(key: ToeplitzKey, b: PacketBatch, i: number): number {
  const l3 = b.l3[i]!;
  if (l3 === 0 || (b.flags[i]! & PacketFlag.IP) === 0) return 0;
  const p = b.proto[i]!;
  const f = b.flags[i]!;
  const ports = (f & HASH_PORTS) !== 0 && (f & NO_PORTS) === 0 && (p === IPPROTO_TCP || p === IPPROTO_UDP);
  if (l3 === 4) return key.hashV4(b.src[i * 4]!, b.dst[i * 4]!, b.sport[i]!, b.dport[i]!, ports);
  return key.hashV6(b.src, b.dst, i * 4, b.sport[i]!, b.dport[i]!, ports);
}

/** Flags of a packet whose RSS input is its 4-tuple: IP and ports decoded, not a fragment. */
const V4_TUPLE_MASK = PacketFlag.IP | HASH_PORTS | NO_PORTS;
const V4_TUPLE_FLAGS = PacketFlag.IP | HASH_PORTS;

/**
 * rssHash(key, b, i) for every i in [from, to), written into b.flowHash; identical results (a
 * differential test checks it). The common case, an IPv4 TCP/UDP 4-tuple, is inlined: with a
 * `halfPeriodic` key (the symmetric key) the 12 input bytes fold to 16 bits and take 2 table
 * lookups (IPv6 4-tuples too), with any other key (Microsoft's) 12, one per input byte (input
 * byte p with value v contributes table[p * 256 + v]). Every other packet goes through rssHash.
 */
export function rssHashRange(key: ToeplitzKey, b: PacketBatch, from: number, to: number): void {
  if (key.maxInputBytes < MAX_TOEPLITZ_INPUT) throw new RangeError(`rssHashRange needs a key covering ${MAX_TOEPLITZ_INPUT} input bytes`);
  if (key.halfPeriodic) foldedHashRange(key, b, from, to);
  else tableHashRange(key, b, from, to);
}

function tableHashRange(key: ToeplitzKey, b: PacketBatch, from: number, to: number): void {
  const t = key.table;
  const l3s = b.l3;
  const flags = b.flags;
  const protos = b.proto;
  const srcs = b.src;
  const dsts = b.dst;
  const sports = b.sport;
  const dports = b.dport;
  const out = b.flowHash;
  for (let i = from; i < to; i++) {
    const p = protos[i]!;
    if (l3s[i] === 4 && (flags[i]! & V4_TUPLE_MASK) === V4_TUPLE_FLAGS && (p === IPPROTO_TCP || p === IPPROTO_UDP)) {
      const s = srcs[i * 4]!;
      const d = dsts[i * 4]!;
      const sp = sports[i]!;
      const dp = dports[i]!;
      out[i] = t[s >>> 24]! ^ t[256 + ((s >>> 16) & 0xff)]! ^ t[512 + ((s >>> 8) & 0xff)]! ^ t[768 + (s & 0xff)]!
        ^ t[1024 + (d >>> 24)]! ^ t[1280 + ((d >>> 16) & 0xff)]! ^ t[1536 + ((d >>> 8) & 0xff)]! ^ t[1792 + (d & 0xff)]!
        ^ t[2048 + (sp >>> 8)]! ^ t[2304 + (sp & 0xff)]! ^ t[2560 + (dp >>> 8)]! ^ t[2816 + (dp & 0xff)]!;
    } else {
      out[i] = rssHash(key, b, i);
    }
  }
}

function foldedHashRange(key: ToeplitzKey, b: PacketBatch, from: number, to: number): void {
  const t = key.table;
  const l3s = b.l3;
  const flags = b.flags;
  const protos = b.proto;
  const srcs = b.src;
  const dsts = b.dst;
  const sports = b.sport;
  const dports = b.dport;
  const out = b.flowHash;
  for (let i = from; i < to; i++) {
    const p = protos[i]!;
    if (l3s[i] === 4 && (flags[i]! & V4_TUPLE_MASK) === V4_TUPLE_FLAGS && (p === IPPROTO_TCP || p === IPPROTO_UDP)) {
      const x = srcs[i * 4]! ^ dsts[i * 4]!;
      const fold = (x >>> 16) ^ (x & 0xffff) ^ sports[i]! ^ dports[i]!;
      out[i] = t[fold >>> 8]! ^ t[256 + (fold & 0xff)]!;
    } else if (l3s[i] === 6 && (flags[i]! & V4_TUPLE_MASK) === V4_TUPLE_FLAGS && (p === IPPROTO_TCP || p === IPPROTO_UDP)) {
      // IPv6 4-tuple (36 bytes): the eight address words fold the same way.
      const w = i * 4;
      const x = srcs[w]! ^ srcs[w + 1]! ^ srcs[w + 2]! ^ srcs[w + 3]! ^ dsts[w]! ^ dsts[w + 1]! ^ dsts[w + 2]! ^ dsts[w + 3]!;
      const fold = (x >>> 16) ^ (x & 0xffff) ^ sports[i]! ^ dports[i]!;
      out[i] = t[fold >>> 8]! ^ t[256 + (fold & 0xff)]!;
    } else {
      out[i] = rssHash(key, b, i);
    }
  }
}

/** The `src-ip` policy's hash (Toeplitz of the source address alone) for [from, to), into b.flowHash. */
function sourceHashRange(key: ToeplitzKey, b: PacketBatch, from: number, to: number): void {
  const t = key.table;
  const l3s = b.l3;
  const srcs = b.src;
  const out = b.flowHash;
  for (let i = from; i < to; i++) {
    const l3 = l3s[i]!;
    if (l3 === 0) {
      out[i] = 0;
      continue;
    }
    if (l3 === 6) {
      out[i] = key.hashAddress(srcs, i * 4, true);
      continue;
    }
    const s = srcs[i * 4]!;
    out[i] = t[s >>> 24]! ^ t[256 + ((s >>> 16) & 0xff)]! ^ t[512 + ((s >>> 8) & 0xff)]! ^ t[768 + (s & 0xff)]!;
  }
}

export class Dispatcher {
  readonly policy: DispatchPolicy;
  readonly cores: number;
  readonly reta: Reta;
  private readonly queueCore: Uint16Array;
  private readonly rps: Uint16Array | null;
  private readonly key: ToeplitzKey;
  private rr = 0;
  /** The policy as a small integer: the per-packet switch compares numbers, not strings. */
  private readonly mode: number;
  private readonly retaMask: number;

  constructor(config: DispatchConfig) {
    const { policy, cores } = config;
    if (!isDispatchPolicy(policy)) throw new RangeError(`unknown dispatch policy ${String(policy)}`);
    if (!Number.isInteger(cores) || cores < 1 || cores > 1024) throw new RangeError(`cores must be 1..1024, got ${cores}`);
    this.policy = policy;
    this.cores = cores;
    const queues = config.queues ?? config.retaWeights?.length ?? cores;
    const size = config.retaSize ?? DEFAULT_RETA_SIZE;
    this.reta = config.retaWeights ? Reta.weight(config.retaWeights, size) : Reta.equal(queues, size);
    this.queueCore = new Uint16Array(queues);
    for (let q = 0; q < queues; q++) {
      const c = config.queueToCore ? config.queueToCore[q] : q % cores;
      if (c === undefined || !Number.isInteger(c) || c < 0 || c >= cores) throw new RangeError(`queue ${q} maps to no core in 0..${cores - 1}`);
      this.queueCore[q] = c;
    }
    if (config.rpsCpus) {
      if (config.rpsCpus.length === 0) throw new RangeError('rps cpu list is empty');
      for (const c of config.rpsCpus) if (!Number.isInteger(c) || c < 0 || c >= cores) throw new RangeError(`rps cpu ${c} outside 0..${cores - 1}`);
      this.rps = Uint16Array.from(config.rpsCpus);
    } else {
      this.rps = null;
    }
    this.key = policy === 'rss-symmetric' ? symKey : msKey;
    this.mode = DISPATCH_POLICIES.indexOf(policy);
    this.retaMask = this.reta.size - 1;
  }

  /** Restarts the round-robin counter (a new trace). */
  reset(): void {
    this.rr = 0;
  }

  /** Core for packet i; writes its flow hash and core into the batch's `flowHash` and `core` slots. */
  assign(b: PacketBatch, i: number): number {
    let core: number;
    let hash: number;
    // Order of DISPATCH_POLICIES: rss, rss-symmetric, round-robin, src-ip, single-queue.
    const mode = this.mode;
    if (mode <= 1) {
      hash = rssHash(this.key, b, i);
      core = this.rps ? rpsCpu(hash, this.rps) : this.queueCore[this.reta.table[hash & this.retaMask]!]!;
    } else if (mode === 2) {
      hash = rssHash(this.key, b, i);
      core = this.rr;
      this.rr = this.rr + 1 === this.cores ? 0 : this.rr + 1;
    } else if (mode === 3) {
      hash = b.l3[i] === 0 ? 0 : this.key.hashAddress(b.src, i * 4, b.l3[i] === 6);
      core = hash % this.cores;
    } else {
      hash = rssHash(this.key, b, i);
      core = 0;
    }
    b.flowHash[i] = hash;
    b.core[i] = core;
    return core;
  }

  /**
   * assign() for packets [from, to) of `b`, in order: writes each packet's flowHash and core and
   * appends its index to its core's list (`index[core][counts[core]++] = i`). `counts` is not
   * cleared here (the caller zeroes it per batch). Allocates nothing.
   */
  assignBatch(b: PacketBatch, from: number, to: number, index: readonly Uint32Array[], counts: Int32Array): void {
    if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= b.capacity)) {
      throw new RangeError(`packet range ${from}..${to} outside the batch (capacity ${b.capacity})`);
    }
    const cores = this.cores;
    if (index.length < cores || counts.length < cores) throw new RangeError(`need an index list and a count for each of ${cores} cores`);
    const n = to - from;
    for (let c = 0; c < cores; c++) {
      if (index[c]!.length < counts[c]! + n) throw new RangeError(`index list of core ${c} has room for ${index[c]!.length - counts[c]!} packets, not ${n}`);
    }
    const hashes = b.flowHash;
    const coreOf = b.core;
    const mode = this.mode;
    // Order of DISPATCH_POLICIES: rss, rss-symmetric, round-robin, src-ip, single-queue.
    if (mode === 3) sourceHashRange(this.key, b, from, to);
    else rssHashRange(this.key, b, from, to);
    if (mode <= 1 && this.rps === null) {
      const reta = this.reta.table;
      const mask = this.retaMask;
      const queueCore = this.queueCore;
      for (let i = from; i < to; i++) {
        const c = queueCore[reta[hashes[i]! & mask]!]!;
        coreOf[i] = c;
        index[c]![counts[c]!++] = i;
      }
    } else if (mode <= 1) {
      const rps = this.rps!;
      const len = rps.length;
      for (let i = from; i < to; i++) {
        const c = rps[Math.floor((hashes[i]! * len) / 4294967296)]!; // reciprocal_scale, as rpsCpu
        coreOf[i] = c;
        index[c]![counts[c]!++] = i;
      }
    } else if (mode === 2) {
      let rr = this.rr;
      for (let i = from; i < to; i++) {
        coreOf[i] = rr;
        index[rr]![counts[rr]!++] = i;
        rr = rr + 1 === cores ? 0 : rr + 1;
      }
      this.rr = rr;
    } else if (mode === 3) {
      for (let i = from; i < to; i++) {
        const c = hashes[i]! % cores;
        coreOf[i] = c;
        index[c]![counts[c]!++] = i;
      }
    } else {
      const list = index[0]!;
      let k = counts[0]!;
      for (let i = from; i < to; i++) {
        coreOf[i] = 0;
        list[k++] = i;
      }
      counts[0] = k;
    }
  }
}
