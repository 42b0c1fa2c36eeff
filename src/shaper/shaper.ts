/**
 * The shaper as a pipeline stage: filter chains (tcf_classify over the instances attached to the
 * qdisc and to inner classes, in prio order, each instance cls_fw or cls_u32) feeding HTB.
 *
 * Per packet: skip DROP verdicts, classify (htb_classify: skb->priority, filters, default), write
 * `classId`, enqueue the L2 frame length (`wireLen`) at the packet's trace time, and let the device
 * dequeue up to that time. Counts the classifier entries walked per packet (fw chain entries plus
 * u32 knodes) into a histogram for mean/p99/max.
 */
import type { PacketBatch } from '../trace/batch.js';
import { Verdict } from '../trace/batch.js';
import type { PipelineStage } from '../pipeline/stage.js';
import { ETH_P_ALL, ETH_P_IP, ETH_P_IPV6, type ShaperConfig, type U32FilterSpec } from './config.js';
import { FW_DEFAULT_HTSIZE, FwInstance } from './cls-fw.js';
import { U32Tables } from './cls-u32.js';
import { Htb, HTB_DIRECT, type HtbFilterRunner, type HtbOptions } from './htb.js';

export interface ShaperOptions extends HtbOptions {
  /** cls_fw buckets per instance (the kernel's HTSIZE, 256). */
  htsize?: number;
}

interface Instance {
  readonly protocol: number;
  readonly fw: FwInstance | undefined;
  /** u32 root table id (0x800, 0x801, ...) when this instance is u32. */
  readonly u32Root: number;
}

/** Largest walk length counted exactly; longer walks share the last histogram slot. */
const WALK_HIST = 1 << 16;

export class Shaper implements PipelineStage, HtbFilterRunner {
  readonly name = 'shaper';
  readonly htb: Htb;
  readonly htsize: number;
  private readonly chains: Instance[][];
  private readonly u32: U32Tables;
  private batch: PacketBatch | undefined;
  private walked = 0;
  /** Histogram of classifier entries walked per classified packet. */
  readonly walkHist = new Float64Array(WALK_HIST);
  walkTotal = 0;
  walkMax = 0;
  classified = 0;
  skippedDropped = 0;
  readonly fwInstances: FwInstance[] = [];

  constructor(config: ShaperConfig, options: ShaperOptions) {
    this.htsize = options.htsize ?? FW_DEFAULT_HTSIZE;
    this.htb = new Htb(config, options);
    this.u32 = new U32Tables();
    const n = this.htb.n;
    this.chains = Array.from({ length: n + 1 }, () => []);
    const byKey = new Map<string, Instance>();
    // Instances are created in script order (u32 roots get 800:, 801:, ... as tcf instances are
    // made); each chain is then ordered by prio as tcf_chain_tp_insert keeps it.
    const sorted = config.filters.map((f) => ({ f }));
    const prioOf = new Map<Instance, number>();
    let nextRoot = 0x800;
    const links: [node: number, table: number][] = [];
    // Tables created by `divisor` lines first (they may be linked from any instance).
    for (const { f } of sorted) {
      if (f.filter.type === 'u32' && f.filter.divisor) this.u32.addTable(f.filter.htid >>> 20, f.filter.divisor);
    }
    for (const { f } of sorted) {
      const chainIdx = f.parent === this.htb.handle ? 0 : 1 + this.htb.find(f.parent);
      if (chainIdx < 0) continue;
      const key = `${chainIdx}/${f.prio}`;
      let inst = byKey.get(key);
      if (!inst) {
        let root = 0;
        let fw: FwInstance | undefined;
        if (f.filter.type === 'fw') fw = new FwInstance(this.htsize);
        else {
          while (this.u32.hasTable(nextRoot)) nextRoot++;
          root = nextRoot++;
          this.u32.addTable(root, 1);
        }
        inst = { protocol: f.protocol, fw, u32Root: root };
        prioOf.set(inst, f.prio);
        if (fw) this.fwInstances.push(fw);
        byKey.set(key, inst);
        this.chains[chainIdx]!.push(inst);
      }
      const spec = f.filter;
      if (spec.type === 'fw') {
        if (!inst.fw) continue;
        if (spec.oldMethod) continue;
        inst.fw.mask = spec.mask;
        inst.fw.add(spec.id, spec.classid);
      } else if (!spec.divisor) {
        const u: U32FilterSpec = spec;
        const table = u.htid ? u.htid >>> 20 : inst.u32Root;
        const node = this.u32.addNode(table, u.bucket, u);
        if (u.link) links.push([node, u.link >>> 20]);
      }
    }
    for (const chain of this.chains) chain.sort((a, b) => prioOf.get(a)! - prioOf.get(b)!);
    for (const [node, table] of links) this.u32.setLink(node, table);
    this.u32.seal();
    this.htb.filters = this;
  }

  hasChain(chain: number): boolean {
    return this.chains[chain]!.length > 0;
  }

  /** tcf_classify over one chain for the current packet: the first instance that matches wins. */
  run(chain: number, packet: number): number {
    const b = this.batch!;
    const list = this.chains[chain]!;
    const l3 = b.l3[packet]!;
    const proto = l3 === 4 ? ETH_P_IP : l3 === 6 ? ETH_P_IPV6 : 0;
    const mark = b.mark[packet]!;
    for (let k = 0; k < list.length; k++) {
      const inst = list[k]!;
      if (inst.protocol !== proto && inst.protocol !== ETH_P_ALL) continue;
      let res: number;
      if (inst.fw) {
        res = inst.fw.classify(mark, this.htb.handle);
        this.walked += inst.fw.lastWalked;
      } else {
        res = this.u32.classify(inst.u32Root, b.head, packet * b.headBytes, b.headLen[packet]!, mark, b.ipLen[packet]! || b.headLen[packet]!);
        this.walked += this.u32.lastWalked;
      }
      if (res >= 0) return res;
    }
    return -1;
  }

  /** Classifies packet i (writing `classId`: the leaf's classid, or the qdisc handle for direct). */
  classifyPacket(batch: PacketBatch, i: number): number {
    this.batch = batch;
    this.walked = 0;
    const cl = this.htb.classify(batch.priority[i]!, i);
    const w = this.walked;
    this.walkHist[w < WALK_HIST ? w : WALK_HIST - 1]!++;
    this.walkTotal += w;
    if (w > this.walkMax) this.walkMax = w;
    this.classified++;
    batch.classId[i] = cl === HTB_DIRECT ? this.htb.handle : this.htb.classid[cl]!;
    return cl;
  }

  packet(batch: PacketBatch, i: number, nowNs: number): void {
    if (batch.verdict[i] === Verdict.DROP) {
      this.skippedDropped++;
      return;
    }
    const cl = this.classifyPacket(batch, i);
    this.htb.enqueue(nowNs, batch.wireLen[i]!, cl);
  }

  /** Runs the device to the end of the trace (counters then describe the trace's span). */
  advanceTo(endNs: number): void {
    this.htb.advance(endNs);
  }

  /** Sends what is still queued. */
  finish(endNs: number): void {
    this.htb.advance(endNs);
    this.htb.drain();
  }

  /**
   * Counted work, for the cores model: the shaper runs under one qdisc lock, so these are one
   * serialized resource whatever the number of cores.
   */
  workCounters(): { classified: number; entriesWalked: number; dequeueCalls: number; sent: number; dropped: number } {
    const h = this.htb;
    return { classified: this.classified, entriesWalked: this.walkTotal, dequeueCalls: h.dequeueCalls, sent: h.qdiscPackets, dropped: h.qdiscDrops };
  }

  /** Walk-length percentile over classified packets (q in 0..1). */
  walkPercentile(q: number): number {
    if (this.classified === 0) return 0;
    const target = Math.ceil(q * this.classified);
    let seen = 0;
    for (let w = 0; w < WALK_HIST; w++) {
      seen += this.walkHist[w]!;
      if (seen >= target) return w;
    }
    return this.walkMax;
  }
}
