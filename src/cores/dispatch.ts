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
 */
import { MICROSOFT_RSS_KEY, SYMMETRIC_RSS_KEY, ToeplitzKey } from '../hash/toeplitz.js';
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
}
