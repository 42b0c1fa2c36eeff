/**
 * Synthetic traces for the cores model and the pool benchmarks, generated straight into a
 * reused PacketBatch (deterministic for a seed; no allocation per packet).
 *
 * - `single-flow`: one TCP 5-tuple, every packet alike (the Selfnet outage: one flow hash).
 * - `zipf`: `flows` TCP connections whose popularity follows Zipf(s); each packet travels in the
 *   reply direction with probability `replyShare`, so connection locality can be measured.
 * - `uniform`: like zipf with s = 0.
 * Addresses: client 10.x.y.z (flow number), server 192.0.2.(flow mod 250 + 1), port 443.
 */
import { PacketBatch, PacketFlag } from '../trace/batch.js';

export const SYNTHETIC_KINDS = ['single-flow', 'zipf', 'uniform'] as const;
export type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];

export interface SyntheticSpec {
  readonly kind: SyntheticKind;
  readonly packets: number;
  /** Connections (zipf, uniform); default 10000. */
  readonly flows?: number;
  /** Zipf exponent; default 1.1. */
  readonly zipfS?: number;
  /** Packets per second of trace time; default 100000. */
  readonly pps?: number;
  /** Share of packets in the reply direction; default 0.5 (0 for single-flow). */
  readonly replyShare?: number;
  /** Wire length of every packet; default 512. */
  readonly wireLen?: number;
  readonly seed?: number;
}

const START_SEC = 1_700_000_000;

export class SyntheticTrace {
  private readonly spec: Required<SyntheticSpec>;
  private readonly cdf: Float64Array;
  private produced = 0;
  private rng: number;

  constructor(spec: SyntheticSpec) {
    const flows = spec.kind === 'single-flow' ? 1 : (spec.flows ?? 10000);
    this.spec = {
      kind: spec.kind,
      packets: spec.packets,
      flows,
      zipfS: spec.kind === 'uniform' ? 0 : (spec.zipfS ?? 1.1),
      pps: spec.pps ?? 100000,
      replyShare: spec.replyShare ?? (spec.kind === 'single-flow' ? 0 : 0.5),
      wireLen: spec.wireLen ?? 512,
      seed: spec.seed ?? 1,
    };
    if (!Number.isInteger(spec.packets) || spec.packets < 0) throw new RangeError(`packets must be a whole number, got ${spec.packets}`);
    if (!Number.isInteger(flows) || flows < 1 || flows > 1 << 24) throw new RangeError(`flows must be 1..16777216, got ${flows}`);
    if (!(this.spec.pps > 0)) throw new RangeError(`pps must be positive, got ${this.spec.pps}`);
    this.cdf = new Float64Array(flows);
    let sum = 0;
    for (let f = 0; f < flows; f++) this.cdf[f] = sum += 1 / Math.pow(f + 1, this.spec.zipfS);
    for (let f = 0; f < flows; f++) this.cdf[f]! /= sum;
    this.rng = this.spec.seed >>> 0 || 1;
  }

  get total(): number {
    return this.spec.packets;
  }

  /** mulberry32 */
  private random(): number {
    let t = (this.rng = (this.rng + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private pickFlow(): number {
    const u = this.random();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Fills the batch from slot 0; returns the packets written (0 at the end). */
  fill(b: PacketBatch): number {
    const n = Math.min(b.capacity, this.spec.packets - this.produced);
    const gapNs = 1e9 / this.spec.pps;
    for (let i = 0; i < n; i++) {
      const seq = this.produced + i;
      const flow = this.spec.flows === 1 ? 0 : this.pickFlow();
      const reply = this.spec.replyShare > 0 && this.random() < this.spec.replyShare;
      b.resetSlot(i);
      const ns = Math.round(seq * gapNs);
      b.tsSec[i] = START_SEC + Math.floor(ns / 1e9);
      b.tsNsec[i] = ns % 1e9;
      b.frameNo[i] = seq + 1;
      b.wireLen[i] = this.spec.wireLen;
      b.caplen[i] = this.spec.wireLen;
      b.linkType[i] = 1;
      b.flags[i] = PacketFlag.IP | PacketFlag.PORTS | PacketFlag.TCP;
      b.l3[i] = 4;
      b.proto[i] = 6;
      b.ttl[i] = 64;
      b.ipLen[i] = this.spec.wireLen - 14;
      const client = (0x0a000000 | (flow + 1)) >>> 0;
      const server = (0xc0000200 | ((flow % 250) + 1)) >>> 0;
      const cport = 1024 + (flow % 60000);
      b.src[i * 4] = reply ? server : client;
      b.dst[i * 4] = reply ? client : server;
      b.sport[i] = reply ? 443 : cport;
      b.dport[i] = reply ? cport : 443;
      b.tcpFlags[i] = 0x010;
    }
    this.produced += n;
    b.count = n;
    return n;
  }

  /** The trace as an async iterable of batches of `capacity` (a fresh batch each, for tests and the pool). */
  async *batches(capacity: number): AsyncGenerator<PacketBatch> {
    let id = 0;
    while (true) {
      const b = new PacketBatch(capacity, 0);
      if (this.fill(b) === 0) return;
      b.batchId = id++;
      yield b;
    }
  }
}
