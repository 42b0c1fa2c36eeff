/**
 * cls_fw, mirroring net/sched/cls_fw.c: one instance (`struct fw_head`) per (parent, prio) holds
 * a mask and HTSIZE hash buckets of filters keyed by mark; `fw_classify` hashes the masked mark with
 * `fw_hash` and walks that bucket's chain. The kernel hard-codes HTSIZE 256; here it is a parameter
 * (default 256) so that "what if the table were bigger" can be asked.
 *
 * Flat typed arrays: bucket heads, and per filter its id, classid and next index. New filters go to
 * the head of their chain, as fw_change links them.
 */

export const FW_DEFAULT_HTSIZE = 256;
export const FW_NO_MATCH = -1;

/** fw_hash: fold the upper bytes into the lower ones, then reduce modulo the table size. */
export function fwHash(handle: number, htsize: number = FW_DEFAULT_HTSIZE): number {
  let h = handle >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = (h ^ (h >>> 8)) >>> 0;
  return h % htsize;
}

export class FwInstance {
  readonly htsize: number;
  /** head->mask (0xFFFFFFFF unless the filters gave `handle V/MASK`). */
  mask = 0xffffffff;
  /** false: an instance with no head (a filter added without handle): the "old method". */
  hasHead = false;
  private readonly heads: Int32Array;
  private ids: Uint32Array;
  private classids: Uint32Array;
  private nexts: Int32Array;
  private count = 0;
  /** Chain entries compared by the last classify call. */
  lastWalked = 0;

  constructor(htsize: number = FW_DEFAULT_HTSIZE) {
    if (!Number.isInteger(htsize) || htsize < 1) throw new RangeError(`HTSIZE must be a positive integer, got ${htsize}`);
    this.htsize = htsize;
    this.heads = new Int32Array(htsize).fill(-1);
    this.ids = new Uint32Array(16);
    this.classids = new Uint32Array(16);
    this.nexts = new Int32Array(16);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a filter `handle id[/mask] fw classid X` (fw_change → fw_set_parms; replaces an equal id). */
  add(id: number, classid: number): void {
    this.hasHead = true;
    const b = fwHash(id, this.htsize);
    for (let f = this.heads[b]!; f >= 0; f = this.nexts[f]!) {
      if (this.ids[f] === id >>> 0) {
        this.classids[f] = classid;
        return;
      }
    }
    if (this.count === this.ids.length) {
      const grow = <T extends Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const n = make(a.length * 2);
        n.set(a);
        return n;
      };
      this.ids = grow(this.ids, (n) => new Uint32Array(n));
      this.classids = grow(this.classids, (n) => new Uint32Array(n));
      this.nexts = grow(this.nexts, (n) => new Int32Array(n));
    }
    const f = this.count++;
    this.ids[f] = id >>> 0;
    this.classids[f] = classid >>> 0;
    this.nexts[f] = this.heads[b]!;
    this.heads[b] = f;
  }

  /** Length of each bucket's chain (for the "chains of ceil(N/HTSIZE)" question). */
  chainLengths(): Uint32Array {
    const out = new Uint32Array(this.htsize);
    for (let b = 0; b < this.htsize; b++) for (let f = this.heads[b]!; f >= 0; f = this.nexts[f]!) out[b]!++;
    return out;
  }

  /**
   * fw_classify: the classid for `mark`, or FW_NO_MATCH (-1: the next filter runs). `qdiscMajor`
   * is the qdisc handle's major (for the old method). Sets `lastWalked`.
   */
  classify(mark: number, qdiscMajor: number): number {
    let id = mark >>> 0;
    if (this.hasHead) {
      id = (id & this.mask) >>> 0;
      let walked = 0;
      for (let f = this.heads[fwHash(id, this.htsize)]!; f >= 0; f = this.nexts[f]!) {
        walked++;
        if (this.ids[f] === id) {
          this.lastWalked = walked;
          return this.classids[f]!;
        }
      }
      this.lastWalked = walked;
      return FW_NO_MATCH;
    }
    this.lastWalked = 0;
    // Old method: the mark is the classid when its major is 0 or the qdisc's.
    if (id !== 0 && ((id & 0xffff0000) === 0 || ((id ^ qdiscMajor) & 0xffff0000) === 0)) return id;
    return FW_NO_MATCH;
  }
}
