/**
 * HTB, mirroring net/sched/sch_htb.c: the class tree with levels, token buckets in nanoseconds
 * (`htb_accnt_tokens`, `htb_accnt_ctokens`), the three modes (`htb_class_mode`,
 * `htb_change_class_mode`), feeds and rows (`htb_activate_prios`, `htb_deactivate_prios`), the
 * per-level wait queues (`htb_add_to_wait_tree`, `htb_do_events`), dequeue with DRR
 * (`htb_dequeue`, `htb_dequeue_tree`, `htb_lookup_leaf`), charging with lends/borrows
 * (`htb_charge_class`), classification (`htb_classify`) and the direct queue (`htb_enqueue`).
 *
 * Time-driven: `enqueue(nowNs, ...)` at the packet's trace time; the device takes the next packet
 * whenever the link (a configurable rate) is free, which is when the kernel calls `htb_dequeue`;
 * when HTB has nothing sendable it arms its watchdog for the nearest mode change. Rbtrees ordered by
 * classid are RankSets over each class's rank in classid order. All state is preallocated typed
 * arrays; the per-packet path allocates nothing.
 *
 * Not modelled: rate estimators (the printed rate is the mean over the run), `htb_hysteresis`
 * defaults to 0 as in the kernel (settable), the 2-jiffy cap of htb_do_events, offload, requeues.
 */
import type { HtbClassSpec, ShaperConfig } from './config.js';
import { NS_PER_TICK } from './tc-units.js';
import { RankSet } from './rank-set.js';

export const TC_HTB_NUMPRIO = 8;
export const TC_HTB_MAXDEPTH = 8;
export const HTB_CANT_SEND = 0;
export const HTB_MAY_BORROW = 1;
export const HTB_CAN_SEND = 2;
/** htb_classify's HTB_DIRECT. */
export const HTB_DIRECT = -1;
const NSEC_PER_SEC = 1e9;
const MBUFFER_NS = 60 * NSEC_PER_SEC;

export interface HtbOptions {
  /** Device rate in bytes per second: the device takes a packet when the previous one is sent. */
  linkRate: number;
  /** Device tx_queue_len: default leaf pfifo limit and direct_qlen (1000 by default). */
  txQueueLen?: number;
  /** psched_mtu of the device (mtu + hard header), for bfifo's default limit. */
  devMtu?: number;
  /** The `htb_hysteresis` module parameter (0 by default). */
  hysteresis?: boolean;
}

/** Computes psched_ratecfg's mult and shift (psched_ratecfg_precompute__ in net/sched/sch_generic.c). */
export function ratecfgPrecompute(rateBytesPerSec: number): [mult: number, shift: number] {
  if (rateBytesPerSec <= 0) return [1, 0];
  const rate = BigInt(Math.trunc(rateBytesPerSec));
  let factor = 1_000_000_000n;
  let shift = 0;
  for (;;) {
    const mult = (factor / rate) & 0xffffffffn;
    if (mult & (1n << 31n) || factor & (1n << 63n)) return [Number(mult), shift];
    factor <<= 1n;
    shift++;
  }
}

/** psched_l2t_ns: nanoseconds to send `len` bytes at a precomputed rate. */
export function l2tNs(len: number, mult: number, invPow: number, overhead: number, mpu: number, atm: boolean): number {
  let l = len + overhead;
  if (l < mpu) l = mpu;
  if (atm) l = Math.ceil(l / 48) * 53;
  return Math.floor(l * mult * invPow);
}

/** Chooses a class for a packet: the filter chains (classify.ts) implement it. */
export interface HtbFilterRunner {
  /** Runs chain `chain` (0 = the qdisc's, 1 + class index for a class's) → classid, or -1 when nothing matched. */
  run(chain: number, packet: number): number;
  /** true when chain has filters. */
  hasChain(chain: number): boolean;
}

export class Htb {
  readonly handle: number;
  readonly defcls: number;
  readonly rate2quantum: number;
  readonly linkRate: number;
  readonly hysteresis: boolean;
  /** Number of classes; class index i ∈ [0, n). */
  readonly n: number;
  readonly classid: Uint32Array;
  readonly parent: Int32Array;
  readonly level: Int32Array;
  readonly prio: Int32Array;
  readonly quantum: Int32Array;
  readonly rate: Float64Array;
  readonly ceil: Float64Array;
  readonly bufferTicks: Uint32Array;
  readonly cbufferTicks: Uint32Array;
  private readonly rateMult: Float64Array;
  private readonly rateInv: Float64Array;
  private readonly ceilMult: Float64Array;
  private readonly ceilInv: Float64Array;
  private readonly overhead: Int32Array;
  private readonly mpu: Int32Array;
  private readonly atm: Uint8Array;
  private readonly buffer: Float64Array;
  private readonly cbuffer: Float64Array;
  readonly tokens: Float64Array;
  readonly ctokens: Float64Array;
  private readonly tC: Float64Array;
  readonly cmode: Int32Array;
  private readonly prioActivity: Int32Array;
  private readonly deficit: Int32Array;
  // Wait queues (one min-heap per level keyed by pqKey, FIFO among equal keys).
  private readonly pqKey: Float64Array;
  private readonly pqSeq: Float64Array;
  private readonly heapPos: Int32Array;
  private readonly heap: Int32Array[];
  private readonly heapLen: Int32Array;
  private pqCounter = 0;
  private readonly nearEvCache: Float64Array;
  // Rows (container c = level*8+prio) and feeds (64 + parentIndex*8 + prio).
  private readonly sets: (RankSet | undefined)[];
  private readonly ptr: Int32Array;
  private readonly lastPtr: Int32Array;
  private readonly rowMembers: Int32Array[];
  private readonly feedMembers: (Int32Array | undefined)[];
  private readonly rowRank: Int32Array;
  private readonly childRank: Int32Array;
  readonly rowMask: Int32Array;
  // Leaf queues: one pool of packet nodes, a FIFO per leaf; index n is the direct queue.
  private poolLen: Uint32Array;
  private poolNext: Int32Array;
  private freeHead = -1;
  private poolUsed = 0;
  private readonly qHead: Int32Array;
  private readonly qTail: Int32Array;
  readonly qlen: Int32Array;
  readonly backlog: Float64Array;
  readonly limitPackets: Float64Array;
  readonly limitBytes: Float64Array;
  /** Handle of a leaf qdisc added explicitly (`tc qdisc add ... parent 1:10 handle 10:`), else 0. */
  readonly leafHandle: Uint32Array;
  // Counters.
  readonly bytes: Float64Array;
  readonly packets: Float64Array;
  readonly drops: Float64Array;
  readonly overlimits: Float64Array;
  readonly lends: Float64Array;
  readonly borrows: Float64Array;
  directPackets = 0;
  directDrops = 0;
  qdiscOverlimits = 0;
  qdiscBytes = 0;
  qdiscPackets = 0;
  qdiscDrops = 0;
  totalQlen = 0;
  private readonly classIndex: Map<number, number>;
  /** Class index by classid minor (-1: none): htb_find without hashing. */
  private readonly byMinor = new Int32Array(65536).fill(-1);
  // Clock.
  now = 0;
  private linkFreeAt = 0;
  private nextTry = Infinity;
  /** Time of the first enqueue and of the last dequeue (for mean rates). */
  firstEnqueueNs = -1;
  lastDequeueNs = 0;
  private tmpDiff = 0;
  private readonly stackC = new Int32Array(TC_HTB_MAXDEPTH + 1);
  /** The filter chains; set by the shaper before traffic flows. */
  filters: HtbFilterRunner | undefined;
  /** Dequeue attempts and packets dequeued (work counters for the cost model). */
  dequeueCalls = 0;

  constructor(config: ShaperConfig, options: HtbOptions) {
    const txq = options.txQueueLen ?? 1000;
    const mtu = options.devMtu ?? 1514;
    this.handle = config.qdisc.handle;
    this.defcls = config.qdisc.defcls;
    this.rate2quantum = Math.max(1, config.qdisc.r2q);
    this.linkRate = options.linkRate;
    this.hysteresis = options.hysteresis ?? false;
    const specs: readonly HtbClassSpec[] = config.classes;
    const n = specs.length;
    this.n = n;
    this.classid = new Uint32Array(n);
    this.parent = new Int32Array(n).fill(-1);
    this.level = new Int32Array(n);
    this.prio = new Int32Array(n);
    this.quantum = new Int32Array(n);
    this.rate = new Float64Array(n);
    this.ceil = new Float64Array(n);
    this.bufferTicks = new Uint32Array(n);
    this.cbufferTicks = new Uint32Array(n);
    this.rateMult = new Float64Array(n);
    this.rateInv = new Float64Array(n);
    this.ceilMult = new Float64Array(n);
    this.ceilInv = new Float64Array(n);
    this.overhead = new Int32Array(n);
    this.mpu = new Int32Array(n);
    this.atm = new Uint8Array(n);
    this.buffer = new Float64Array(n);
    this.cbuffer = new Float64Array(n);
    this.tokens = new Float64Array(n);
    this.ctokens = new Float64Array(n);
    this.tC = new Float64Array(n);
    this.cmode = new Int32Array(n).fill(HTB_CAN_SEND);
    this.prioActivity = new Int32Array(n);
    this.deficit = new Int32Array(n * TC_HTB_MAXDEPTH);
    this.pqKey = new Float64Array(n);
    this.pqSeq = new Float64Array(n);
    this.heapPos = new Int32Array(n).fill(-1);
    this.nearEvCache = new Float64Array(TC_HTB_MAXDEPTH);
    this.classIndex = new Map();
    // Build the tree in script order as htb_change_class does: a new class is a leaf (level 0);
    // a class that gets its first child becomes inner at (its parent's level, or MAXDEPTH) - 1.
    specs.forEach((s, i) => {
      this.classIndex.set(s.classid, i);
      if (((s.classid ^ this.handle) & 0xffff0000) === 0) this.byMinor[s.classid & 0xffff] = i;
    });
    specs.forEach((s, i) => {
      this.classid[i] = s.classid;
      const p = s.parent === 0 ? -1 : (this.classIndex.get(s.parent) ?? -1);
      this.parent[i] = p;
      if (p >= 0 && this.level[p] === 0) {
        const gp = this.parent[p]!;
        this.level[p] = (gp >= 0 ? this.level[gp]! : TC_HTB_MAXDEPTH) - 1;
      }
    });
    const precomputed = new Map<number, [number, number]>();
    const precompute = (rate: number): [number, number] => {
      let v = precomputed.get(rate);
      if (!v) precomputed.set(rate, (v = ratecfgPrecompute(rate)));
      return v;
    };
    specs.forEach((s, i) => {
      this.rate[i] = s.rate;
      this.ceil[i] = s.ceil;
      this.bufferTicks[i] = s.bufferTicks;
      this.cbufferTicks[i] = s.cbufferTicks;
      const [rm, rs] = precompute(s.rate);
      const [cm, cs] = precompute(s.ceil);
      this.rateMult[i] = rm;
      this.rateInv[i] = 2 ** -rs;
      this.ceilMult[i] = cm;
      this.ceilInv[i] = 2 ** -cs;
      this.overhead[i] = s.overhead;
      this.mpu[i] = s.mpu;
      this.atm[i] = s.linklayerAtm ? 1 : 0;
      this.buffer[i] = s.bufferTicks * NS_PER_TICK;
      this.cbuffer[i] = s.cbufferTicks * NS_PER_TICK;
      this.tokens[i] = this.buffer[i]!;
      this.ctokens[i] = this.cbuffer[i]!;
      // quantum = rate / r2q, clamped to [1000, 200000] unless given; prio above 7 becomes 7.
      let q = Math.min(Math.floor(s.rate / this.rate2quantum), 0x7fffffff);
      if (!s.quantum && q < 1000) q = 1000;
      if (!s.quantum && q > 200000) q = 200000;
      if (s.quantum) q = s.quantum;
      this.quantum[i] = q;
      this.prio[i] = Math.min(s.prio, TC_HTB_NUMPRIO - 1);
    });
    // Ranks in classid order within each level (rows) and among siblings (feeds).
    const order = [...specs.keys()].sort((a, b) => this.classid[a]! - this.classid[b]!);
    this.rowRank = new Int32Array(n);
    this.childRank = new Int32Array(n);
    this.rowMembers = [];
    for (let l = 0; l < TC_HTB_MAXDEPTH; l++) {
      const members = order.filter((i) => this.level[i] === l);
      members.forEach((i, r) => (this.rowRank[i] = r));
      this.rowMembers.push(Int32Array.from(members));
    }
    const children: number[][] = Array.from({ length: n }, () => []);
    for (const i of order) if (this.parent[i]! >= 0) children[this.parent[i]!]!.push(i);
    this.feedMembers = children.map((c, p) => (this.level[p]! > 0 ? Int32Array.from(c) : undefined));
    children.forEach((c) => c.forEach((i, r) => (this.childRank[i] = r)));
    const containers = 64 + n * TC_HTB_NUMPRIO;
    this.sets = new Array<RankSet | undefined>(containers);
    for (let l = 0; l < TC_HTB_MAXDEPTH; l++) {
      for (let p = 0; p < TC_HTB_NUMPRIO; p++) this.sets[l * 8 + p] = new RankSet(this.rowMembers[l]!.length);
    }
    for (let i = 0; i < n; i++) {
      const fm = this.feedMembers[i];
      if (fm) for (let p = 0; p < TC_HTB_NUMPRIO; p++) this.sets[64 + i * 8 + p] = new RankSet(fm.length);
    }
    this.ptr = new Int32Array(containers).fill(-1);
    this.lastPtr = new Int32Array(containers).fill(-1);
    this.rowMask = new Int32Array(TC_HTB_MAXDEPTH);
    this.heap = Array.from({ length: TC_HTB_MAXDEPTH }, () => new Int32Array(Math.max(1, n)));
    this.heapLen = new Int32Array(TC_HTB_MAXDEPTH);
    // Queues.
    this.qHead = new Int32Array(n + 1).fill(-1);
    this.qTail = new Int32Array(n + 1).fill(-1);
    this.qlen = new Int32Array(n + 1);
    this.backlog = new Float64Array(n + 1);
    this.limitPackets = new Float64Array(n + 1).fill(Math.max(1, txq));
    this.limitBytes = new Float64Array(n + 1).fill(Infinity);
    if (config.qdisc.directQlen !== undefined) this.limitPackets[n] = config.qdisc.directQlen;
    this.leafHandle = new Uint32Array(n);
    for (const lq of config.leafQdiscs) {
      const i = this.classIndex.get(lq.parent);
      if (i === undefined) continue;
      this.leafHandle[i] = lq.handle;
      if (lq.kind === 'bfifo') {
        this.limitPackets[i] = Infinity;
        this.limitBytes[i] = lq.limitBytes ?? Math.max(1, txq) * mtu;
      } else {
        this.limitPackets[i] = lq.limitPackets ?? Math.max(1, txq);
      }
    }
    this.poolLen = new Uint32Array(1024);
    this.poolNext = new Int32Array(1024);
    this.bytes = new Float64Array(n);
    this.packets = new Float64Array(n);
    this.drops = new Float64Array(n);
    this.overlimits = new Float64Array(n);
    this.lends = new Float64Array(n);
    this.borrows = new Float64Array(n);
  }

  /** htb_find: class index of a classid, or -1 (all classids share the qdisc's major). */
  find(classid: number): number {
    return ((classid ^ this.handle) & 0xffff0000) === 0 ? this.byMinor[classid & 0xffff]! : -1;
  }

  // ---- classification ------------------------------------------------------------------------

  /**
   * htb_classify: leaf index or HTB_DIRECT. `priority` is skb->priority; the filter runner sees
   * packet `packet` (its own handle to the batch slot).
   */
  classify(priority: number, packet: number): number {
    if (priority === this.handle) return HTB_DIRECT;
    let chain = 0;
    const pc = priority !== 0 ? this.find(priority) : -1;
    if (pc >= 0) {
      if (this.level[pc] === 0) return pc;
      chain = 1 + pc;
    }
    const f = this.filters;
    if (f) {
      for (let depth = 0; depth < 64 && f.hasChain(chain); depth++) {
        const res = f.run(chain, packet);
        if (res < 0) break;
        if (res === this.handle) return HTB_DIRECT;
        const cl = this.find(res);
        if (cl < 0) break;
        if (this.level[cl] === 0) return cl;
        chain = 1 + cl;
      }
    }
    const def = this.find(((this.handle & 0xffff0000) | this.defcls) >>> 0);
    if (def < 0 || this.level[def] !== 0) return HTB_DIRECT;
    return def;
  }

  // ---- time ----------------------------------------------------------------------------------

  /** Runs the device up to time t: every dequeue the link and the watchdog allow before t. */
  advance(t: number): void {
    while (this.totalQlen > 0 && this.nextTry <= t) {
      const at = this.nextTry;
      const len = this.dequeue(at);
      if (len >= 0) {
        this.linkFreeAt = at + (len * NSEC_PER_SEC) / this.linkRate;
        this.nextTry = this.linkFreeAt;
        this.lastDequeueNs = at;
      } else {
        this.nextTry = this.watchdogAt > at ? this.watchdogAt : at + 1;
      }
    }
    if (this.totalQlen === 0) this.nextTry = Infinity;
  }

  /** Drains everything still queued (the end of the trace). */
  drain(): void {
    this.advance(Infinity);
  }

  /**
   * htb_enqueue at time t of a packet of `len` bytes already classified to `cl` (leaf index or
   * HTB_DIRECT). Returns false when it was dropped. Kicks the device as __dev_xmit_skb does.
   */
  enqueue(t: number, len: number, cl: number): boolean {
    this.advance(t);
    if (this.firstEnqueueNs < 0) this.firstEnqueueNs = t;
    const q = cl === HTB_DIRECT ? this.n : cl;
    if (this.qlen[q]! >= this.limitPackets[q]! || this.backlog[q]! + len > this.limitBytes[q]!) {
      this.qdiscDrops++;
      if (cl === HTB_DIRECT) this.directDrops++;
      else this.drops[cl]!++;
      return false;
    }
    this.pushPacket(q, len);
    if (cl === HTB_DIRECT) this.directPackets++;
    else this.activate(cl);
    this.totalQlen++;
    if (this.linkFreeAt <= t) this.nextTry = t;
    else if (this.nextTry > this.linkFreeAt) this.nextTry = this.linkFreeAt;
    this.advance(t);
    return true;
  }

  private pushPacket(q: number, len: number): void {
    let node = this.freeHead;
    if (node >= 0) this.freeHead = this.poolNext[node]!;
    else {
      if (this.poolUsed === this.poolLen.length) {
        const l = new Uint32Array(this.poolLen.length * 2);
        l.set(this.poolLen);
        const x = new Int32Array(this.poolNext.length * 2);
        x.set(this.poolNext);
        this.poolLen = l;
        this.poolNext = x;
      }
      node = this.poolUsed++;
    }
    this.poolLen[node] = len;
    this.poolNext[node] = -1;
    if (this.qTail[q]! >= 0) this.poolNext[this.qTail[q]!] = node;
    else this.qHead[q] = node;
    this.qTail[q] = node;
    this.qlen[q]!++;
    this.backlog[q]! += len;
  }

  private popPacket(q: number): number {
    const node = this.qHead[q]!;
    const len = this.poolLen[node]!;
    this.qHead[q] = this.poolNext[node]!;
    if (this.qHead[q]! < 0) this.qTail[q] = -1;
    this.poolNext[node] = this.freeHead;
    this.freeHead = node;
    this.qlen[q]!--;
    this.backlog[q]! -= len;
    return len;
  }

  // ---- modes and tokens ----------------------------------------------------------------------

  private l2tRate(c: number, len: number): number {
    return l2tNs(len, this.rateMult[c]!, this.rateInv[c]!, this.overhead[c]!, this.mpu[c]!, this.atm[c] === 1);
  }

  private l2tCeil(c: number, len: number): number {
    return l2tNs(len, this.ceilMult[c]!, this.ceilInv[c]!, this.overhead[c]!, this.mpu[c]!, this.atm[c] === 1);
  }

  /** htb_class_mode at t_c + diff; leaves the time until the change in tmpDiff. */
  private classMode(c: number, diff: number): number {
    const lowater = this.hysteresis && this.cmode[c] !== HTB_CANT_SEND ? -this.cbuffer[c]! : 0;
    const hiwater = this.hysteresis && this.cmode[c] === HTB_CAN_SEND ? -this.buffer[c]! : 0;
    let toks = this.ctokens[c]! + diff;
    if (toks < lowater) {
      this.tmpDiff = -toks;
      return HTB_CANT_SEND;
    }
    toks = this.tokens[c]! + diff;
    if (toks >= hiwater) {
      this.tmpDiff = diff;
      return HTB_CAN_SEND;
    }
    this.tmpDiff = -toks;
    return HTB_MAY_BORROW;
  }

  /** htb_change_class_mode. */
  private changeClassMode(c: number, diff: number): void {
    const mode = this.classMode(c, diff);
    if (mode === this.cmode[c]) return;
    if (mode === HTB_CANT_SEND) {
      this.overlimits[c]!++;
      this.qdiscOverlimits++;
    }
    if (this.prioActivity[c]) {
      if (this.cmode[c] !== HTB_CANT_SEND) this.deactivatePrios(c);
      this.cmode[c] = mode;
      if (mode !== HTB_CANT_SEND) this.activatePrios(c);
    } else {
      this.cmode[c] = mode;
    }
  }

  // ---- rows, feeds and the wait queue --------------------------------------------------------

  private rankIn(container: number, c: number): number {
    return container < 64 ? this.rowRank[c]! : this.childRank[c]!;
  }

  private memberOf(container: number, rank: number): number {
    return container < 64 ? this.rowMembers[container >> 3]![rank]! : this.feedMembers[(container - 64) >> 3]![rank]!;
  }

  private addClassToRow(c: number, mask: number): void {
    const lvl = this.level[c]!;
    this.rowMask[lvl]! |= mask;
    while (mask) {
      const prio = 31 - Math.clz32(mask & -mask);
      mask &= ~(1 << prio);
      this.sets[lvl * 8 + prio]!.add(this.rowRank[c]!);
    }
  }

  private removeClassFromRow(c: number, mask: number): void {
    const lvl = this.level[c]!;
    let m = 0;
    while (mask) {
      const prio = 31 - Math.clz32(mask & -mask);
      mask &= ~(1 << prio);
      const cont = lvl * 8 + prio;
      const set = this.sets[cont]!;
      const r = this.rowRank[c]!;
      if (this.ptr[cont] === r) this.ptr[cont] = set.nextFrom(r + 1);
      set.delete(r);
      if (set.size === 0) m |= 1 << prio;
    }
    this.rowMask[lvl]! &= ~m;
  }

  private activatePrios(c: number): void {
    let p = this.parent[c]!;
    let mask = this.prioActivity[c]!;
    while (this.cmode[c] === HTB_MAY_BORROW && p >= 0 && mask) {
      let m = mask;
      while (m) {
        const prio = 31 - Math.clz32(m & -m);
        m &= ~(1 << prio);
        const feed = this.sets[64 + p * 8 + prio]!;
        if (feed.size > 0) mask &= ~(1 << prio);
        feed.add(this.childRank[c]!);
      }
      this.prioActivity[p]! |= mask;
      c = p;
      p = this.parent[c]!;
    }
    if (this.cmode[c] === HTB_CAN_SEND && mask) this.addClassToRow(c, mask);
  }

  private deactivatePrios(c: number): void {
    let p = this.parent[c]!;
    let mask = this.prioActivity[c]!;
    while (this.cmode[c] === HTB_MAY_BORROW && p >= 0 && mask) {
      let m = mask;
      mask = 0;
      while (m) {
        const prio = 31 - Math.clz32(m & -m);
        m &= ~(1 << prio);
        const cont = 64 + p * 8 + prio;
        const r = this.childRank[c]!;
        if (this.ptr[cont] === r) {
          this.lastPtr[cont] = r;
          this.ptr[cont] = -1;
        }
        const feed = this.sets[cont]!;
        feed.delete(r);
        if (feed.size === 0) mask |= 1 << prio;
      }
      this.prioActivity[p]! &= ~mask;
      c = p;
      p = this.parent[c]!;
    }
    if (this.cmode[c] === HTB_CAN_SEND && mask) this.removeClassFromRow(c, mask);
  }

  /** htb_activate: a leaf with its first packet joins the feeds/rows for its prio. */
  private activate(c: number): void {
    if (!this.prioActivity[c]) {
      this.prioActivity[c] = 1 << this.prio[c]!;
      this.activatePrios(c);
    }
  }

  private deactivate(c: number): void {
    this.deactivatePrios(c);
    this.prioActivity[c] = 0;
  }

  private heapLess(a: number, b: number): boolean {
    const ka = this.pqKey[a]!;
    const kb = this.pqKey[b]!;
    return ka < kb || (ka === kb && this.pqSeq[a]! < this.pqSeq[b]!);
  }

  private heapUp(h: Int32Array, i: number): void {
    const c = h[i]!;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      const pc = h[pi]!;
      if (!this.heapLess(c, pc)) break;
      h[i] = pc;
      this.heapPos[pc] = i;
      i = pi;
    }
    h[i] = c;
    this.heapPos[c] = i;
  }

  private heapDown(h: Int32Array, len: number, i: number): void {
    const c = h[i]!;
    for (;;) {
      let k = 2 * i + 1;
      if (k >= len) break;
      if (k + 1 < len && this.heapLess(h[k + 1]!, h[k]!)) k++;
      if (!this.heapLess(h[k]!, c)) break;
      h[i] = h[k]!;
      this.heapPos[h[i]!] = i;
      i = k;
    }
    h[i] = c;
    this.heapPos[c] = i;
  }

  /** htb_add_to_wait_tree. */
  private addToWaitTree(c: number, delay: number): void {
    const lvl = this.level[c]!;
    let key = this.now + delay;
    if (key === this.now) key++;
    this.pqKey[c] = key;
    this.pqSeq[c] = this.pqCounter++;
    if (this.nearEvCache[lvl]! > key) this.nearEvCache[lvl] = key;
    const h = this.heap[lvl]!;
    const len = this.heapLen[lvl]!;
    h[len] = c;
    this.heapLen[lvl] = len + 1;
    this.heapUp(h, len);
  }

  private removeFromWaitTree(c: number): void {
    const lvl = this.level[c]!;
    const h = this.heap[lvl]!;
    const i = this.heapPos[c]!;
    if (i < 0) return;
    const last = this.heapLen[lvl]! - 1;
    this.heapLen[lvl] = last;
    this.heapPos[c] = -1;
    if (i === last) return;
    const moved = h[last]!;
    h[i] = moved;
    this.heapPos[moved] = i;
    this.heapDown(h, last, i);
    this.heapUp(h, this.heapPos[moved]!);
  }

  /** htb_do_events: applies due mode changes at `level`; returns the next event time or 0. */
  private doEvents(level: number): number {
    const h = this.heap[level]!;
    for (;;) {
      if (this.heapLen[level] === 0) return 0;
      const c = h[0]!;
      if (this.pqKey[c]! > this.now) return this.pqKey[c]!;
      this.removeFromWaitTree(c);
      const diff = Math.min(this.now - this.tC[c]!, MBUFFER_NS);
      this.changeClassMode(c, diff);
      if (this.cmode[c] !== HTB_CAN_SEND) this.addToWaitTree(c, this.tmpDiff);
    }
  }

  // ---- dequeue -------------------------------------------------------------------------------

  /** htb_lookup_leaf: walks from a row down the feeds to the leaf whose turn it is. */
  private lookupLeaf(level: number, prio: number): number {
    const stk = this.stackC;
    let sp = 0;
    stk[0] = level * 8 + prio;
    for (let i = 0; i < 65535; i++) {
      const cont = stk[sp]!;
      const set = this.sets[cont]!;
      if (this.ptr[cont]! < 0 && this.lastPtr[cont]! >= 0) this.ptr[cont] = set.nextFrom(this.lastPtr[cont]!);
      this.lastPtr[cont] = -1;
      if (this.ptr[cont]! < 0) {
        this.ptr[cont] = set.first();
        if (sp > 0) {
          sp--;
          const up = stk[sp]!;
          if (this.ptr[up]! < 0) return -1;
          this.ptr[up] = this.sets[up]!.nextFrom(this.ptr[up]! + 1);
        }
      } else {
        const cl = this.memberOf(cont, this.ptr[cont]!);
        if (this.level[cl] === 0) return cl;
        stk[++sp] = 64 + cl * 8 + prio;
      }
    }
    return -1;
  }

  private nextRbNode(level: number, prio: number, cl: number): void {
    const cont = level ? 64 + this.parent[cl]! * 8 + prio : prio;
    const p = this.ptr[cont]!;
    this.ptr[cont] = p < 0 ? -1 : this.sets[cont]!.nextFrom(p + 1);
  }

  /** htb_dequeue_tree: DRR over one row; returns the dequeued length or -1. */
  private dequeueTree(prio: number, level: number): number {
    // The kernel's loop also steps past leaves whose qdisc returns nothing while non-empty
    // (non-work-conserving children); fifo leaves always return a packet when they hold one.
    let cl = this.lookupLeaf(level, prio);
    for (;;) {
      if (cl < 0) return -1;
      if (this.qlen[cl] !== 0) break;
      this.deactivate(cl);
      if ((this.rowMask[level]! & (1 << prio)) === 0) return -1;
      cl = this.lookupLeaf(level, prio);
    }
    const len = this.popPacket(cl);
    this.bytes[cl]! += len;
    this.packets[cl]!++;
    const d = cl * TC_HTB_MAXDEPTH + level;
    this.deficit[d]! -= len;
    if (this.deficit[d]! < 0) {
      this.deficit[d]! += this.quantum[cl]!;
      this.nextRbNode(level, prio, cl);
    }
    if (this.qlen[cl] === 0) this.deactivate(cl);
    this.chargeClass(cl, level, len);
    return len;
  }

  /** htb_charge_class: rate tokens at and above `level`, ceil tokens everywhere up the tree. */
  private chargeClass(cl: number, level: number, bytes: number): void {
    for (let c = cl; c >= 0; c = this.parent[c]!) {
      let diff = Math.min(this.now - this.tC[c]!, MBUFFER_NS);
      if (this.level[c]! >= level) {
        if (this.level[c] === level) this.lends[c]!++;
        let toks = diff + this.tokens[c]!;
        if (toks > this.buffer[c]!) toks = this.buffer[c]!;
        toks -= this.l2tRate(c, bytes);
        if (toks <= -MBUFFER_NS) toks = 1 - MBUFFER_NS;
        this.tokens[c] = toks;
      } else {
        this.borrows[c]!++;
        this.tokens[c]! += diff;
      }
      let ctoks = diff + this.ctokens[c]!;
      if (ctoks > this.cbuffer[c]!) ctoks = this.cbuffer[c]!;
      ctoks -= this.l2tCeil(c, bytes);
      if (ctoks <= -MBUFFER_NS) ctoks = 1 - MBUFFER_NS;
      this.ctokens[c] = ctoks;
      this.tC[c] = this.now;
      const old = this.cmode[c]!;
      diff = 0;
      this.changeClassMode(c, diff);
      if (old !== this.cmode[c]) {
        if (old !== HTB_CAN_SEND) this.removeFromWaitTree(c);
        if (this.cmode[c] !== HTB_CAN_SEND) this.addToWaitTree(c, this.tmpDiff);
      }
      if (this.level[c]!) {
        this.bytes[c]! += bytes;
        this.packets[c]!++;
      }
    }
  }

  private watchdogAt = 0;

  /** htb_dequeue at time t: the length of the packet sent, or -1 (watchdogAt then says when to retry). */
  dequeue(t: number): number {
    this.dequeueCalls++;
    if (this.qlen[this.n]! > 0) {
      const len = this.popPacket(this.n);
      this.totalQlen--;
      this.qdiscBytes += len;
      this.qdiscPackets++;
      return len;
    }
    if (this.totalQlen === 0) return -1;
    this.now = t;
    let nextEvent = t + 5 * NSEC_PER_SEC;
    for (let level = 0; level < TC_HTB_MAXDEPTH; level++) {
      let event = this.nearEvCache[level]!;
      if (this.now >= event) {
        event = this.doEvents(level);
        if (!event) event = this.now + NSEC_PER_SEC;
        this.nearEvCache[level] = event;
      }
      if (nextEvent > event) nextEvent = event;
      let m = ~this.rowMask[level]!;
      while (m !== -1) {
        const prio = 31 - Math.clz32(~m & (m + 1));
        m |= 1 << prio;
        const len = this.dequeueTree(prio, level);
        if (len >= 0) {
          this.totalQlen--;
          this.qdiscBytes += len;
          this.qdiscPackets++;
          return len;
        }
      }
    }
    this.watchdogAt = nextEvent;
    return -1;
  }

  /** Tokens as tc shows them: psched ticks, clamped to s32. */
  tokensTicks(c: number): number {
    return Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(this.tokens[c]! / NS_PER_TICK)));
  }

  ctokensTicks(c: number): number {
    return Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(this.ctokens[c]! / NS_PER_TICK)));
  }
}
