/**
 * cls_u32, mirroring net/sched/cls_u32.c (`u32_classify`): key nodes (knodes) hold 32-bit
 * value/mask selectors at offsets from the network header; they live in hash tables of `divisor`
 * buckets (root table 800: with one bucket), ordered by node id. A knode with `link` descends into
 * another table, picking the bucket from the `hashkey` word (`u32_hash_fold`), optionally moving the
 * offset (`offset ... eat`), and returns to the next knode when that table has no match.
 *
 * All tables of one qdisc are shared by its u32 filter instances (the kernel's tc_u_common); each
 * instance (one per prio) starts at its own root table.
 */
import type { U32FilterSpec } from './config.js';

export const U32_NO_MATCH = -1;
/** TC_U32_MAXDEPTH. */
const MAXDEPTH = 8;

const F_TERMINAL = 1;
const F_OFFSET = 2;
const F_VAROFFSET = 4;
const F_EAT = 8;
const F_MARK = 16;

interface Table {
  /** divisor - 1 (the kernel stores the mask). */
  mask: number;
  /** Knode indices per bucket, in node-id order. */
  buckets: number[][];
  /** Node ids in use per bucket (for ordering). */
  nextNode: number;
}

/** The shared tables of one qdisc's u32 filters. */
export class U32Tables {
  private readonly tables = new Map<number, Table>();
  private readonly nodeIds: number[] = [];
  // Flattened knodes.
  private keyStart = new Int32Array(16);
  private keyCount = new Int32Array(16);
  private flags = new Int32Array(16);
  private classid = new Uint32Array(16);
  private linkTable = new Int32Array(16);
  private hmask = new Uint32Array(16);
  private hoff = new Int32Array(16);
  private fshift = new Int32Array(16);
  private selOff = new Int32Array(16);
  private offOff = new Int32Array(16);
  private offMask = new Uint32Array(16);
  private offShift = new Int32Array(16);
  private markVal = new Uint32Array(16);
  private markMask = new Uint32Array(16);
  private keyVal: number[] = [];
  private keyMask: number[] = [];
  private keyOff: number[] = [];
  private keyOffmask: number[] = [];
  private kv = new Int32Array(0);
  private km = new Int32Array(0);
  private ko = new Int32Array(0);
  private kom = new Int32Array(0);
  private count = 0;
  private readonly tableIndex = new Map<number, number>();
  private tableList: Table[] = [];
  private readonly stackNode = new Int32Array(MAXDEPTH);
  private readonly stackOff = new Int32Array(MAXDEPTH);
  private readonly stackTable = new Int32Array(MAXDEPTH);
  /** Knodes examined by the last classify call. */
  lastWalked = 0;

  /** Table ids are the 12-bit upper part of a handle (800: → 0x800). */
  hasTable(tableId: number): boolean {
    return this.tables.has(tableId);
  }

  tableDivisor(tableId: number): number {
    const t = this.tables.get(tableId);
    return t ? t.mask + 1 : 0;
  }

  /** Creates a table (`u32 divisor N`, or an instance's root with divisor 1). */
  addTable(tableId: number, divisor: number): void {
    const t: Table = { mask: divisor - 1, buckets: Array.from({ length: divisor }, () => []), nextNode: 0x800 };
    this.tables.set(tableId, t);
    this.tableIndex.set(tableId, this.tableList.length);
    this.tableList.push(t);
  }

  /** Adds a knode to table `tableId`, bucket `bucket`; returns its index. */
  addNode(tableId: number, bucket: number, spec: U32FilterSpec): number {
    const t = this.tables.get(tableId);
    if (!t) throw new RangeError(`u32 table ${tableId.toString(16)}: does not exist`);
    if (this.count === this.flags.length) this.grow();
    const n = this.count++;
    const nodeId = spec.nodeId !== 0 ? spec.nodeId : t.nextNode;
    t.nextNode = Math.max(t.nextNode, nodeId + 1);
    this.nodeIds[n] = nodeId;
    this.keyStart[n] = this.keyVal.length;
    this.keyCount[n] = spec.keys.length;
    for (const k of spec.keys) {
      this.keyVal.push(k.val | 0);
      this.keyMask.push(k.mask | 0);
      this.keyOff.push(k.off);
      this.keyOffmask.push(k.offmask);
    }
    let f = 0;
    if (spec.hasClassid) f |= F_TERMINAL;
    if (spec.fixedOffset) f |= F_OFFSET;
    if (spec.varOffset) f |= F_VAROFFSET;
    if (spec.eat) f |= F_EAT;
    if (spec.hasMark) f |= F_MARK;
    this.flags[n] = f;
    this.classid[n] = spec.classid;
    this.linkTable[n] = -1;
    this.hmask[n] = spec.hmask;
    this.hoff[n] = spec.hoff;
    // u32_set_parms: fshift = ffs(ntohl(hmask)) - 1.
    this.fshift[n] = spec.hmask ? 31 - Math.clz32(spec.hmask & -spec.hmask) : 0;
    this.selOff[n] = spec.offPlus;
    this.offOff[n] = spec.offOff;
    this.offMask[n] = spec.offMask;
    this.offShift[n] = spec.offShift;
    this.markVal[n] = spec.markVal;
    this.markMask[n] = spec.markMask;
    const list = t.buckets[bucket & t.mask]!;
    let at = list.length;
    while (at > 0 && this.nodeIds[list[at - 1]!]! > nodeId) at--;
    list.splice(at, 0, n);
    return n;
  }

  /** Points knode n's link at a table (resolved after all tables exist). */
  setLink(n: number, tableId: number): void {
    this.linkTable[n] = this.tableIndex.get(tableId) ?? -1;
  }

  /** Freezes the key arrays into typed arrays for the classify loop. */
  seal(): void {
    this.kv = Int32Array.from(this.keyVal);
    this.km = Int32Array.from(this.keyMask);
    this.ko = Int32Array.from(this.keyOff);
    this.kom = Int32Array.from(this.keyOffmask);
    this.bucketHeads = this.tableList.map((t) => t.buckets.map((b) => Int32Array.from(b)));
  }

  private bucketHeads: Int32Array[][] = [];

  private grow(): void {
    const n = this.flags.length * 2;
    const g = <T extends Int32Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (len: number) => T)(n);
      b.set(a);
      return b;
    };
    this.keyStart = g(this.keyStart); this.keyCount = g(this.keyCount); this.flags = g(this.flags);
    this.classid = g(this.classid); this.linkTable = g(this.linkTable); this.hmask = g(this.hmask);
    this.hoff = g(this.hoff); this.fshift = g(this.fshift); this.selOff = g(this.selOff);
    this.offOff = g(this.offOff); this.offMask = g(this.offMask); this.offShift = g(this.offShift);
    this.markVal = g(this.markVal); this.markMask = g(this.markMask);
  }

  /**
   * u32_classify from root table `rootId` over the packet bytes head[base .. base+len) (network
   * header onwards). Returns the classid or U32_NO_MATCH. A read past the bytes available ends the
   * classification with no match, as skb_header_pointer failing does. `pktLen` is the packet's
   * length from the network header (for the `eat` end-of-packet check).
   */
  classify(rootId: number, head: Uint8Array, base: number, len: number, mark: number, pktLen: number = len): number {
    let ti = this.tableIndex.get(rootId) ?? -1;
    let walked = 0;
    if (ti < 0) {
      this.lastWalked = 0;
      return U32_NO_MATCH;
    }
    let sel = 0;
    let off = 0;
    let off2 = 0;
    let sdepth = 0;
    let bucket = this.bucketHeads[ti]![0]!;
    let pos = 0;
    for (;;) {
      // next_knode
      if (pos < bucket.length) {
        const n = bucket[pos]!;
        walked++;
        const f = this.flags[n]!;
        if (f & F_MARK && ((mark & this.markMask[n]!) >>> 0) !== this.markVal[n]) {
          pos++;
          continue;
        }
        let matched = true;
        const ks = this.keyStart[n]!;
        const ke = ks + this.keyCount[n]!;
        for (let k = ks; k < ke; k++) {
          const toff = off + this.ko[k]! + (off2 & this.kom[k]!);
          if (toff < 0 || toff + 4 > len) {
            this.lastWalked = walked;
            return U32_NO_MATCH;
          }
          const p = base + toff;
          const word = (head[p]! << 24) | (head[p + 1]! << 16) | (head[p + 2]! << 8) | head[p + 3]!;
          if ((word ^ this.kv[k]!) & this.km[k]!) {
            matched = false;
            break;
          }
        }
        if (!matched) {
          pos++;
          continue;
        }
        const link = this.linkTable[n]!;
        if (link < 0) {
          if (f & F_TERMINAL) {
            this.lastWalked = walked;
            return this.classid[n]!;
          }
          pos++;
          continue;
        }
        // PUSH
        if (sdepth >= MAXDEPTH) {
          this.lastWalked = walked;
          return U32_NO_MATCH;
        }
        this.stackNode[sdepth] = pos;
        this.stackOff[sdepth] = off;
        this.stackTable[sdepth] = ti;
        this.stackBucket[sdepth] = bucket;
        sdepth++;
        const down = this.tableList[link]!;
        sel = 0;
        if (down.mask !== 0) {
          const hp = off + this.hoff[n]!;
          if (hp < 0 || hp + 4 > len) {
            this.lastWalked = walked;
            return U32_NO_MATCH;
          }
          const p = base + hp;
          const word = ((head[p]! << 24) | (head[p + 1]! << 16) | (head[p + 2]! << 8) | head[p + 3]!) >>> 0;
          sel = down.mask & (((word & this.hmask[n]!) >>> 0) >>> this.fshift[n]!);
        }
        if (f & (F_OFFSET | F_VAROFFSET | F_EAT)) {
          if (f & (F_OFFSET | F_VAROFFSET)) {
            off2 = this.selOff[n]! + 3;
            if (f & F_VAROFFSET) {
              const op = off + this.offOff[n]!;
              if (op < 0 || op + 2 > len) {
                this.lastWalked = walked;
                return U32_NO_MATCH;
              }
              const half = (head[base + op]! << 8) | head[base + op + 1]!;
              off2 += (half & this.offMask[n]!) >>> this.offShift[n]!;
            }
            off2 &= ~3;
          }
          if (f & F_EAT) {
            off += off2;
            off2 = 0;
          }
          if (off >= pktLen) {
            // Offset past the packet: pop straight back to this knode (check_terminal).
            sdepth--;
            off = this.stackOff[sdepth]!;
            if (f & F_TERMINAL) {
              this.lastWalked = walked;
              return this.classid[n]!;
            }
            pos++;
            continue;
          }
        }
        ti = link;
        bucket = this.bucketHeads[ti]![sel]!;
        pos = 0;
        continue;
      }
      // Bucket exhausted: POP to the knode that linked here.
      if (sdepth === 0) {
        this.lastWalked = walked;
        return U32_NO_MATCH;
      }
      sdepth--;
      ti = this.stackTable[sdepth]!;
      off = this.stackOff[sdepth]!;
      bucket = this.stackBucket[sdepth]!;
      pos = this.stackNode[sdepth]!;
      const n = bucket[pos]!;
      // check_terminal
      if (this.flags[n]! & F_TERMINAL) {
        this.lastWalked = walked;
        return this.classid[n]!;
      }
      pos++;
    }
  }

  private readonly stackBucket: Int32Array[] = new Array<Int32Array>(MAXDEPTH).fill(new Int32Array(0));
}
