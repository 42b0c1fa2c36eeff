/**
 * Simulated cores: given a trace (batches), a dispatch policy and a cost per stage, where each
 * packet's work lands and which core gives out first. Nothing runs in parallel; this is the
 * arithmetic the kernel's softirq CPUs would do.
 *
 * - Each packet costs its core the sum of the stage costs (ns). A stage marked `serialized` (the
 *   HTB root qdisc lock, `qdisc_lock(q)` taken in `__dev_xmit_skb`, net/core/dev.c; kernel-reference
 *   §4.10) is also charged to one resource shared by all cores: only one core can hold it at a
 *   time, so its total time bounds the rate whatever the core count.
 * - Utilization of a resource = busy time / trace duration (at the trace's real rate).
 * - The highest sustainable packet rate is packets * 1e9 / busiest resource's ns: the rate at
 *   which that resource reaches 100 % (the load scaled evenly, same flows, same spread).
 * - Connection locality: each connection (both directions, as one conntrack entry) records the
 *   first core that touched it; a connection touched by a second core counts as split (its
 *   conntrack entry's cache lines and lock bounce between cores).
 */
import type { PacketBatch } from '../trace/batch.js';
import { Dispatcher, type DispatchConfig } from './dispatch.js';
import { FlowTable } from './flow-table.js';

export interface StageCost {
  readonly name: string;
  readonly nsPerPacket: number;
  /** Held under the one lock shared by all cores (the shaper's qdisc lock). */
  readonly serialized?: boolean;
}

export interface SimulatedCore {
  readonly core: number;
  readonly packets: number;
  readonly busyNs: number;
  /** busyNs / trace duration; null for a trace of zero duration. */
  readonly utilization: number | null;
}

export interface CoreSimulation {
  readonly policy: string;
  readonly packets: number;
  readonly durationNs: number;
  /** Packets per second at the trace's own timing (null when duration is 0). */
  readonly tracePps: number | null;
  readonly cores: readonly SimulatedCore[];
  /** The serialized lock as a resource (null when no stage is serialized). */
  readonly lock: { readonly busyNs: number; readonly utilization: number | null } | null;
  /** The resource that saturates first when the rate rises: a core index or 'lock'. */
  readonly bottleneck: { readonly resource: 'core' | 'lock'; readonly core: number | null; readonly busyNs: number };
  /** Cores at or above 100 % at the trace's real rate. */
  readonly saturatedCores: readonly number[];
  /** max / mean of per-core busy time (1 = perfectly even; cores = one core does everything). */
  readonly imbalance: number;
  readonly maxSustainablePps: number;
  readonly connections: number;
  /** Connections whose packets were handled by more than one core. */
  readonly connectionsSplit: number;
  /** Packets beyond the locality table's capacity (not counted in connections). */
  readonly untrackedPackets: number;
}

export interface SimulateOptions {
  readonly dispatch: DispatchConfig;
  readonly stages: readonly StageCost[];
  /** Capacity of the connection table for the locality figure (default 1 << 20). */
  readonly connectionCapacity?: number;
}

export class CoreSimulator {
  private readonly dispatcher: Dispatcher;
  private readonly perCoreNs: number;
  private readonly lockNs: number;
  private readonly hasLock: boolean;
  private readonly packetsPerCore: Float64Array;
  private readonly busyPerCore: Float64Array;
  private readonly conns: FlowTable;
  private lockBusy = 0;
  private packets = 0;
  private firstNs = NaN;
  private lastNs = NaN;
  private originSec = NaN;

  constructor(private readonly options: SimulateOptions) {
    this.dispatcher = new Dispatcher(options.dispatch);
    let core = 0;
    let lock = 0;
    for (const s of options.stages) {
      if (!(s.nsPerPacket >= 0) || !Number.isFinite(s.nsPerPacket)) throw new RangeError(`stage ${s.name}: cost must be a finite number >= 0, got ${s.nsPerPacket}`);
      core += s.nsPerPacket;
      if (s.serialized) lock += s.nsPerPacket;
    }
    this.perCoreNs = core;
    this.lockNs = lock;
    this.hasLock = options.stages.some((s) => s.serialized);
    this.packetsPerCore = new Float64Array(this.dispatcher.cores);
    this.busyPerCore = new Float64Array(this.dispatcher.cores);
    this.conns = FlowTable.create(options.connectionCapacity ?? 1 << 20, false);
  }

  /** Accounts every packet of the batch (writes flowHash and core into it). */
  addBatch(b: PacketBatch): void {
    const n = b.count;
    if (n === 0) return;
    if (Number.isNaN(this.originSec)) this.originSec = b.tsSec[0]!;
    for (let i = 0; i < n; i++) {
      const core = this.dispatcher.assign(b, i);
      this.packetsPerCore[core]! += 1;
      this.busyPerCore[core]! += this.perCoreNs;
      this.lockBusy += this.lockNs;
      const t = b.timeNs(i, this.originSec);
      if (!(t >= this.firstNs)) this.firstNs = Number.isNaN(this.firstNs) ? t : Math.min(this.firstNs, t);
      if (!(t <= this.lastNs)) this.lastNs = t;
      if (b.l3[i] !== 0) {
        this.conns.setKey(b.l3[i]!, b.proto[i]!, b.src, b.dst, i * 4, b.sport[i]!, b.dport[i]!, true);
        this.conns.add(b.wireLen[i]!, core);
      }
    }
    this.packets += n;
  }

  result(): CoreSimulation {
    const duration = this.packets === 0 ? 0 : this.lastNs - this.firstNs;
    const util = (busy: number): number | null => (duration > 0 ? busy / duration : null);
    const cores: SimulatedCore[] = [];
    let maxCore = 0;
    let sumBusy = 0;
    for (let c = 0; c < this.dispatcher.cores; c++) {
      const busy = this.busyPerCore[c]!;
      cores.push({ core: c, packets: this.packetsPerCore[c]!, busyNs: busy, utilization: util(busy) });
      if (busy > this.busyPerCore[maxCore]!) maxCore = c;
      sumBusy += busy;
    }
    const maxBusy = this.busyPerCore[maxCore]!;
    const lockWins = this.hasLock && this.lockBusy > maxBusy;
    const bottleneckNs = lockWins ? this.lockBusy : maxBusy;
    const mean = sumBusy / this.dispatcher.cores;
    return {
      policy: this.dispatcher.policy,
      packets: this.packets,
      durationNs: duration,
      tracePps: duration > 0 ? (this.packets - 1) * 1e9 / duration : null,
      cores,
      lock: this.hasLock ? { busyNs: this.lockBusy, utilization: util(this.lockBusy) } : null,
      bottleneck: { resource: lockWins ? 'lock' : 'core', core: lockWins ? null : maxCore, busyNs: bottleneckNs },
      saturatedCores: cores.filter((c) => c.utilization !== null && c.utilization >= 1).map((c) => c.core),
      imbalance: mean > 0 ? maxBusy / mean : 1,
      maxSustainablePps: bottleneckNs > 0 ? (this.packets * 1e9) / bottleneckNs : Infinity,
      connections: this.conns.flows,
      connectionsSplit: this.conns.flowsOnSeveralCores(),
      untrackedPackets: this.conns.overflowPackets,
    };
  }
}

/** Runs a whole trace (any iterable of batches) through the simulator. */
export async function simulateCores(batches: AsyncIterable<PacketBatch> | Iterable<PacketBatch>, options: SimulateOptions): Promise<CoreSimulation> {
  const sim = new CoreSimulator(options);
  for await (const b of batches) sim.addBatch(b);
  return sim.result();
}
